//! The defensive API under real concurrency, against a model: several threads at
//! once, started together, and the outcome compared with what a sequential model
//! says it must be. The guard is on (findings into a Memory sink), and none of the
//! atomic operations may produce a `lost_update`.

mod common;

use std::collections::HashMap as StdHashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{found, memory};
use mapguard::{DashMap, FindingKind, HashMap, Rules, Scope};

const THREADS: usize = 4;

/// A map that is concurrent by design: checked per key, hazard rules only.
fn shared<K: Eq + std::hash::Hash, V>(name: &'static str) -> DashMap<K, V> {
    DashMap::named(name)
        .with_scope(Scope::Key)
        .with_rules(Rules::ALL.without(FindingKind::ConcurrentWrite))
}

/// Runs `f(thread index)` on `THREADS` named threads released together by a
/// barrier; returns their results in thread order.
fn together<R: Send>(f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (f, start) = (&f, &start);
                thread::Builder::new()
                    .name(format!("t{t}"))
                    .spawn_scoped(s, move || {
                        start.wait();
                        f(t)
                    })
                    .expect("spawn")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread panicked"))
            .collect()
    })
}

fn no_lost_update(map: &str) {
    let f = found(FindingKind::LostUpdate, map);
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn update_from_many_threads_counts_every_increment() {
    memory();
    const KEYS: u64 = 8;
    const PER_THREAD: u64 = 5_000;
    let map: DashMap<u64, u64> = shared("api-update");
    for k in 0..KEYS {
        map.insert(k, 0);
    }
    // The model: thread t adds 1 to key (t + i) % KEYS, PER_THREAD times.
    let mut model = vec![0u64; KEYS as usize];
    for t in 0..THREADS as u64 {
        for i in 0..PER_THREAD {
            model[((t + i) % KEYS) as usize] += 1;
        }
    }
    let returned = together(|t| {
        let mut last = 0;
        for i in 0..PER_THREAD {
            let k = (t as u64 + i) % KEYS;
            let now = map.update(&k, |v| {
                *v += 1;
                *v
            });
            last = last.max(now.expect("every key is present"));
        }
        // Absent key: f is not called, nothing is inserted.
        assert_eq!(map.update(&999, |_| unreachable!("absent")), None::<()>);
        last
    });
    let got: Vec<u64> = (0..KEYS).map(|k| map.get_cloned(&k).unwrap()).collect();
    assert_eq!(got, model, "every increment landed");
    assert!(returned.iter().all(|&r| r <= PER_THREAD * THREADS as u64));
    assert!(!map.contains_key(&999));
    no_lost_update("api-update");
}

#[test]
fn compute_inserts_replaces_and_removes_atomically() {
    memory();
    const KEYS: u32 = 4;
    const PER_THREAD: u32 = 3_001;
    const ROLL: u32 = 10;
    let map: DashMap<u32, u32> = shared("api-compute");
    // Each call counts up by one; the ROLL-th count removes the key instead. The
    // thread records what its call did, from what f saw and what compute returned.
    let outcomes = together(|t| {
        let (mut inserted, mut removed) = (0u32, 0u32);
        for i in 0..PER_THREAD {
            let k = (t as u32 + i) % KEYS;
            let mut saw = None;
            let before = map.compute(k, |v| {
                saw = v.copied();
                match v {
                    None => Some(1),
                    Some(&v) if v + 1 == ROLL => None,
                    Some(&v) => Some(v + 1),
                }
            });
            assert_eq!(before, saw, "compute returns the value f saw");
            match saw {
                None => inserted += 1,
                Some(v) if v + 1 == ROLL => removed += 1,
                Some(_) => {}
            }
        }
        (inserted, removed)
    });
    // The model: key k gets n_k calls; counting runs 1..ROLL-1, then a removal.
    let mut calls = StdHashMap::<u32, u32>::new();
    for t in 0..THREADS as u32 {
        for i in 0..PER_THREAD {
            *calls.entry((t + i) % KEYS).or_default() += 1;
        }
    }
    let (inserted, removed) = outcomes
        .iter()
        .fold((0, 0), |(a, b), (i, r)| (a + i, b + r));
    let want_removed: u32 = calls.values().map(|n| n / ROLL).sum();
    let want_inserted: u32 = calls.values().map(|n| n.div_ceil(ROLL)).sum();
    assert_eq!(removed, want_removed);
    assert_eq!(inserted, want_inserted);
    for (k, n) in calls {
        let want = (n % ROLL != 0).then_some(n % ROLL);
        assert_eq!(map.get_cloned(&k), want, "key {k} after {n} calls");
    }
    no_lost_update("api-compute");
}

#[test]
fn insert_if_absent_has_exactly_one_winner_per_key() {
    memory();
    const KEYS: u32 = 2_000;
    let map: DashMap<u32, usize> = shared("api-insert-if-absent");
    let wins = together(|t| {
        (0..KEYS)
            .filter(|&k| map.insert_if_absent(k, t))
            .collect::<Vec<u32>>()
    });
    let mut winner = vec![None; KEYS as usize];
    for (t, keys) in wins.iter().enumerate() {
        for &k in keys {
            assert!(winner[k as usize].is_none(), "key {k} won twice");
            winner[k as usize] = Some(t);
        }
    }
    for k in 0..KEYS {
        let w = winner[k as usize].unwrap_or_else(|| panic!("nobody won key {k}"));
        assert_eq!(map.get_cloned(&k), Some(w), "the winner's value stays");
    }
    assert_eq!(map.len(), KEYS as usize);
    no_lost_update("api-insert-if-absent");
}

#[test]
fn get_or_insert_with_runs_init_once_per_key_and_all_agree() {
    memory();
    const KEYS: u32 = 1_000;
    let map: DashMap<u32, (usize, u32)> = shared("api-get-or-insert");
    let inits = AtomicUsize::new(0);
    let seen = together(|t| {
        (0..KEYS)
            .map(|k| {
                map.get_or_insert_with(k, || {
                    inits.fetch_add(1, SeqCst);
                    (t, k * 7)
                })
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(inits.load(SeqCst), KEYS as usize, "one init per key");
    for k in 0..KEYS as usize {
        let first = seen[0][k];
        assert!(
            seen.iter().all(|s| s[k] == first),
            "all threads saw one value"
        );
        assert_eq!(first.1, k as u32 * 7);
        assert_eq!(map.get_cloned(&(k as u32)), Some(first));
    }
    no_lost_update("api-get-or-insert");
}

#[test]
fn remove_if_eq_removes_only_the_value_it_was_given() {
    memory();
    let map: DashMap<&str, u32> = shared("api-remove-if-eq");
    assert!(!map.remove_if_eq("absent", &1));
    map.insert("k", 1);
    assert!(!map.remove_if_eq("k", &2), "another value: kept");
    assert_eq!(map.get_cloned("k"), Some(1));
    assert!(map.remove_if_eq("k", &1));
    assert!(!map.contains_key("k"));
    assert!(!map.remove_if_eq("k", &1), "gone: nothing to remove");

    // Racing removers: every key is removed exactly once, by one thread.
    const KEYS: u32 = 2_000;
    let map: DashMap<u32, u32> = shared("api-remove-if-eq-race");
    for k in 0..KEYS {
        map.insert(k, k % 3);
    }
    let removed = together(|_| {
        (0..KEYS)
            .filter(|&k| !map.remove_if_eq(&k, &(k % 3 + 1)) && map.remove_if_eq(&k, &(k % 3)))
            .count()
    });
    assert_eq!(removed.iter().sum::<usize>(), KEYS as usize);
    assert!(map.is_empty());

    // A remover holding an old version loses to a writer that changed it: it
    // removes only versions it has seen, so no newer version is ever removed.
    let map: DashMap<u32, u64> = shared("api-remove-if-eq-versions");
    map.insert(0, 0);
    let stop = AtomicBool::new(false);
    let removed_versions = Mutex::new(Vec::new());
    thread::scope(|s| {
        s.spawn(|| {
            for version in 1..=20_000u64 {
                map.insert(0, version);
            }
            stop.store(true, SeqCst);
        });
        s.spawn(|| {
            while !stop.load(SeqCst) {
                if let Some(seen) = map.get_cloned(&0) {
                    if map.remove_if_eq(&0, &seen) {
                        removed_versions.lock().unwrap().push(seen);
                    }
                }
            }
        });
    });
    // Versions only go up, and a version can be removed at most once.
    let removed = removed_versions.into_inner().unwrap();
    assert!(removed.windows(2).all(|w| w[0] < w[1]), "{removed:?}");
    no_lost_update("api-remove-if-eq");
    no_lost_update("api-remove-if-eq-race");
}

/// Keys spread over every shard of `map`, `per_shard` in each, with their shards.
fn keys_in_every_shard(map: &DashMap<u32, i64>, per_shard: usize) -> Vec<u32> {
    let shards = map.inner().shards().len();
    let mut count = vec![0; shards];
    let mut keys = Vec::new();
    for k in 0u32.. {
        let s = map.inner().determine_map(&k);
        if count[s] < per_shard {
            count[s] += 1;
            keys.push(k);
        }
        if count.iter().all(|&c| c == per_shard) {
            return keys;
        }
    }
    unreachable!()
}

/// Sets the flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// What dashmap can promise for a write spread over two keys (two calls, two shard
/// locks): a consistent snapshot may catch a unit in flight (taken from one key,
/// not yet added to the other), but never the same unit in both places. `iter`,
/// which locks one shard at a time, can (see the deterministic test below).
#[test]
fn snapshot_never_shows_a_unit_twice_while_writers_move_units() {
    memory();
    const WRITERS: usize = 2;
    const UNITS: i64 = 10;
    let map: DashMap<u32, i64> = DashMap::with_shard_amount(8)
        .with_name("api-snapshot-moves")
        .with_scope(Scope::Key)
        .with_rules(Rules::ALL.without(FindingKind::ConcurrentWrite));
    let keys = keys_in_every_shard(&map, 2);
    for &k in &keys {
        map.insert(k, UNITS);
    }
    let total = UNITS * keys.len() as i64;
    let stop = AtomicBool::new(false);
    let moves = AtomicUsize::new(0);
    let (snapshots, in_flight_seen) = thread::scope(|s| {
        for w in 0..WRITERS {
            let (map, keys, stop, moves) = (&map, &keys, &stop, &moves);
            s.spawn(move || {
                let mut i = w;
                while !stop.load(SeqCst) {
                    // Take a unit from one key, then give it to a key in another
                    // shard: two calls, in this order.
                    let from = keys[i % keys.len()];
                    let to = keys[(i * 7 + 3) % keys.len()];
                    i += 1;
                    if from == to {
                        continue;
                    }
                    let took = map.update(&from, |v| {
                        let ok = *v > 0;
                        if ok {
                            *v -= 1;
                        }
                        ok
                    });
                    if took == Some(true) {
                        map.update(&to, |v| *v += 1);
                        moves.fetch_add(1, SeqCst);
                    }
                }
            });
        }
        let reader = s.spawn(|| {
            // Stops the writers however the reader ends (a failed assert included).
            let _stop = StopOnDrop(&stop);
            // At least 400 ms, 200 snapshots and 1000 moves, however loaded the
            // machine is (the 60 s cap only stops a test that could never pass).
            let start = Instant::now();
            let deadline = start + Duration::from_millis(400);
            let (mut n, mut in_flight) = (0, 0);
            while (Instant::now() < deadline || n < 200 || moves.load(SeqCst) <= 1_000)
                && start.elapsed() < Duration::from_secs(60)
            {
                let snap = map.snapshot();
                let sum: i64 = snap.iter().map(|(_, v)| *v).sum();
                assert_eq!(snap.len(), keys.len());
                assert!(sum <= total, "a unit seen twice: {sum} > {total}");
                assert!(
                    sum >= total - WRITERS as i64,
                    "more units in flight than writers: {sum}"
                );
                in_flight += usize::from(sum < total);
                n += 1;
            }
            (n, in_flight)
        });
        reader.join().expect("reader")
    });
    assert!(snapshots >= 200);
    assert!(moves.load(SeqCst) > 1_000, "the writers ran");
    let end: i64 = map.snapshot().iter().map(|(_, v)| *v).sum();
    assert_eq!(end, total, "no unit lost or made");
    // Not asserted (timing), but worth seeing when it runs with --nocapture.
    println!(
        "{snapshots} snapshots, {in_flight_seen} with a unit in flight, {} moves",
        moves.load(SeqCst)
    );
    no_lost_update("api-snapshot-moves");
}

/// Deterministic: dashmap's `iter` can see one unit twice, because it reads shard
/// by shard. The same move made while a snapshot is being taken waits for it.
#[test]
fn iter_can_see_a_unit_twice_and_a_snapshot_blocks_that_move() {
    memory();
    let map: DashMap<u32, i64> = DashMap::with_shard_amount(8)
        .with_name("api-snapshot-vs-iter")
        .with_rules(Rules::NONE);
    // Three keys in three shards, in iteration order: a, then c, then b.
    let by_shard = keys_in_every_shard(&map, 1);
    let shard = |k: &u32| map.inner().determine_map(k);
    let mut ordered = by_shard.clone();
    ordered.sort_by_key(shard);
    let (a, c, b) = (ordered[0], ordered[3], ordered[7]);
    map.insert(a, 1);
    map.insert(c, 0);
    map.insert(b, 0);
    let move_unit = || {
        map.update(&a, |v| *v -= 1);
        map.update(&b, |v| *v += 1);
    };

    // The iterator passes a (1 unit), stops at c, the unit moves to b, the
    // iterator reaches b: it counted the unit twice.
    let mut it = map.iter();
    let mut sum = 0;
    for r in it.by_ref() {
        sum += *r.value();
        if *r.key() == c {
            break;
        }
    }
    thread::scope(|s| {
        s.spawn(move_unit);
    }); // shard(a) and shard(b) are not locked by the iterator now
    sum += it.map(|r| *r.value()).sum::<i64>();
    assert_eq!(sum, 2, "iter saw the unit in a and again in b");

    // Now the same move against a snapshot, while a writer holds b's shard: the
    // snapshot read-locks a's shard (lower index) and waits for b's with a's still
    // held, so a write to a waits for the snapshot; reads of a do not.
    map.insert(a, 1);
    map.insert(b, 0);
    let held_b = map.get_mut(&b).unwrap(); // main holds b's write lock
    thread::scope(|s| {
        let taker = s.spawn(|| map.snapshot());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !map.inner().try_get_mut(&a).is_locked() {
            assert!(Instant::now() < deadline, "the snapshot never locked a");
            thread::yield_now();
        }
        assert!(!taker.is_finished(), "it holds a and waits for b");
        assert!(
            map.inner().try_get(&a).is_present(),
            "readers are not blocked"
        );
        let mover = s.spawn(move_unit); // its write to a waits for the snapshot
        drop(held_b);
        let snap = taker.join().expect("snapshot");
        mover.join().expect("mover");
        // The move's first write waited, so the snapshot is from before the move.
        assert_eq!((snap.get(&a), snap.get(&b)), (Some(&1), Some(&0)));
    });
    assert_eq!((map.get_cloned(&a), map.get_cloned(&b)), (Some(0), Some(1)));
}

#[test]
fn a_snapshot_is_a_frozen_copy_shared_cheaply() {
    memory();
    let map: DashMap<String, Vec<u32>> = shared("api-snapshot-frozen");
    map.insert("a".into(), vec![1]);
    map.insert("b".into(), vec![2, 3]);
    let snap = map.snapshot();
    map.update("a", |v| v.push(9));
    map.remove("b");
    map.insert("c".into(), vec![]);
    assert_eq!(snap.len(), 2);
    assert_eq!(snap.get("a"), Some(&vec![1]));
    assert_eq!(snap.get("b").map(Vec::len), Some(2));
    assert!(!snap.contains_key("c"));
    // Clones share the copy; each thread reads it without any lock.
    let lens = together(|_| {
        let mine = snap.clone();
        (&mine).into_iter().map(|(_, v)| v.len()).sum::<usize>()
    });
    assert_eq!(lens, vec![3; THREADS]);
    let mut keys: Vec<&String> = snap.iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    assert!(format!("{snap:?}").contains("\"b\": [2, 3]"));
}

#[test]
fn std_hash_map_update_under_a_lock_from_many_threads() {
    memory();
    const PER_THREAD: u64 = 2_000;
    let map = Arc::new(Mutex::new(
        HashMap::<u8, u64>::named("api-std-update")
            .with_scope(Scope::Key)
            .with_rules(Rules::ALL.without(FindingKind::ConcurrentWrite)),
    ));
    map.lock().unwrap().insert(0, 0);
    together(|_| {
        for _ in 0..PER_THREAD {
            map.lock().unwrap().update(&0, |v| *v += 1);
            let seen = map.lock().unwrap().get_cloned(&0).unwrap();
            map.lock()
                .unwrap()
                .compute(1, |v| Some(v.copied().unwrap_or(0).max(seen)));
        }
    });
    let m = map.lock().unwrap();
    assert_eq!(m.get_cloned(&0), Some(PER_THREAD * THREADS as u64));
    assert_eq!(m.get_cloned(&1), Some(PER_THREAD * THREADS as u64));
    let snap = m.snapshot();
    drop(m);
    assert_eq!(snap.len(), 2);
    no_lost_update("api-std-update");
}
