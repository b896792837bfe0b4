//! A process forked from one whose guard is on: the child has none of the parent's
//! threads (the ticker and the reporter), so its clock is stopped and nothing
//! drains its queue. The child must neither hang (`flush`, `Config::install`) nor
//! report from a stopped clock; the guard switches off there, says so once, and
//! works again once a `Config` is installed in the child.
#![cfg(target_os = "linux")]

use std::io::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use mapguard::{BacktraceMode, Config, DashMap, ManualClock, Reaction};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn install() {
    Config::new()
        .outputs(vec![])
        .backtrace(BacktraceMode::Off)
        .reaction(Reaction::Call(Arc::new(|_| {
            CALLS.fetch_add(1, SeqCst);
        })))
        .install()
        .unwrap();
}

/// Two threads write key 1 of a new map on a clock that never moves: one
/// `concurrent_write`, whatever the machine's load.
fn conflict(name: &'static str) {
    let map: DashMap<u64, u64> = DashMap::named(name).with_clock(ManualClock::new());
    for _ in 0..2 {
        std::thread::scope(|s| {
            s.spawn(|| map.insert(1, 1));
        });
    }
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_forks() {
    install();
    conflict("parent");
    assert!(mapguard::flush_timeout(Duration::from_secs(60)));
    println!("parent calls={}", CALLS.load(SeqCst));
    std::io::stdout().flush().unwrap();
    // SAFETY: this process runs one test thread, and the guard's threads hold no
    // lock between findings (the parent's finding was flushed above).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let before = CALLS.load(SeqCst);
        conflict("child-before");
        println!(
            "child before: calls={} enabled={}",
            CALLS.load(SeqCst) - before,
            mapguard::is_enabled()
        );
        println!(
            "child flush={}",
            mapguard::flush_timeout(Duration::from_secs(60))
        );
        install();
        println!("child installed: enabled={}", mapguard::is_enabled());
        conflict("child-after");
        let flushed = mapguard::flush_timeout(Duration::from_secs(60));
        println!(
            "child after: calls={} flush={flushed}",
            CALLS.load(SeqCst) - before
        );
        std::io::stdout().flush().unwrap();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    println!("child exit={}", libc::WEXITSTATUS(status));
}

#[test]
fn a_forked_child_switches_off_then_checks_again_once_configured() {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_forks",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("MAPGUARD")) {
        cmd.env_remove(k);
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    // A hang (a flush or install waiting for a reporter the fork left behind)
    // shows as no answer at all; 120 s is far beyond any scheduling delay.
    let Ok(out) = rx.recv_timeout(Duration::from_secs(120)) else {
        let _ = Command::new("pkill")
            .args(["-9", "-P", &pid.to_string()])
            .status();
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("the forked child hung");
    };
    let o = out.unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    for line in [
        "parent calls=1",
        "child before: calls=0 enabled=false",
        "child flush=true",
        "child installed: enabled=true",
        "child after: calls=1 flush=true",
        "child exit=0",
    ] {
        assert!(
            stdout.contains(line),
            "{line:?} missing:\n{stdout}\n{stderr}"
        );
    }
    let notes = stderr.matches("this process is a fork").count();
    assert_eq!(notes, 1, "{stderr}");
}
