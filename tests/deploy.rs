//! The shipped deployment files hold what they promise: the systemd unit is hardened
//! (`systemd-analyze security` rates it 3.0 or better, offline, without starting it).

use std::process::Command;

#[test]
fn the_systemd_unit_is_hardened() {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "systemd-analyze is missing and CI=true (apt-get install systemd)"
        );
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let unit = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/systemd/realtime-hub.service"
    );
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager", unit])
        .output()
        .expect("run systemd-analyze");
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for realtime-hub.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(level <= 3.0, "exposure {level} > 3.0:\n{text}");
    // Where the service keeps its state is where it may write, and nothing else.
    let unit_text = std::fs::read_to_string(unit).unwrap();
    for line in [
        "DynamicUser=yes",
        "StateDirectory=realtime-hub",
        "ProtectSystem=strict",
    ] {
        assert!(unit_text.contains(line), "{line} missing");
    }
}
