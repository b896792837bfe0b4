//! The `Otel` sinks of a process share what they have added to the dropped and
//! duplicates counters: a `Config` installed again with a new `Otel` sink does not
//! add the history of `stats()` a second time.

mod common;
mod common_otel;

use mapguard::{BacktraceMode, Config, DashMap, ManualClock, Otel};
use opentelemetry::global;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};

fn counter(p: &SdkMeterProvider, e: &InMemoryMetricExporter, name: &str) -> u64 {
    common_otel::counter(p, e, name, None).unwrap_or(0)
}

fn install() {
    Config::new()
        .outputs(vec![])
        .sink(Otel::new())
        .backtrace(BacktraceMode::Off)
        .install()
        .unwrap();
}

#[test]
fn reinstalling_an_otel_sink_does_not_count_history_twice() {
    let (provider, exporter) = common_otel::provider();
    global::set_meter_provider(provider.clone());
    install();
    let map: DashMap<u64, u64> = DashMap::named("otel-re").with_clock(ManualClock::new());
    for _ in 0..5 {
        common::conflict(&map);
    }
    let dup = mapguard::stats().duplicates;
    assert!(dup >= 8);
    assert_eq!(
        counter(&provider, &exporter, "mapguard.duplicate_findings"),
        dup
    );
    install(); // the same settings, a new Otel sink
    common::conflict(&DashMap::named("otel-re-2").with_clock(ManualClock::new()));
    assert_eq!(
        counter(&provider, &exporter, "mapguard.duplicate_findings"),
        mapguard::stats().duplicates
    );
}
