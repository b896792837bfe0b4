//! A child forked after its parent made a finding starts with an empty dedup table:
//! once the child installs its own `Config`, the same finding made in the child is
//! new to the child's reporter and reaches the child's sinks.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use mapguard::{DashMap, ManualClock, Memory};

/// The same finding (kind, map name, call sites) wherever it is called.
fn conflict() {
    common::conflict(&DashMap::named("shared-cache").with_clock(ManualClock::new()));
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_fork_after_finding() {
    let parent = Memory::new();
    common::install_into(&parent);
    conflict();
    assert!(mapguard::flush_timeout(Duration::from_secs(60)));
    println!("parent findings={}", parent.findings().len());
    // At the fork: one test thread; the parent's finding was flushed.
    common::fork_and_wait(|| {
        let child = Memory::new();
        common::install_into(&child);
        conflict();
        conflict();
        let flushed = mapguard::flush_timeout(Duration::from_secs(60));
        println!(
            "child findings={} flush={flushed} stats={:?}",
            child.findings().len(),
            mapguard::stats()
        );
    });
}

#[test]
fn a_child_reports_a_finding_its_parent_had_made() {
    let (out, err) = common::run_child("child_fork_after_finding");
    assert!(out.contains("parent findings=1"), "{out}\n{err}");
    assert!(out.contains("child findings=1 flush=true"), "{out}\n{err}");
}
