//! `DashMap::snapshot` (a copy consistent across shards) against collecting dashmap's
//! own `iter` (shard by shard, not consistent), and the part of the snapshot that
//! runs under the shard locks, which is what writers wait for. Run with
//! `cargo bench -p mapguard-benches --bench snapshot`.

use criterion::{BenchmarkId, Criterion, black_box, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot");
    for n in [1_000u64, 100_000] {
        let map: mapguard::DashMap<u64, u64> = (0..n).map(|k| (k, k)).collect();
        g.bench_function(BenchmarkId::new("snapshot", n), |b| {
            b.iter(|| black_box(map.snapshot()))
        });
        g.bench_function(BenchmarkId::new("iter_collect", n), |b| {
            b.iter(|| {
                black_box(
                    map.inner()
                        .iter()
                        .map(|r| (*r.key(), *r.value()))
                        .collect::<Vec<_>>(),
                )
            })
        });
        // What snapshot does while it holds locks: take every shard's read lock,
        // then clone each shard's table and release it. The rest (building the
        // snapshot's table) runs with no lock held.
        g.bench_function(BenchmarkId::new("under_locks", n), |b| {
            b.iter(|| {
                let locked: Vec<_> = map.inner().shards().iter().map(|s| s.read()).collect();
                let copies: Vec<_> = locked
                    .into_iter()
                    .map(|shard| {
                        let copy = (*shard).clone();
                        drop(shard);
                        copy
                    })
                    .collect();
                black_box(copies)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
