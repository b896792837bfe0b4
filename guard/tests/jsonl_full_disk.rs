//! JSON lines on a full disk: a write that fails part-way must not leave part of a
//! finding in the sink's buffer for the next one to run into. Once the disk has room
//! again, every line of the file is JSON.
//! The full disk is simulated with RLIMIT_FSIZE (writes past it fail with EFBIG).
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use mapguard::{BacktraceMode, Config, DashMap, JsonLines, ManualClock};

fn set_file_size_limit(bytes: libc::rlim_t) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain system call on this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) }, 0);
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_full_disk() {
    let path = std::path::PathBuf::from(std::env::var("MAPGUARD_TEST_JSONL").unwrap());
    let _ = std::fs::remove_file(&path);
    // SAFETY: ignore SIGXFSZ so that a write past the limit fails with EFBIG.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    Config::new()
        .outputs(vec![])
        .sink(JsonLines::create(&path).unwrap())
        .backtrace(BacktraceMode::Off)
        .summary_interval(Duration::from_secs(3600))
        .install()
        .unwrap();
    set_file_size_limit(0); // the disk is full
    for i in 0..40 {
        common::conflict(&DashMap::named(format!("full-{i}")).with_clock(ManualClock::new()));
        mapguard::flush();
    }
    set_file_size_limit(libc::RLIM_INFINITY); // room again
    common::conflict(&DashMap::named("after").with_clock(ManualClock::new()));
    mapguard::flush();
    // Room for part of one line only: the write stops inside an object.
    let len = std::fs::metadata(&path).unwrap().len();
    set_file_size_limit(len + 100);
    for i in 0..5 {
        // The first line is longer than any write buffer (as a finding with two
        // stacks can be), the others shorter.
        let pad = if i == 0 {
            "x".repeat(20_000)
        } else {
            String::new()
        };
        let name = format!("cut-{i}{pad}");
        common::conflict(&DashMap::named(name).with_clock(ManualClock::new()));
        mapguard::flush();
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len + 100);
    set_file_size_limit(libc::RLIM_INFINITY);
    common::conflict(&DashMap::named("last").with_clock(ManualClock::new()));
    mapguard::flush();
    println!("sink_errors={}", mapguard::stats().sink_errors);
}

#[test]
fn every_line_is_json_after_the_disk_was_full() {
    let path = common::scratch_file("jsonl-full-disk");
    let mut cmd = common::child_command("child_full_disk");
    cmd.env("MAPGUARD_TEST_JSONL", &path);
    let o = common::output_within(cmd, Duration::from_secs(120), "child hung");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("sink_errors="),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.is_empty());
    // What waited for room was written, the cut line finished first.
    for name in ["after", "cut-0", "cut-4", "last"] {
        let tag = format!("\"map\":\"{name}");
        assert_eq!(text.matches(&tag).count(), 1, "{name} in\n{text}");
    }
    for (n, line) in text.lines().enumerate() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "line {} is not JSON: {}",
            n + 1,
            &line[..line.len().min(300)]
        );
    }
}
