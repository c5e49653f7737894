//! The wall's layout arithmetic (engines/benches/engines/layout.rs), run
//! here because the bench has no test harness: no process holds more
//! links than its descriptors allow, no client more than its source
//! address has ephemeral ports, and no destination needs more source ports
//! than the range has.

// The bench uses the parts these tests do not.
#[allow(dead_code)]
#[path = "../benches/engines/layout.rs"]
mod layout;

use layout::{FD_SLACK, Layout, SERVERS, usable_ports};

/// `ip_local_port_range` 32768-60999, Linux's default.
const PORTS: usize = 60_999 - 32_768 + 1;

/// Walks every link, as the bench hands them out.
fn walked(l: &Layout) -> Vec<usize> {
    let mut per = vec![0; l.servers()];
    for i in 0..l.client_processes {
        for k in 0..l.links_of_client(i) {
            per[l.server_of(i, k)] += 1;
        }
    }
    per
}

#[test]
fn the_sweep_keeps_ten_servers_on_one_address() {
    let l = Layout::sweep(1_000, 10);
    assert_eq!((l.servers(), l.addrs()), (10, 1));
    assert_eq!(l.links_per_server(), vec![100; 10]);
}

#[test]
fn no_process_holds_more_links_than_its_descriptors_allow() {
    for (links, limit) in [
        (1_000_000, 20_000),
        (300_000, 20_000),
        (100_000, 20_000),
        (20_000, 20_000),
        (999_983, 20_000),
        (1_000_000, 1_024),
        (5, 20_000),
    ] {
        let l = Layout::wall(links, limit, None, PORTS).expect("a layout");
        let budget = limit - FD_SLACK;
        assert_eq!(l.links_per_server(), walked(&l), "{links} links");
        assert!(l.links_per_server().iter().all(|n| *n <= budget));
        assert!((0..l.client_processes).all(|i| l.links_of_client(i) <= budget));
        let total: usize = (0..l.client_processes).map(|i| l.links_of_client(i)).sum();
        assert_eq!(total, links);
        assert!(l.servers() >= SERVERS && l.client_processes >= SERVERS);
    }
    let l = Layout::wall(1_000_000, 20_000, Some(36), PORTS).unwrap();
    // Servers: 1,000,000 / 19,936 descriptors = 50.2, so 51; clients:
    // 1,000,000 / 12,704 usable ports = 78.7, so 79.
    assert_eq!((l.servers(), l.client_processes), (51, 79));
}

#[test]
fn no_destination_needs_more_source_ports_than_the_range_has() {
    let ports = PORTS;
    for links in [20_000, 100_000, 300_000, 1_000_000] {
        let l = Layout::wall(links, 20_000, None, PORTS).unwrap();
        let per = l.links_per_server();
        // Per (address, port): one server each.
        assert!(per.iter().all(|n| *n <= ports));
        // Per address, all its servers' links together.
        let mut per_addr = std::collections::HashMap::new();
        for (s, n) in per.iter().enumerate() {
            *per_addr.entry(l.server_ips[s]).or_insert(0) += n;
        }
        assert!(
            per_addr.values().all(|n| *n <= ports),
            "{links}: {per_addr:?}"
        );
        assert_eq!(l.addrs(), l.servers());
    }
}

#[test]
fn a_layout_that_cannot_fit_names_the_limit() {
    let e = Layout::wall(10, 64, None, PORTS).unwrap_err();
    assert!(e.contains("open files"), "{e}");
    assert!(Layout::wall(10, 20_000, Some(0), PORTS).is_err());
    let e = Layout::wall(10, 20_000, None, 0).unwrap_err();
    assert!(e.contains("ip_local_port_range"), "{e}");
}

#[test]
fn each_client_has_a_source_address_of_its_own_and_ports_enough() {
    // A raised open-files limit (a million) leaves the ports to decide:
    // no client may hold more links than its address's usable ports, under
    // the half of the range the kernel searches first.
    for (links, limit, ports) in [
        (1_000_000, 20_000, PORTS),
        (1_000_000, 1_000_000, PORTS),
        (100_000, 1_000_000, 1_000),
    ] {
        let l = Layout::wall(links, limit, None, ports).unwrap();
        assert_eq!(l.client_ips.len(), l.client_processes);
        let mut ips = l.client_ips.clone();
        ips.sort_unstable();
        ips.dedup();
        assert_eq!(ips.len(), l.client_processes, "one address per client");
        assert!(
            ips.iter()
                .all(|ip| ip.is_loopback() && !l.server_ips.contains(ip))
        );
        let usable = usable_ports(ports);
        assert!(usable < ports / 2);
        assert!((0..l.client_processes).all(|i| l.links_of_client(i) <= usable));
    }
    // 100,000 links with 1,000 ports per address, 450 usable: 223 clients.
    let l = Layout::wall(100_000, 1_000_000, None, 1_000).unwrap();
    assert_eq!(l.client_processes, 223);
    // Linux's default range: 12,704 links per address, so a million links
    // take 79 clients.
    assert_eq!(usable_ports(PORTS), 12_704);
    let l = Layout::wall(1_000_000, 20_000, None, PORTS).unwrap();
    assert_eq!(l.client_processes, 79);
    // The sweep lets the OS choose.
    assert!(Layout::sweep(1_000, 10).client_ips.is_empty());
}
