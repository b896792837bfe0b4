//! Hot-map `get` and `insert` (1k keys, one thread): raw dashmap, mapguard with the
//! runtime switch off, and mapguard on finding nothing. Run with
//! `cargo bench -p mapguard-benches --bench hot`.

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};
use mapguard_benches::keys;

const HOT: u64 = 1_000;

fn bench(c: &mut Criterion) {
    mapguard::Config::new()
        .outputs(vec![])
        .install()
        .expect("bench config");
    let ks = keys(4096, HOT);
    let raw: dashmap::DashMap<u64, u64> = (0..HOT).map(|k| (k, k)).collect();
    let guarded: mapguard::DashMap<u64, u64> = (0..HOT).map(|k| (k, k)).collect();

    let mut g = c.benchmark_group("hot_get");
    g.bench_function("raw", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(raw.get(&ks[i]).map(|r| *r))
        })
    });
    for on in [false, true] {
        mapguard::set_enabled(on);
        g.bench_function(
            BenchmarkId::new("guarded", if on { "on" } else { "off" }),
            |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & 4095;
                    black_box(guarded.get(&ks[i]).map(|r| *r))
                })
            },
        );
    }
    g.finish();

    let mut g = c.benchmark_group("hot_insert");
    g.bench_function("raw", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(raw.insert(ks[i], i as u64))
        })
    });
    for on in [false, true] {
        mapguard::set_enabled(on);
        g.bench_function(
            BenchmarkId::new("guarded", if on { "on" } else { "off" }),
            |b| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & 4095;
                    black_box(guarded.insert(ks[i], i as u64))
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
