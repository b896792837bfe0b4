//! Shared set-up for behaviour tests: the guard on, findings into one Memory sink.
#![allow(dead_code)]

use std::sync::OnceLock;

use mapguard::{BacktraceMode, Config, Finding, FindingKind, Memory};

/// Installs (once per test binary) a config that is on, reports to a Memory sink
/// only, captures no stacks, and summarises repeats only on flush.
pub fn memory() -> &'static Memory {
    static MEMORY: OnceLock<Memory> = OnceLock::new();
    MEMORY.get_or_init(|| {
        let m = Memory::new();
        Config::new()
            .outputs(vec![])
            .sink(m.clone())
            .backtrace(BacktraceMode::Off)
            .summary_interval(std::time::Duration::from_secs(3600))
            .install()
            .expect("valid test config");
        m
    })
}

/// `<stem>-<process id>.jsonl` in cargo's scratch dir for integration tests: named
/// for this process, so that test processes running at once (cargo-nextest runs one
/// per test, or two `cargo test` runs share a target dir) never write or delete each
/// other's file. Files of the same stem untouched for an hour are removed, so
/// nothing piles up, and the last run's file stays to read after a failure.
pub fn scratch_file(stem: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let own = dir.join(format!("{stem}-{}.jsonl", std::process::id()));
    let prefix = format!("{stem}-");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
        if stale && name.starts_with(&prefix) && name.ends_with(".jsonl") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    own
}

/// This test binary as a child process that runs only `test` (one of its
/// `#[ignore]`d child tests), on one thread, without this process's `MAPGUARD*`
/// variables and with `RUST_BACKTRACE=0`.
pub fn child_command(test: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("own path"));
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, _) in std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("MAPGUARD")) {
        cmd.env_remove(k);
    }
    cmd.env("RUST_BACKTRACE", "0");
    cmd
}

/// Runs `cmd` to its end and returns what it printed. A child still running after
/// `limit` is killed, with its own children, and the test fails with `what`: a
/// hang shows as no answer at all, so `limit` is set far beyond any scheduling
/// delay, never as a timing threshold.
pub fn output_within(
    mut cmd: std::process::Command,
    limit: std::time::Duration,
    what: &str,
) -> std::process::Output {
    use std::process::{Command, Stdio};
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("the child's output"),
        Err(_) => {
            let _ = Command::new("pkill").args(["-9", "-P", &pid]).status();
            let _ = Command::new("kill").args(["-9", &pid]).status();
            panic!("{what} (still running after {limit:?})");
        }
    }
}

/// Runs the ignored test `test` of the calling test binary in a new process (see
/// [`child_command`]) and returns its stdout and stderr. A hang (a flush or install
/// waiting for a reporter that is not there) fails the test after 120 s, far beyond
/// any scheduling delay.
pub fn run_child(test: &str) -> (String, String) {
    run_child_within(test, std::time::Duration::from_secs(120))
}

/// [`run_child`] for a child whose own waits add up to more than 120 s: a hang
/// fails the test after `limit`.
pub fn run_child_within(test: &str, limit: std::time::Duration) -> (String, String) {
    let o = output_within(
        child_command(test),
        limit,
        &format!("{test}: the child hung"),
    );
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `f` on a new thread named `name` and waits for it.
pub fn on<R: Send>(name: &str, f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(s, f)
            .expect("spawn")
            .join()
            .expect("thread panicked")
    })
}

/// Threads "a" then "b" write key 1 of `map`: one `concurrent_write`, from the same
/// two call sites (in this file) every time.
pub fn conflict(map: &mapguard::DashMap<u64, u64>) {
    on("a", || map.insert(1, 1));
    on("b", || map.insert(1, 2));
}

/// The findings of `kind` on `map`, after flushing the pipeline.
pub fn found(kind: FindingKind, map: &str) -> Vec<Finding> {
    let m = memory();
    mapguard::flush();
    m.of(kind, map)
}

/// Every finding on `map`, after flushing.
pub fn all_on(map: &str) -> Vec<Finding> {
    let m = memory();
    mapguard::flush();
    m.on_map(map)
}

