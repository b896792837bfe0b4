//! The `Otel` sinks of a process share what they have added to the dropped and
//! duplicates counters: a `Config` installed again with a new `Otel` sink does not
//! add the history of `stats()` a second time.

mod common;

use mapguard::{BacktraceMode, Config, DashMap, ManualClock, Otel};
use opentelemetry::global;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

fn counter(p: &SdkMeterProvider, e: &InMemoryMetricExporter, name: &str) -> u64 {
    mapguard::flush();
    p.force_flush().unwrap();
    let mut value = 0;
    for rm in &e.get_finished_metrics().unwrap() {
        for sm in rm
            .scope_metrics()
            .filter(|sm| sm.scope().name() == "mapguard")
        {
            for m in sm.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::U64(MetricData::Sum(sum)) = m.data() {
                    for dp in sum.data_points() {
                        value = dp.value();
                    }
                }
            }
        }
    }
    value
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
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
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
