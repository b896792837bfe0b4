//! Reaction `panic` inside the closure of dashmap's `alter`: dashmap aborts the
//! process on a panic there, so the finding would die in the queue. mapguard
//! delivers it to the sinks first and says why the process is about to abort.
#![cfg(unix)]

mod common;

use std::os::unix::process::ExitStatusExt as _;
use std::time::Duration;

use mapguard::{
    BacktraceMode, Config, DashMap, FindingKind, JsonLines, ManualClock, Reaction, Rules,
};

/// In a child: findings to the JSON lines file the parent names, reaction panic.
fn install(rules: Rules) {
    let path = std::env::var("MAPGUARD_TEST_JSONL").unwrap();
    Config::new()
        .outputs(vec![])
        .sink(JsonLines::create(&path).unwrap())
        .backtrace(BacktraceMode::Off)
        .reaction(Reaction::Panic)
        .rules(rules)
        .install()
        .unwrap();
}

/// Runs child test `test`, which must abort after saying why; returns the findings
/// its JSON lines file holds.
fn findings_of_aborted_child(test: &str) -> Vec<serde_json::Value> {
    let path = common::scratch_file(test);
    let _ = std::fs::remove_file(&path);
    let mut cmd = common::child_command(test);
    cmd.env("MAPGUARD_TEST_JSONL", &path);
    let o = common::output_within(cmd, Duration::from_secs(120), "the child hung");
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.signal(), Some(6), "aborted\n{out}\n{err}");
    assert!(!out.contains("not reached"), "{out}");
    assert!(
        err.contains("inside the closure of alter or alter_all, where dashmap aborts"),
        "{err}"
    );
    let lines = std::fs::read_to_string(&path).unwrap_or_default();
    lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_reentrant_read_in_alter() {
    install(Rules::ALL);
    let m: DashMap<u64, u64> = DashMap::named("alter-panic")
        .with_clock(ManualClock::new())
        .with_rules(Rules::NONE.with(FindingKind::ReentrantAccess));
    m.insert(1, 1);
    m.alter(&1, |_, v| {
        // A read of the map under alter's write lock: a self-deadlock if it meets
        // the same shard; reaction panic panics here, and dashmap aborts.
        let _ = m.get_cloned(&2);
        v
    });
    println!("not reached");
}

#[test]
fn a_panic_reaction_inside_alter_delivers_the_finding_before_the_abort() {
    let findings = findings_of_aborted_child("child_reentrant_read_in_alter");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["kind"], "reentrant_access");
    assert_eq!(findings[0]["map"], "alter-panic");
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_other_map_in_alter_without_reentrant_access() {
    install(Rules::ALL.without(FindingKind::ReentrantAccess));
    let outer: DashMap<u64, u64> = DashMap::named("outer").with_clock(ManualClock::new());
    let inner: DashMap<u64, u64> = DashMap::named("inner").with_clock(ManualClock::new());
    outer.insert(1, 1);
    common::on("other", || inner.insert(7, 1));
    outer.alter(&1, |_, v| {
        // Another map's concurrent_write, inside alter, with reentrant_access off.
        inner.insert(7, 2);
        v
    });
    println!("not reached");
}

#[test]
fn the_finding_is_delivered_whatever_the_rules_of_the_altered_map() {
    let findings = findings_of_aborted_child("child_other_map_in_alter_without_reentrant_access");
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "concurrent_write" && f["map"] == "inner"),
        "{findings:?}"
    );
}
