//! The engines' four programs as a user meets them: `--help`, `--version`,
//! a bad option. (Their behaviour is tested by the product's own tests,
//! parametrised over the engines: tests/*.rs at the workspace root. This
//! file also makes cargo build the programs for those tests: a package's
//! binaries are built when one of its integration tests is.)

use std::process::Command;

const PROGRAMS: [(&str, &str); 4] = [
    ("server-evloop", env!("CARGO_BIN_EXE_server-evloop")),
    ("client-evloop", env!("CARGO_BIN_EXE_client-evloop")),
    ("server-tokio", env!("CARGO_BIN_EXE_server-tokio")),
    ("client-tokio", env!("CARGO_BIN_EXE_client-tokio")),
];

#[test]
fn every_engine_program_has_help_a_version_and_rejects_unknown_options() {
    let dir = std::env::temp_dir().join(format!("mass_connect-engines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(&config, r#"{"server_port_list": "1"}"#).unwrap();
    let config = config.to_str().unwrap();
    for (name, path) in PROGRAMS {
        let help = Command::new(path).arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(help.status.success(), "{name}");
        assert!(
            text.contains("--threads N") && text.contains("--config PATH"),
            "{name}: {text}"
        );
        let version = Command::new(path).arg("--version").output().unwrap();
        let text = String::from_utf8_lossy(&version.stdout);
        assert!(text.starts_with(&format!("{name} ")), "{name}: {text}");
        let bad = Command::new(path)
            .args(["--config", config, "--no-such-option"])
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2), "{name}");
        let text = String::from_utf8_lossy(&bad.stderr);
        assert!(
            text.contains("unknown option --no-such-option"),
            "{name}: {text}"
        );
        let bad = Command::new(path)
            .args(["--threads", "0"])
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2), "{name}");
    }
}
