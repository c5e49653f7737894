//! The server end of a link, as in both layouts: listen, accept forever,
//! and echo 32-byte messages back from one thread per connection.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use mass_connect::sys::affinity::pin_current_thread;

use super::{IDLE_TIMEOUT, IO_TIMEOUT, MSG, STACK};

pub fn listen(port: u16) -> Result<TcpListener, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .map_err(|e| format!("cannot listen on port {port}: {e}"))
}

/// One server: accepts forever, one `serve` thread per connection.
pub fn accept_loop(listener: &TcpListener, port: u16, cpu: Option<usize>) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, most likely: back off instead of spinning.
                eprintln!("pingpong server {port}: accept: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let spawned = thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || serve(stream, cpu));
        if let Err(e) = spawned {
            eprintln!("pingpong server {port}: cannot start a link thread: {e}");
        }
    }
}

fn serve(mut stream: TcpStream, cpu: Option<usize>) {
    // The same settings as the system's server link threads: the normal
    // rank, pinned the same way.
    if let Some(cpu) = cpu {
        // Linux threads inherit the acceptor's mask; Windows threads do not.
        pin_current_thread(cpu);
    }
    if stream.set_nodelay(true).is_err()
        || stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(IO_TIMEOUT)).is_err()
    {
        return;
    }
    let mut buf = [0u8; MSG];
    while stream.read_exact(&mut buf).is_ok() && stream.write_all(&buf).is_ok() {}
}
