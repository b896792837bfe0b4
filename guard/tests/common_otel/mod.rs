//! Reading mapguard's counters back from an in-memory OpenTelemetry meter provider,
//! for the tests of feature `otel` that install their own providers.

#![allow(dead_code)]

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// A provider exporting to memory, and its exporter.
pub fn provider() -> (SdkMeterProvider, InMemoryMetricExporter) {
    let e = InMemoryMetricExporter::default();
    let p = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(e.clone()).build())
        .build();
    (p, e)
}

/// The last exported value of mapguard's counter `name` (scope `mapguard`), on the
/// data point of map `map` if given, after mapguard and the provider have flushed.
pub fn counter(
    p: &SdkMeterProvider,
    e: &InMemoryMetricExporter,
    name: &str,
    map: Option<&str>,
) -> Option<u64> {
    mapguard::flush();
    p.force_flush().unwrap();
    let mut value = None;
    for rm in &e.get_finished_metrics().unwrap() {
        for sm in rm
            .scope_metrics()
            .filter(|sm| sm.scope().name() == "mapguard")
        {
            for m in sm.metrics().filter(|m| m.name() == name) {
                if let AggregatedMetrics::U64(MetricData::Sum(sum)) = m.data() {
                    for dp in sum.data_points() {
                        let on_map = map.is_none_or(|map| {
                            dp.attributes().any(|kv| {
                                kv.key.as_str() == "mapguard.map.name" && kv.value.as_str() == map
                            })
                        });
                        if on_map {
                            value = Some(dp.value());
                        }
                    }
                }
            }
        }
    }
    value
}
