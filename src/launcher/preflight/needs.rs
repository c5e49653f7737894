//! The arithmetic: what a layout needs on its host, per process and in
//! all (the table in `preflight`'s documentation), from the config alone.

use std::net::SocketAddr;

use crate::config::Config;

/// Descriptors a process holds beyond its links and pipes.
const SPARE_FILES: u64 = 16;
/// A server's threads beyond its links: acceptor (main), store, stdin watch.
const SERVER_THREADS: u64 = 3;
/// Ops connections (startup's `stats` and `dump`, an omclient) a server may
/// serve at once, each a link thread.
const OPS_LINKS: u64 = 4;
/// startup's threads beyond one proxy per child: main, Ctrl-C handler.
const STARTUP_THREADS: u64 = 2;
/// Servers startup asks at once at the end (`ops::connection::ask_each`),
/// one thread and one connection each.
const ASK_AT_ONCE: u64 = 32;

/// The layout startup is about to run on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Client processes on this host (N).
    pub(crate) clients: u64,
    /// Servers in the whole config (S): every client links to each.
    pub(crate) servers: u64,
    /// Server processes on this host (P).
    pub(crate) local_servers: u64,
    /// Hosts whose clients link to a server here (H): every host in
    /// `server_ip_list` runs N clients. Clients-only hosts add more.
    pub(crate) client_hosts: u64,
}

impl Layout {
    /// This host's layout under `config`, running `local_servers`.
    pub(crate) fn new(config: &Config, local_servers: &[SocketAddr]) -> Layout {
        Layout {
            clients: u64::from(config.client_num_per_host),
            servers: config.all_servers().len() as u64,
            local_servers: local_servers.len() as u64,
            client_hosts: config.server_ip_list.len() as u64,
        }
    }

    /// Links each server here serves.
    fn server_links(&self) -> u64 {
        self.client_hosts * self.clients
    }

    pub(super) fn describe(&self) -> String {
        let hosts = match self.client_hosts {
            0 | 1 => String::new(),
            h => format!(", each linked from {h} hosts' clients"),
        };
        format!(
            "{} clients x {} servers ({} of them on this host{hosts})",
            self.clients, self.servers, self.local_servers
        )
    }
}

/// What one process of a kind needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Process {
    /// Open files (descriptors).
    pub(crate) files: u64,
    /// Threads.
    pub(crate) threads: u64,
}

/// What a layout needs on its host, with the sums the messages quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Each client process.
    pub(crate) client: Process,
    /// Each server process.
    pub(crate) server: Process,
    /// startup itself.
    pub(crate) startup: Process,
    /// Processes: startup, its servers and clients.
    pub(crate) processes: u64,
    /// Open files of all of them together.
    pub(crate) files: u64,
    /// Threads of all of them together.
    pub(crate) threads: u64,
    /// Local ports towards one server address (Linux): one per client.
    pub(crate) ports_per_address: u64,
    /// Outgoing connections from this host, each a local port on Windows.
    pub(crate) connections: u64,
    /// The process that needs the most open files: who, how many, and the
    /// sum that makes the figure.
    pub(crate) most_files: (&'static str, u64, String),
    /// `startup 108 + 3 servers x 107 + 100 clients x 4`: the sums behind
    /// `files` and `threads`.
    pub(crate) files_sum: String,
    /// See `files_sum`.
    pub(crate) threads_sum: String,
}

impl Needs {
    /// The needs of `layout` (the table in this module's documentation).
    pub(crate) fn of(layout: &Layout) -> Needs {
        let (n, s, p) = (layout.clients, layout.servers, layout.local_servers);
        let links = layout.server_links();
        let children = n + p;
        let asks = s.min(ASK_AT_ONCE);
        let client = Process {
            files: s + SPARE_FILES,
            threads: s + 1,
        };
        let server = Process {
            files: links + SPARE_FILES,
            threads: links + SERVER_THREADS + OPS_LINKS,
        };
        let startup = Process {
            files: 2 * children + asks + SPARE_FILES,
            threads: children + STARTUP_THREADS + asks,
        };
        let mut needs = Needs {
            client,
            server,
            startup,
            processes: 1 + children,
            files: startup.files + p * server.files + n * client.files,
            threads: startup.threads + p * server.threads + n * client.threads,
            ports_per_address: n,
            connections: n * s,
            most_files: ("startup", 0, String::new()),
            files_sum: String::new(),
            threads_sum: String::new(),
        };
        needs.most_files = needs.most_files(layout);
        needs.files_sum = needs.sum(layout, |p| p.files);
        needs.threads_sum = needs.sum(layout, |p| p.threads);
        needs
    }

