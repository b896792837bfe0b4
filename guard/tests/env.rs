//! The environment switch, as a user meets it: each case re-runs this test binary
//! as a child process with `MAPGUARD*` set, runs one `#[ignore]`d child test there,
//! and checks what the child printed and how it exited.

use std::process::{Command, Output};

use mapguard::{DashMap, ManualClock};

mod common;

fn child(test: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = common::child_command(test);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What every child does: two named threads write the same key.
fn two_writers() {
    let map: DashMap<u64, u64> = DashMap::named("env-orders").with_clock(ManualClock::new());
    for name in ["writer-a", "writer-b"] {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn_scoped(s, || map.insert(1, 1))
                .unwrap()
                .join()
                .unwrap();
        });
    }
    mapguard::flush();
}

#[test]
#[ignore = "run as a child by the tests in this file"]
fn child_two_writers() {
    two_writers();
}

#[test]
#[ignore = "run as a child by the tests in this file"]
fn child_reports_state() {
    two_writers();
    println!(
        "enabled={} operations={} threads={:?}",
        mapguard::is_enabled(),
        mapguard::stats().operations,
        mapguard_threads()
    );
}

/// Names of this process's threads that mapguard started (Linux: /proc).
fn mapguard_threads() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return vec!["unknown".into()];
    };
    let mut names: Vec<String> = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| n.starts_with("mapguard"))
        .collect();
    names.sort();
    names
}

