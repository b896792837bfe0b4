//! A forked child that installs its own `Config` (as the README says a pre-fork
//! server must) starts its dedup table and its `stats().duplicates` from 0, and so
//! does what its `Otel` sinks count as exported: the child's
//! `mapguard.duplicate_findings` follows the child's duplicates (it used to stay at
//! 0 until they passed the parent's total).
#![cfg(target_os = "linux")]

mod common;
mod common_otel;

use std::time::Duration;

use mapguard::{BacktraceMode, Config, DashMap, ManualClock, Otel};
use opentelemetry::global;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};

fn install(otel: bool) {
    let c = Config::new().outputs(vec![]).backtrace(BacktraceMode::Off);
    let c = if otel { c.sink(Otel::new()) } else { c };
    c.install().unwrap();
}

fn duplicates(p: &SdkMeterProvider, e: &InMemoryMetricExporter) -> Option<u64> {
    common_otel::counter(p, e, "mapguard.duplicate_findings", None)
}

#[test]
#[ignore = "run as a child by the test in this file"]
fn child_forks_after_duplicates() {
    install(true);
    let map = DashMap::named("parent").with_clock(ManualClock::new());
    for _ in 0..10 {
        common::conflict(&map);
    }
    assert!(mapguard::flush_timeout(Duration::from_secs(60)));
    // The parent's Otel sink has recorded what it exported; then a config without
    // it, so that no reporter thread touches OpenTelemetry's locks at the fork.
    install(false);
    println!("parent duplicates={}", mapguard::stats().duplicates);
    // At the fork: one test thread; the reporter was flushed and holds no lock.
    common::fork_and_wait(|| {
        let (provider, exporter) = common_otel::provider();
        global::set_meter_provider(provider.clone());
        install(true);
        let map = DashMap::named("child").with_clock(ManualClock::new());
        for _ in 0..3 {
            common::conflict(&map);
        }
        mapguard::flush_timeout(Duration::from_secs(60));
        println!(
            "child duplicates: stats={} exported={:?}",
            mapguard::stats().duplicates,
            duplicates(&provider, &exporter)
        );
    });
}

#[test]
fn a_forked_child_exports_its_own_duplicates() {
    let (out, err) = common::run_child("child_forks_after_duplicates");
    let line = out
        .lines()
        .find(|l| l.starts_with("child duplicates: "))
        .unwrap_or_else(|| panic!("no child line:\n{out}\n{err}"));
    let stats: u64 = line
        .split("stats=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(stats > 0, "{out}");
    assert!(
        line.ends_with(&format!("exported=Some({stats})")),
        "the child's counter must show the child's duplicates:\n{out}"
    );
}