/// `(file, line)` of the caller: to check reported sites.
#[track_caller]
pub fn here() -> (String, u32) {
    let l = std::panic::Location::caller();
    (l.file().to_owned(), l.line())
}

/// Runs `first` on thread `a`, then `middle` on thread `b` while `a` waits, then
/// `last` (with what `first` returned) on thread `a` again: the interleaving of a
/// check-then-act race, made deterministic.
pub fn interleave<T: Send>(
    a: &str,
    first: impl FnOnce() -> T + Send,
    b: &str,
    middle: impl FnOnce() + Send,
    last: impl FnOnce(T) + Send,
) {
    let (tx_read, rx_read) = std::sync::mpsc::channel::<()>();
    let (tx_go, rx_go) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let t = std::thread::Builder::new()
            .name(a.to_owned())
            .spawn_scoped(s, move || {
                let seen = first();
                tx_read.send(()).unwrap();
                rx_go.recv().unwrap();
                last(seen);
            })
            .expect("spawn");
        rx_read.recv().unwrap();
        on(b, middle);
        tx_go.send(()).unwrap();
        t.join().expect("thread panicked");
    });
}

/// Runs `f` on another thread and returns its panic payload. If `f` neither
/// returns nor panics within 30 s it is stuck in a lock the guard should have
/// stopped it before: the test process exits at once with a message instead of
/// hanging the suite.
pub fn must_panic(what: &str, f: impl FnOnce() + Send) -> Box<dyn std::any::Any + Send> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(out);
        });
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(Err(payload)) => payload,
            Ok(Ok(())) => panic!("{what}: returned instead of panicking"),
            Err(_) => {
                eprintln!("{what}: deadlocked; the guard did not stop the call before the lock");
                std::process::exit(101);
            }
        }
    })
}

/// The message of a panic payload.
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Forks this process, as a pre-fork server does. The child runs `child`, flushes
/// stdout and ends without the parent's exit handlers; the parent waits for it and
/// gets its wait status. Call it from a child test (one test thread) at a moment
/// when mapguard's own threads hold no lock the child may take (no finding being
/// reported): a lock held at the fork stays held in the child.
#[cfg(target_os = "linux")]
pub fn fork_and_wait(child: impl FnOnce()) -> i32 {
    use std::io::Write as _;
    std::io::stdout().flush().unwrap();
    // SAFETY: fork() has no memory-safety preconditions of its own; what the child
    // may do after it (take only locks nobody held at the fork) is the caller's
    // precondition above.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        child();
        let _ = std::io::stdout().flush();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above, into a local.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    status
}

/// Installs a config that is on and reports only to `m`, without stacks: the
/// process's own, replacing any before (unlike [`memory`], installed once).
pub fn install_into(m: &Memory) {
    Config::new()
        .outputs(vec![])
        .sink(m.clone())
        .backtrace(BacktraceMode::Off)
        .install()
        .unwrap();
}

/// Installs a config for tests of the reporter's backlog: findings into `m` only,
/// one released a second (so new findings pile up behind the rate limit), a queue
/// that never fills, repeats summarised only on flush, stacks as `backtrace` says.
pub fn install_backlogged(m: &Memory, backtrace: BacktraceMode) {
    Config::new()
        .outputs(vec![])
        .sink(m.clone())
        .rate_limit(1)
        .queue_capacity(1 << 16)
        .backtrace(backtrace)
        .summary_interval(std::time::Duration::from_secs(3600))
        .install()
        .unwrap();
}

/// `n` maps named `{prefix}-0`, `{prefix}-1`, ..., each on its own manual clock:
/// [`conflict`] on each makes one new finding per map.
pub fn fresh_maps(prefix: &str, n: usize) -> Vec<mapguard::DashMap<u64, u64>> {
    (0..n)
        .map(|i| {
            mapguard::DashMap::named(format!("{prefix}-{i}"))
                .with_clock(mapguard::ManualClock::new())
        })
        .collect()
}

/// New findings waiting for the reporter past which a new one gets no stack (the
/// README's "burst of new findings").
pub const STACKS_AHEAD: usize = 256;