    /// The process that needs the most open files: who, how many, the sum.
    fn most_files(&self, layout: &Layout) -> (&'static str, u64, String) {
        let children = layout.clients + layout.local_servers;
        let mut most = (
            "startup",
            self.startup.files,
            format!(
                "2 pipes per child x {children} children + {} ops connections + {SPARE_FILES}",
                layout.servers.min(ASK_AT_ONCE)
            ),
        );
        let server = format!(
            "1 per link x {} links + {SPARE_FILES}",
            layout.server_links()
        );
        let client = format!("{} links + {SPARE_FILES}", layout.servers);
        for (present, who, files, sum) in [
            (
                layout.local_servers > 0,
                "a server",
                self.server.files,
                server,
            ),
            (layout.clients > 0, "a client", self.client.files, client),
        ] {
            if present && files > most.1 {
                most = (who, files, sum);
            }
        }
        most
    }

    /// `startup 108 + 3 servers x 107 + 100 clients x 4`, for one figure.
    fn sum(&self, layout: &Layout, of: impl Fn(&Process) -> u64) -> String {
        let mut sum = format!("startup {}", of(&self.startup));
        if layout.local_servers > 0 {
            sum += &format!(" + {} servers x {}", layout.local_servers, of(&self.server));
        }
        if layout.clients > 0 {
            sum += &format!(" + {} clients x {}", layout.clients, of(&self.client));
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::layout;
    use super::*;

    /// (files, threads) of a client, a server and startup.
    fn per_process(needs: &Needs) -> [(u64, u64); 3] {
        [needs.client, needs.server, needs.startup].map(|p| (p.files, p.threads))
    }

    #[test]
    fn needs_of_one_hundred_and_five_thousand_clients() {
        let one = Needs::of(&layout(1, 3));
        // startup: 4 children, so 8 pipe ends, 3 ops connections, 16 spare.
        assert_eq!(per_process(&one), [(19, 4), (17, 8), (27, 9)]);
        assert_eq!((one.processes, one.files, one.threads), (5, 97, 37));
        assert_eq!((one.ports_per_address, one.connections), (1, 3));

        // The seed's layout. Measured at 100 x 3 (debug build, /proc/PID/fd
        // and /task): a client held 8 descriptors and 4 threads, a server
        // 106 and 103 (206 while it cloned each link's socket), startup 211
        // and 105.
        let seed = Needs::of(&layout(100, 3));
        assert_eq!(per_process(&seed), [(19, 4), (116, 107), (225, 108)]);
        assert_eq!((seed.processes, seed.files, seed.threads), (104, 2473, 829));
        assert_eq!((seed.ports_per_address, seed.connections), (100, 300));

        let big = Needs::of(&layout(5000, 3));
        assert_eq!(
            per_process(&big),
            [(19, 4), (5_016, 5_007), (10_025, 5_008)]
        );
        assert_eq!(big.threads, 5_008 + 3 * 5_007 + 5_000 * 4);
        assert_eq!(big.processes, 5_004);
        // startup, with two pipe ends per child, is the largest here.
        let (who, need, sum) = big.most_files;
        assert_eq!((who, need), ("startup", 10_025), "{sum}");
    }

    #[test]
    fn other_hosts_clients_load_this_hosts_servers() {
        // 10 hosts of 100 clients, 4 servers each: this host runs 4 of 40.
        let ten = Layout {
            clients: 100,
            servers: 40,
            local_servers: 4,
            client_hosts: 10,
        };
        let needs = Needs::of(&ten);
        assert_eq!(per_process(&needs)[..2], [(56, 41), (1_016, 1_007)]);
        assert_eq!((needs.ports_per_address, needs.connections), (100, 4_000));
        assert_eq!(needs.most_files.0, "a server");
        // A clients-only host: no server's needs count.
        let clients_only = Layout {
            local_servers: 0,
            ..ten
        };
        let needs = Needs::of(&clients_only);
        assert_eq!(needs.most_files.0, "startup");
    }
}
