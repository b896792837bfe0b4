//! Criterion benches over the same cases and loops as the `overhead` binary: every
//! case, every variant this build has. Run with
//! `cargo bench -p mapguard-benches --bench hot [-- FILTER]`, e.g. `-- hot_get`.
//! Memory cases are reported by `overhead` only (they need a fresh process).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mapguard_benches::cases;

fn bench(c: &mut Criterion) {
    cases::install();
    for case in cases::all() {
        if case.unit != "ns/op" {
            continue;
        }
        let mut g = c.benchmark_group(case.name);
        for &variant in case.variants {
            g.bench_function(BenchmarkId::from_parameter(variant.name()), |b| {
                b.iter_custom(|iters| {
                    let (ns, _) = case.run_once(variant, iters.max(1));
                    Duration::from_nanos((ns * iters as f64) as u64)
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
