//! Arbitrary text against the config loader, and against what startup
//! derives from a loaded config before it starts anything.
//!
//! * `Config::from_json` never panics, and a refusal always says something;
//! * an accepted config keeps the promises the rest of the code relies on
//!   (at least one server, no port 0 or twice, the cross-key rules);
//! * an accepted config, written back as JSON (`omclient config` shows it
//!   that way), loads again to the same config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mass_connect::Config;

fuzz_target!(|data: &[u8]| {
    // A config file that is not UTF-8 is refused by `Config::load` before
    // parsing, so only text reaches `from_json`.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_json(text) {
        Err(e) => assert!(!e.to_string().trim().is_empty()),
        Ok(config) => check_accepted(&config),
    }
});

fn check_accepted(c: &Config) {
    assert!(!c.server_ip_list.is_empty() && !c.server_port_list.is_empty());
    assert!(c.server_ip_list.iter().all(|ip| !ip.is_unspecified()));
    assert!(c.server_port_list.iter().all(|&p| p != 0));
    let mut ports = c.server_port_list.clone();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), c.server_port_list.len(), "a port listed twice");
    assert!(c.reconnect_initial_ms <= c.reconnect_max_ms);
    assert!(c.update_intervals >= 1);

    // What startup and the clients compute from it.
    assert_eq!(
        c.all_servers().len(),
        c.server_ip_list.len() * c.server_port_list.len()
    );
    let _ = c.links_per_host();
    assert!(c.per_link_rate().is_finite());
    assert!(c.thread_stack_bytes() >= 16 * 1024);
    let _ = c.interval();
    for name in [&c.server_app_name, &c.client_app_name] {
        let file = Config::program_file_name(name);
        assert!(file.ends_with(std::env::consts::EXE_SUFFIX));
    }

    // The secret is never written out, so the round trip starts without it.
    let json = serde_json::to_string(c).expect("a config serializes");
    let again = Config::from_json(&json)
        .unwrap_or_else(|e| panic!("a config's own JSON is refused: {e}\n{json}"));
    let json_again = serde_json::to_string(&again).expect("a config serializes");
    assert_eq!(json, json_again);
}