#[test]
fn on_reports_to_stderr_like_a_race_report() {
    let o = child("child_two_writers", &[("MAPGUARD", "on")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("mapguard: concurrent_write on map \"env-orders\""),
        "{err}"
    );
    assert!(
        err.contains("\"writer-a\"") && err.contains("\"writer-b\""),
        "{err}"
    );
    assert!(err.contains("guard/tests/env.rs:"), "{err}");
    assert!(err.contains("ms earlier"), "{err}");
}

#[test]
fn unset_means_off_and_nothing_is_recorded() {
    let o = child("child_reports_state", &[]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("enabled=false operations=0"), "{out}");
    assert!(out.contains("threads=[]"), "off starts no thread: {out}");
    assert!(!stderr(&o).contains("mapguard"), "{}", stderr(&o));
    let o = child("child_reports_state", &[("MAPGUARD", "on")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("threads=[\"mapguard-clock\", \"mapguard-report\"]"),
        "on: the clock and the reporter (thread names are cut to 15 bytes): {out}"
    );
    let o = child("child_reports_state", &[("MAPGUARD", "off")]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("enabled=false operations=0"));
}

#[test]
fn a_bad_value_is_one_clear_line_and_the_guard_stays_off() {
    for (var, value, accepted) in [
        ("MAPGUARD", "yes", "off, on, panic"),
        ("MAPGUARD_WINDOW_MS", "soon", "1 to 3600000"),
        ("MAPGUARD_SCOPE", "shard", "map, key"),
        ("MAPGUARD_RULES", "races", "concurrent_write"),
        ("MAPGUARD_OUTPUT", "syslog", "jsonl:PATH"),
        ("MAPGUARD_KEY_HASH", "hidden", "per_process, stable"),
    ] {
        let mut env = vec![("MAPGUARD", "on")];
        env.retain(|(k, _)| *k != var);
        env.push((var, value));
        let o = child("child_reports_state", &env);
        assert!(o.status.success(), "never panics: {}", stderr(&o));
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("mapguard:")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(
            lines[0].contains(var) && lines[0].contains(value),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains(accepted), "{}", lines[0]);
        assert!(lines[0].ends_with("the guard stays off"), "{}", lines[0]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("enabled=false operations=0"), "{out}");
    }
}

#[test]
fn panic_mode_panics_on_the_finding_thread() {
    let o = child("child_two_writers", &[("MAPGUARD", "panic")]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("mapguard: concurrent_write on map \"env-orders\""),
        "{err}"
    );
}

#[test]
fn output_goes_to_json_lines_and_settings_are_read() {
    // Named for this process: test processes running at once never share it.
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("env-output-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let out = format!("jsonl:{}", path.display());
    let o = child(
        "child_two_writers",
        &[
            ("MAPGUARD", "on"),
            ("MAPGUARD_OUTPUT", &out),
            ("MAPGUARD_WINDOW_MS", "250"),
            ("MAPGUARD_SCOPE", "key"),
            ("MAPGUARD_BACKTRACE", "off"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("concurrent_write"),
        "stderr was not asked for"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["kind"], "concurrent_write");
    assert_eq!(v["window_ms"], 250);
    assert_eq!(v["scope"], "key");
    assert!(v["accesses"][1]["backtrace"].is_null());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn rules_can_be_chosen_globally() {
    let o = child(
        "child_two_writers",
        &[
            ("MAPGUARD", "on"),
            ("MAPGUARD_RULES", "lost_update,reentrant_access"),
        ],
    );
    assert!(o.status.success());
    assert!(!stderr(&o).contains("concurrent_write"), "{}", stderr(&o));
}

/// A value with bytes that are not UTF-8 is an error naming the variable; it was
/// taken as unset (`MAPGUARD=on\xff` silently off, a `jsonl:` path dropped).
#[cfg(unix)]
#[test]
fn a_value_that_is_not_utf8_is_named_not_taken_as_unset() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    for (var, value) in [("MAPGUARD", &b"on\xff"[..]), ("MAPGUARD_SCOPE", b"key\xff")] {
        let mut cmd = common::child_command("child_reports_state");
        cmd.env("MAPGUARD", "on").env(var, OsStr::from_bytes(value));
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "never panics: {}", stderr(&o));
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("mapguard:")).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(
            lines[0].contains(var) && lines[0].contains("UTF-8"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("the guard stays off"), "{}", lines[0]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("enabled=false operations=0"), "{out}");
    }
}

/// The `key hash` line of the one finding `child_two_writers` reports (key 1).
fn reported_key_hash(env: &[(&str, &str)]) -> String {
    let o = child("child_two_writers", env);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let line = err.lines().find_map(|l| l.trim().strip_prefix("key hash "));
    line.unwrap_or_else(|| panic!("no key hash in: {err}"))
        .to_owned()
}

/// By default a report's key hash is keyed per process: a key cannot be found by
/// hashing candidates with the public seed, and two runs show different hashes.
/// `MAPGUARD_KEY_HASH=stable` shows the public hash, the same in every run.
#[test]
fn the_key_hash_in_reports_is_per_process_unless_stable_is_asked_for() {
    use std::hash::BuildHasher as _;
    let public = format!(
        "{:016x}",
        foldhash::fast::FixedState::with_seed(0x082e_fa98_ec4e_6c89).hash_one(1u64) | 1 << 30
    );
    let a = reported_key_hash(&[("MAPGUARD", "on")]);
    let b = reported_key_hash(&[("MAPGUARD", "on"), ("MAPGUARD_KEY_HASH", "per_process")]);
    assert_eq!(a.len(), 16, "{a}");
    assert_ne!(a, public, "the public hash of key 1 must not appear");
    assert_ne!(b, public);
    assert_ne!(a, b, "a new random key per process");
    for _ in 0..2 {
        let stable = reported_key_hash(&[("MAPGUARD", "on"), ("MAPGUARD_KEY_HASH", "stable")]);
        assert_eq!(stable, public);
    }
}

#[test]
#[ignore = "run as a child by the tests in this file"]
fn child_first_insert() {
    let map: DashMap<u64, u64> = DashMap::named("env-first");
    map.insert(1, 1);
    println!("first insert returned, enabled={}", mapguard::is_enabled());
}

/// `MAPGUARD_OUTPUT` naming a FIFO that nobody reads yet (a log shipper not started
/// yet): the environment is read at the first guarded call, and opening the FIFO
/// for writing waits for a reader. That call must not wait: the file is opened on
/// the reporter thread. (It blocked for as long as the FIFO had no reader.)
#[cfg(unix)]
#[test]
fn the_first_guarded_call_never_waits_for_an_output_file() {
    let fifo = common::scratch_file("env-fifo").with_extension("fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
    let mut cmd = common::child_command("child_first_insert");
    cmd.env("MAPGUARD", "on").env(
        "MAPGUARD_OUTPUT",
        format!("stderr,jsonl:{}", fifo.display()),
    );
    // After a hang the FIFO stays; scratch_file removes it an hour later.
    let o = common::output_within(
        cmd,
        std::time::Duration::from_secs(60),
        "the first guarded call was still waiting for the FIFO",
    );
    let _ = std::fs::remove_file(&fifo);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("first insert returned, enabled=true"),
        "{stdout}"
    );
}

/// An output file named in the environment that cannot be opened: the open is
/// the reporter's, at the first finding, so it is a sink error said once on
/// stderr; the guard stays on and the other outputs get the finding.
#[test]
fn an_output_file_that_cannot_be_opened_is_said_once_and_the_rest_goes_on() {
    let o = child(
        "child_two_writers",
        &[
            ("MAPGUARD", "on"),
            (
                "MAPGUARD_OUTPUT",
                "stderr,jsonl:/nonexistent-mapguard-dir/f.jsonl",
            ),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("mapguard: concurrent_write on map \"env-orders\""),
        "{err}"
    );
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("/nonexistent-mapguard-dir/f.jsonl"))
        .collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(said[0].contains("cannot open it"), "{}", said[0]);
    assert!(said[0].contains("the other sinks go on"), "{}", said[0]);
}
