//! Where a run's links go: how many server processes on which loopback
//! addresses, how many client processes, and which server each client
//! link connects to.
//!
//! The sweep's layout is fixed ([`Layout::sweep`]: ten servers on
//! 127.0.0.1, the links in at most ten clients). The wall's
//! ([`Layout::wall`]) is sized from what this machine allows, because at a
//! million links the limits decide the shape:
//!
//! * every link is a socket, so a file descriptor, at each end; one process
//!   may hold no more than its open-files limit (here a hard 20,000 that
//!   even root cannot raise without CAP_SYS_RESOURCE), less a few for its
//!   own pipes, listener and event queues ([`FD_SLACK`]);
//! * a client's connect takes a source port from `ip_local_port_range`
//!   (28,232 ports here), and a link's key is its local `IP:PORT`, so one
//!   source address serves at most that many links at once. Left to the
//!   kernel, every loopback link comes from 127.0.0.1: the first wall run
//!   stalled at 226,532 links that way. So each of the wall's client
//!   processes binds a source address of its own (`--source`, 127.1.x.y,
//!   [`Layout::client_ips`]); the servers each get a destination address
//!   of their own too (127.0.0.k), which spreads the 4-tuples further;
//! * and a client holds no more links than [`usable_ports`] of its
//!   address: under half the range. Linux's search for a free port walks
//!   one parity first (odd ports for a bind to port 0, even ones for a
//!   connect without a bind, so the two kinds of user do not meet), every
//!   port of it, taking a lock per port, before it tries the other. Once a
//!   source address has used its half, every new link's bind walks about
//!   14,000 used ports in the kernel: the second attempt, with one source
//!   address per client and 18,750 links each, crawled at 235,097 links,
//!   16 x 14,116 (docs/img/engines-wall-evloop-bind.txt).

use std::net::Ipv4Addr;

/// Server processes of every sweep point, and the least of servers and
/// of clients the wall runs (main.rs's `SERVERS`). This file stands
/// alone, so that engines/tests/wall_layout.rs can run its tests (the
/// bench has no test harness).
pub const SERVERS: usize = 10;

/// Descriptors each process keeps for things other than links: stdin,
/// stdout and stderr, the listener, an epoll and a waker per loop thread
/// (up to 16 threads), an operations connection, and room to spare.
pub const FD_SLACK: usize = 64;

/// Loopback addresses the servers may use: 127.0.0.1 to 127.0.0.250.
pub const MAX_ADDRS: usize = 250;

/// One run's processes and links.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Links over the whole run.
    pub links: usize,
    /// One address per server process, in start order.
    pub server_ips: Vec<Ipv4Addr>,
    /// Client processes; the links are packed into them evenly.
    pub client_processes: usize,
    /// The source address each client binds (`--source`), in start order;
    /// empty: the OS chooses (the sweep).
    pub client_ips: Vec<Ipv4Addr>,
}

impl Layout {
    /// The sweep's layout: [`SERVERS`] servers on 127.0.0.1, `links`
    /// packed into `client_processes`.
    pub fn sweep(links: usize, client_processes: usize) -> Layout {
        Layout {
            links,
            server_ips: vec![Ipv4Addr::LOCALHOST; SERVERS],
            client_processes,
            client_ips: Vec::new(),
        }
    }

    /// The wall's layout for `links`: enough servers and clients that no
    /// process holds more than `fd_limit - FD_SLACK` links (at least
    /// [`SERVERS`] of each, as in the sweep) and no client more than
    /// [`usable_ports`] of the `ports` its one source address has, the
    /// servers spread round robin over `addrs` destination addresses
    /// 127.0.0.1 to 127.0.0.K (`None`: one per server, up to
    /// [`MAX_ADDRS`]), each client on a source address of its own. `Err`
    /// names the limit when no layout fits.
    pub fn wall(
        links: usize,
        fd_limit: usize,
        addrs: Option<usize>,
        ports: usize,
    ) -> Result<Layout, String> {
        let budget = fd_limit.saturating_sub(FD_SLACK);
        if budget == 0 {
            return Err(format!(
                "open files: a limit of {fd_limit} leaves no descriptors for links \
                 ({FD_SLACK} kept for each process's own)"
            ));
        }
        if addrs.is_some_and(|k| !(1..=MAX_ADDRS).contains(&k)) {
            return Err(format!(
                "--wall-addrs {}: expected 1 to {MAX_ADDRS} loopback addresses",
                addrs.unwrap_or(0)
            ));
        }
        if ports == 0 {
            return Err("ip_local_port_range: no ephemeral ports for the clients".into());
        }
        let clients = links.div_ceil(budget.min(usable_ports(ports))).max(SERVERS);
        if clients > MAX_SOURCES {
            return Err(format!(
                "{links} links need {clients} client processes, more than the \
                 {MAX_SOURCES} source addresses this layout hands out"
            ));
        }
        let mut servers = links.div_ceil(budget).max(SERVERS);
        // Each client spreads its links over the servers from its own
        // offset (`server_of`), so a server may get one more link per
        // client than an even share; add servers until none is over.
        loop {
            let addrs = addrs.unwrap_or(servers).min(MAX_ADDRS);
            let layout = Layout {
                links,
                server_ips: (0..servers).map(|s| loopback(s % addrs)).collect(),
                client_processes: clients,
                client_ips: (0..clients).map(source).collect(),
            };
            if layout.links_per_server().into_iter().max().unwrap_or(0) <= budget {
                return Ok(layout);
            }
            servers += 1;
        }
    }

    pub fn servers(&self) -> usize {
        self.server_ips.len()
    }

    /// Links of client process `i`: an even share, the first ones one more.
    pub fn links_of_client(&self, i: usize) -> usize {
        let n = self.client_processes.max(1);
        self.links / n + usize::from(i < self.links % n)
    }

    /// The server (its index) of link `k` of client process `i`: each
    /// client goes round the servers starting at its own index, so the
    /// clients' first links do not all land on server 0.
    pub fn server_of(&self, i: usize, k: usize) -> usize {
        (i + k) % self.servers()
    }

    /// How many links each server gets ([`Layout::server_of`], counted
    /// without walking every link).
    pub fn links_per_server(&self) -> Vec<usize> {
        let s = self.servers();
        let mut per = vec![0; s];
        for i in 0..self.client_processes {
            let m = self.links_of_client(i);
            for (server, n) in per.iter_mut().enumerate() {
                // Of k in 0..m, those with (i + k) % s == server: every
                // full round of s, plus one if its turn comes in the rest.
                let turn = (server + s - i % s) % s;
                *n += m / s + usize::from(turn < m % s);
            }
        }
        per
    }

    /// Distinct destination addresses.
    pub fn addrs(&self) -> usize {
        let mut ips = self.server_ips.clone();
        ips.sort_unstable();
        ips.dedup();
        ips.len()
    }
}

/// 127.0.0.(i + 1).
fn loopback(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, (i + 1) as u8)
}

/// Links one source address holds before the kernel's port search slows
/// to a walk of the whole used half (see the module's notes): nine tenths
/// of half of `ports`, so a bind still finds a free port within a few
/// dozen tries.
pub fn usable_ports(ports: usize) -> usize {
    (ports / 2 * 9 / 10).max(1)
}

/// Source addresses the clients may use: 127.1.0.1 up, 250 to a /24.
pub const MAX_SOURCES: usize = 250 * 256;

/// Client `i`'s source address: 127.1.(i / 250).(i % 250 + 1), apart from
/// every server's 127.0.0.k.
fn source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8)
}
