//! A process forked from one whose guard is on: the child has none of the parent's
//! threads (the ticker and the reporter), so its clock is stopped and nothing
//! drains its queue. The child must neither hang (`flush`, `Config::install`) nor
//! report from a stopped clock; the guard switches off there, says so once, and
//! works again once a `Config` is installed in the child.
#![cfg(target_os = "linux")]

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use mapguard::{BacktraceMode, Config, DashMap, Finding, ManualClock, Memory, Reaction, Sink};

mod common;

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
    common::conflict(&DashMap::named(name).with_clock(ManualClock::new()));
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_forks() {
    install();
    conflict("parent");
    assert!(mapguard::flush_timeout(Duration::from_secs(60)));
    println!("parent calls={}", CALLS.load(SeqCst));
    // At the fork: this process runs one test thread, and the guard's threads hold no
    // lock between findings (the parent's finding was flushed above).
    let status = common::fork_and_wait(|| {
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
    });
    println!("child exit={}", libc::WEXITSTATUS(status));
}

#[test]
fn a_forked_child_switches_off_then_checks_again_once_configured() {
    let (stdout, stderr) = common::run_child("child_forks");
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

/// A sink that holds the reporter inside `report` until the gate opens.
struct Gate(Arc<(Mutex<bool>, Condvar)>, mpsc::Sender<()>);

impl Sink for Gate {
    fn report(&mut self, _: &Finding) -> std::io::Result<()> {
        let _ = self.1.send(());
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        Ok(())
    }
}

fn install_memory(m: &Memory) {
    Config::new()
        .outputs(vec![])
        .sink(m.clone())
        .queue_capacity(1)
        .backtrace(BacktraceMode::Off)
        .install()
        .unwrap();
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_forks_with_a_full_queue() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let (entered_tx, entered) = mpsc::channel();
    Config::new()
        .outputs(vec![])
        .sink(Gate(gate, entered_tx))
        .queue_capacity(1)
        .backtrace(BacktraceMode::Off)
        .install()
        .unwrap();
    conflict("parent-reported");
    entered.recv_timeout(Duration::from_secs(60)).unwrap();
    // The reporter is held in the gate: this one fills the queue (capacity 1).
    conflict("parent-queued");
    // At the fork: one test thread; the reporter waits in the gate's condvar, holding
    // no lock the child takes.
    common::fork_and_wait(|| {
        let memory = Memory::new();
        install_memory(&memory);
        conflict("child");
        let flushed = mapguard::flush_timeout(Duration::from_secs(60));
        println!("child findings={} flush={flushed}", memory.findings().len());
    });
    std::io::stdout().flush().unwrap();
    // The parent's reporter is still in the gate: leave without flushing.
    // SAFETY: ends this test process; the test that ran it reads its stdout.
    unsafe { libc::_exit(0) };
}

/// The parent's queue was full at the fork: its places are not the child's. (They
/// were: the child's queue counted as full for ever and its findings were held
/// back, never reported.)
#[test]
fn a_child_forked_with_a_full_queue_reports() {
    let (stdout, stderr) = common::run_child("child_forks_with_a_full_queue");
    assert!(
        stdout.contains("child findings=1 flush=true"),
        "{stdout}\n{stderr}"
    );
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_set_enabled() {
    let memory = Memory::new();
    install_memory(&memory);
    conflict("parent");
    assert!(mapguard::flush_timeout(Duration::from_secs(60)));
    // At the fork: one test thread, and the parent's finding was flushed.
    common::fork_and_wait(|| {
        let before = memory.findings().len();
        mapguard::set_enabled(true);
        println!("child set_enabled: enabled={}", mapguard::is_enabled());
        conflict("child-set");
        mapguard::flush_timeout(Duration::from_secs(60));
        println!("child memory findings={}", memory.findings().len() - before);
    });
}

/// `set_enabled(true)` alone in a child cannot bring back its parent's sinks: the
/// guard stays off and says so, instead of reporting to a default stderr sink
/// while the configured ones get nothing.
#[test]
fn set_enabled_in_a_forked_child_says_to_install_a_config() {
    let (stdout, stderr) = common::run_child("child_set_enabled");
    assert!(
        stdout.contains("child set_enabled: enabled=false"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("child memory findings=0"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(
        stderr.matches("install a Config in the child").count(),
        1,
        "{stderr}"
    );
    assert!(
        !stderr.contains("concurrent_write"),
        "no default stderr sink: {stderr}"
    );
}
