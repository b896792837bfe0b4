//! mapguard's own messages when stderr cannot be written (a closed log pipe, a full
//! disk): each case re-runs this test binary as a child with stderr on `/dev/full`,
//! where every write fails with ENOSPC, and checks what the child printed on stdout.
//! `eprintln!` panics on such a failure; mapguard must not.
#![cfg(target_os = "linux")]

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use mapguard::{Config, DashMap, ManualClock, Output, Reaction};

mod common;

/// Runs `test` (an ignored child test of this file) with `env`; stderr goes to
/// `/dev/full` if `full`, else nowhere. Returns the child's stdout.
fn child(test: &str, env: &[(&str, &str)], full: bool) -> String {
    let mut cmd = common::child_command(test);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if full {
        let dev_full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        cmd.stderr(dev_full);
    } else {
        cmd.stderr(Stdio::null());
    }
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "run as a child by the tests in this file"]
fn child_bad_env() {
    let m: DashMap<u64, u64> = DashMap::named("m");
    for i in 0..3 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.insert(i, i)));
        println!(
            "RESULT op{i} panicked={} enabled={}",
            r.is_err(),
            mapguard::is_enabled()
        );
    }
}

/// A bad `MAPGUARD` value is reported on stderr at the first access; when that
/// write fails, the access must still go on with the guard off (it panicked, and
/// so did every later access, as the settings were never marked read).
#[test]
fn a_bad_setting_with_stderr_full_leaves_the_guard_off_without_panicking() {
    let out = child("child_bad_env", &[("MAPGUARD", "yes")], true);
    for i in 0..3 {
        assert!(
            out.contains(&format!("RESULT op{i} panicked=false enabled=false")),
            "{out}"
        );
    }
}

#[test]
#[ignore = "run as a child by the tests in this file"]
fn child_two_sinks() {
    let path = std::env::var("JSONL").unwrap();
    Config::new()
        .outputs(vec![Output::Stderr, Output::JsonLines(path.clone().into())])
        .install()
        .unwrap();
    for name in ["one", "two", "three"] {
        let m: DashMap<u64, u64> = DashMap::named(name).with_clock(ManualClock::new());
        common::conflict(&m);
        println!(
            "RESULT flush_ok={}",
            mapguard::flush_timeout(Duration::from_secs(10))
        );
    }
    let lines = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .count();
    println!("RESULT jsonl_lines={lines}");
}

/// The `Stderr` sink fails on every finding; the reporter says so once on stderr.
/// That message failing too killed the reporter thread, so the JSON lines sink
/// got nothing and every flush timed out.
#[test]
fn a_failing_stderr_sink_leaves_the_other_sinks_working() {
    let path = common::scratch_file("stderr-full");
    let out = child(
        "child_two_sinks",
        &[("JSONL", path.to_str().unwrap())],
        true,
    );
    assert_eq!(out.matches("RESULT flush_ok=true").count(), 3, "{out}");
    assert!(out.contains("RESULT jsonl_lines=3"), "{out}");
    let _ = std::fs::remove_file(&path);
}

#[test]
#[ignore = "run as a child by the tests in this file"]
fn child_panicking_callback() {
    Config::new()
        .outputs(vec![])
        .reaction(Reaction::Call(Arc::new(|_| panic!("user callback"))))
        .install()
        .unwrap();
    let m: DashMap<u64, u64> = DashMap::named("cb").with_clock(ManualClock::new());
    m.insert(1, 1);
    let r = std::thread::spawn(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.insert(1, 2))).is_ok()
    })
    .join()
    .unwrap();
    println!("RESULT insert_ok={r}");
}

/// A callback that panics is caught, and mapguard notes it once on stderr; that
/// note failing panicked inside the user's `insert`.
#[test]
fn a_panicking_callback_with_stderr_full_does_not_panic_the_users_call() {
    let out = child("child_panicking_callback", &[], true);
    assert!(out.contains("RESULT insert_ok=true"), "{out}");
}
