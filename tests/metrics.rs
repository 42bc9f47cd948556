//! `/metrics` as a Prometheus user's tools read it: fed to a real parser (Python
//! `prometheus_client`, which names a counter's family without its `_total`, as OpenMetrics
//! does), every family is distinct and has the type it says.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::TestApp;
use serde_json::Value;

/// A Python that has `prometheus_client` (Debian: python3-prometheus-client).
fn python() -> Option<&'static str> {
    let found = ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import prometheus_client"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "prometheus_client is missing and CI=true (apt-get install python3-prometheus-client)"
        );
        eprintln!("skipped: no python3 with prometheus_client");
    }
    found
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
names = [f.name for f in families]
print(json.dumps({"types": {f.name: f.type for f in families},
                  "repeated": sorted({n for n in names if names.count(n) > 1})}))
"#;

#[tokio::test]
async fn metrics_parse_as_distinct_families_of_the_right_types() {
    let Some(py) = python() else {
        return;
    };
    let app = TestApp::spawn();
    let mut ws = app.ws("/ws/chat/metrics/").await;
    ws.send_json(serde_json::json!({"message": "counted"}))
        .await;
    ws.recv_json().await;
    let text = app.metrics().await;
    let mut child = Command::new(py)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the parser refused:\n{text}");
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["repeated"], serde_json::json!([]), "{text}");
    let types = &parsed["types"];
    for (family, kind) in [
        ("hub_connections", "gauge"),
        ("hub_connections_opened", "counter"),
        ("hub_messages_in", "counter"),
        ("hub_deliveries", "counter"),
        ("hub_rooms", "gauge"),
        ("hub_relay_connected", "gauge"),
        ("hub_delivery_latency_seconds", "histogram"),
        ("hub_build_info", "gauge"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert_eq!(types[family], kind, "{family} in {types}");
    }
}
