//! first-findings: how long a user's write that makes a new finding takes, while
//! the reporter resolves the process's first stacks.
//!
//! The reporter's first stack resolution loads and decompresses the binary's debug
//! info, once per process (about 100 ms here). This binary makes `--findings N` new
//! findings (default 200) right after the first one, each on a fresh map: thread
//! `a` writes key 1, then thread `b` writes it, which completes a
//! `concurrent_write` and captures its stack (backtrace `on_finding`). It times
//! `b`'s write, the one that captures, and prints the median, 99th percentile,
//! maximum and sum. Then, after a flush (the debug info loaded), a second round
//! the same. A capture that waited for the reporter's resolution shows as a maximum
//! near the load's time in the first round.
//!
//! It also prints the process's resident memory before the first finding and after
//! each round's reports, and with `--idle`, once more 31 s later: the reporter gives
//! back the debug info it loaded 30 s after its last stack resolution. The memory a
//! resolution loads depends on the build: the workspace's release profile keeps line
//! tables; a default release profile strips debug info:
//!
//! ```text
//! CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=debuginfo CARGO_TARGET_DIR=target/stripped \
//!   cargo run --release -p mapguard-benches --bin first-findings -- --idle
//! ```
//!
//! ```text
//! cargo run --release -p mapguard-benches --bin first-findings
//! cargo run --release -p mapguard-benches --bin first-findings -- --findings 100
//! cargo run --release -p mapguard-benches --bin first-findings -- --idle
//! ```
//!
//! `--findings` takes 1 to 250: past 256 findings waiting for the reporter, new ones
//! are made without a stack (a burst; see the README), and the writes would no
//! longer capture.
//!
//! Each run is one process: the first round is only first once.

use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Thread `a` then thread `b` write key 1 of `m`; returns how long `b`'s write took.
fn conflict(m: &mapguard::DashMap<u64, u64>) -> Duration {
    std::thread::scope(|s| {
        s.spawn(|| m.insert(1, 1));
    });
    std::thread::scope(|s| {
        s.spawn(|| {
            let t = Instant::now();
            m.insert(1, 2);
            t.elapsed()
        })
        .join()
        .expect("writer b")
    })
}

/// This process's resident memory, from /proc (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    mapguard_benches::cases::rss_bytes() / 1024
}

fn round(label: &str, from: usize, n: usize) {
    let maps: Vec<_> = (from..from + n)
        .map(|i| mapguard::DashMap::<u64, u64>::named(format!("first-{i}")))
        .collect();
    let before = mapguard::stats().findings;
    let mut times: Vec<Duration> = maps.iter().map(conflict).collect();
    let made = mapguard::stats().findings - before;
    times.sort();
    println!(
        "{label}: {made} new findings; the write that captures: median {:.1} µs, p99 {:.1} µs, max {:.1} µs, sum {:.1} ms",
        times[n / 2].as_secs_f64() * 1e6,
        times[(n * 99 / 100).min(n - 1)].as_secs_f64() * 1e6,
        times[n - 1].as_secs_f64() * 1e6,
        times.iter().sum::<Duration>().as_secs_f64() * 1e3,
    );
}

fn main() -> ExitCode {
    let mut findings = 200usize;
    let mut idle = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--idle" {
            idle = true;
            continue;
        }
        if a != "--findings" {
            eprintln!("first-findings: unknown argument {a:?}; accepted: --findings N, --idle");
            return ExitCode::from(2);
        }
        let value = args.next().unwrap_or_default();
        match value.parse::<usize>() {
            Ok(n) if (1..=250).contains(&n) => findings = n,
            _ => {
                eprintln!(
                    "first-findings: --findings {value:?}: accepted: a number from 1 to 250 \
                     (past 256 waiting, new findings are made without a stack)"
                );
                return ExitCode::from(2);
            }
        }
    }
    mapguard::Config::new()
        .outputs(vec![])
        .install()
        .expect("first-findings config");
    // The thread registry, the clock and a map's first call, before any finding.
    mapguard::DashMap::<u64, u64>::named("first-warm").insert(0, 0);
    let base = rss_kib();
    println!("resident: {base} KiB before the first finding");
    round("first", 0, findings);
    mapguard::flush();
    println!("resident: {} KiB after its reports", rss_kib());
    round("after a flush", findings, findings);
    mapguard::flush();
    println!("resident: {} KiB after its reports", rss_kib());
    if idle {
        std::thread::sleep(Duration::from_secs(31));
        println!(
            "resident: {} KiB 31 s later (the reporter gives back its debug info after 30 idle seconds)",
            rss_kib()
        );
    }
    ExitCode::SUCCESS
}
