//! The staging alert in examples/alerting: its rules pass `promtool check rules` and
//! their tests (`promtool test rules`: series that must fire and must not), and they
//! name the metric the way the OpenTelemetry-to-Prometheus translation names
//! mapguard's counter.
//!
//! Without promtool (Debian package `prometheus`) the promtool test prints
//! `SKIPPED: ...` and passes, unless `CI=true`: CI installs it and must not skip.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../alerting")
}

fn promtool() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
}

fn run(tool: &Path, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir())
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_rules_pass_promtool_and_their_tests() {
    let Some(tool) = promtool() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "promtool not found and CI=true: CI must run this test (apt-get install prometheus)"
            );
        }
        skipped(
            "SKIPPED: promtool not found (Debian package prometheus); the alert rule tests did not run",
        );
        return;
    };
    let checked = run(&tool, &["check", "rules", "mapguard.rules.yml"]);
    assert!(checked.contains("SUCCESS: 1 rules found"), "{checked}");
    let tested = run(&tool, &["test", "rules", "mapguard.rules.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// The classic translation (the collector's default, UnderscoreEscapingWithSuffixes):
/// characters outside `[a-zA-Z0-9:]` split the name into tokens joined by `_`; a
/// unit in braces is an annotation and adds no suffix; a monotonic counter ends in
/// `_total`.
fn prometheus_counter_name(otel_name: &str, unit: &str) -> String {
    assert!(
        unit.starts_with('{') && unit.ends_with('}'),
        "annotation unit"
    );
    let mut tokens: Vec<&str> = otel_name
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == ':'))
        .filter(|t| !t.is_empty())
        .collect();
    tokens.retain(|t| *t != "total");
    tokens.push("total");
    tokens.join("_")
}

#[test]
fn the_rules_name_the_translated_counter_and_labels() {
    let rules = std::fs::read_to_string(dir().join("mapguard.rules.yml")).unwrap();
    let metric = prometheus_counter_name(mapguard::otel::FINDINGS, "{finding}");
    assert_eq!(metric, "mapguard_findings_total");
    assert!(
        rules.contains(&format!("increase({metric}[5m])")),
        "{rules}"
    );
    for attr in ["mapguard.finding.kind", "mapguard.map.name"] {
        let label = attr.replace('.', "_");
        assert!(rules.contains(&label), "{label} missing");
    }
    assert_eq!(
        prometheus_counter_name(mapguard::otel::DROPPED, "{finding}"),
        "mapguard_dropped_findings_total"
    );
    assert_eq!(
        prometheus_counter_name(mapguard::otel::DUPLICATES, "{finding}"),
        "mapguard_duplicate_findings_total"
    );
}

/// Says what was skipped where `cargo test` shows it: straight to stderr, past the
/// test harness's capture of `println!`, so a passing run still shows it.
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{why}");
}
