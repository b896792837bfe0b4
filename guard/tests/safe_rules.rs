//! The rules seen through the defensive API: the atomic operations are never the
//! stale write of a `lost_update`, the owned-value reads still count as reads, a
//! call into the map from inside an `update` closure is a reentrant access, and a
//! snapshot is a read of every key but not a live iteration. Time goes through a
//! ManualClock per map.

mod common;

use std::sync::{Arc, RwLock};

use common::{all_on, found, interleave, memory, on};
use mapguard::{
    BTreeMap, DashMap, FindingKind::*, HashMap, ManualClock, Mode, Op, Reaction, Rules,
};

fn dash(name: &'static str) -> DashMap<u32, i64> {
    let map = DashMap::named(name).with_clock(ManualClock::new());
    map.insert(1, 10);
    map
}

/// Thread `a` reads key 1 with `read`, thread `b` writes it, then `a` writes it with
/// `write`: the check-then-act interleaving.
fn race(
    map: &DashMap<u32, i64>,
    read: impl FnOnce() -> i64 + Send,
    write: impl FnOnce(i64) + Send,
) {
    interleave(
        "a",
        read,
        "b",
        || {
            map.insert(1, 99);
        },
        write,
    );
}

// ---- the atomic writes never make a lost update ------------------------------------

#[test]
fn get_cloned_racing_write_then_update_is_not_a_lost_update() {
    memory();
    let map = dash("safe-lu-update");
    race(
        &map,
        || map.get_cloned(&1).unwrap(),
        |_| {
            map.update(&1, |v| *v -= 1);
        },
    );
    assert_eq!(map.get_cloned(&1), Some(98), "update saw b's write");
    assert!(found(LostUpdate, "safe-lu-update").is_empty());
    // The pair is still two writers on one map: concurrent_write says so.
    assert!(!found(ConcurrentWrite, "safe-lu-update").is_empty());
}

#[test]
fn every_atomic_write_after_a_read_and_a_racing_write_is_silent() {
    memory();
    type Write = fn(&DashMap<u32, i64>);
    let writes: [(&'static str, Write); 6] = [
        ("safe-lu-compute", |m| {
            m.compute(1, |v| v.map(|v| v - 1));
        }),
        ("safe-lu-get-or-insert", |m| {
            m.get_or_insert_with(1, || 0);
        }),
        ("safe-lu-insert-if-absent", |m| {
            m.insert_if_absent(1, 0);
        }),
        ("safe-lu-remove-if-eq", |m| {
            m.remove_if_eq(&1, &10);
        }),
        ("safe-lu-entry", |m| {
            *m.entry(1).or_insert(0) -= 1;
        }),
        ("safe-lu-alter", |m| m.alter(&1, |_, v| v - 1)),
    ];
    for (name, write) in writes {
        let map = dash(name);
        race(&map, || map.get_cloned(&1).unwrap(), |_| write(&map));
        assert!(found(LostUpdate, name).is_empty(), "{name}");
    }
}

// ---- the owned-value reads are still reads ------------------------------------------

#[test]
fn get_cloned_then_blind_insert_is_still_a_lost_update() {
    memory();
    let map = dash("safe-lu-get-cloned");
    race(
        &map,
        || map.get_cloned(&1).unwrap(),
        |seen| {
            map.insert(1, seen - 1);
        },
    );
    assert_eq!(map.get_cloned(&1), Some(9), "b's write was lost");
    let f = found(LostUpdate, "safe-lu-get-cloned");
    assert_eq!(f.len(), 1, "{f:#?}");
    let ops: Vec<Op> = f[0].accesses.iter().map(|a| a.op).collect();
    assert_eq!(ops, [Op::GetCloned, Op::Insert, Op::Insert]);
}

#[test]
fn get_or_default_and_get_or_insert_with_are_reads_too() {
    memory();
    let map = dash("safe-lu-get-or-default");
    race(
        &map,
        || map.get_or_default(&1),
        |seen| {
            map.insert(1, seen - 1);
        },
    );
    let f = found(LostUpdate, "safe-lu-get-or-default");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].accesses[0].op, Op::GetOrDefault);

    // get_or_insert_with writes (maybe) and hands the value out: a later blind
    // write based on it, after b's write, is stale.
    let map = dash("safe-lu-get-or-insert-read");
    race(
        &map,
        || map.get_or_insert_with(1, || 0),
        |seen| {
            map.insert(1, seen - 1);
        },
    );
    let f = found(LostUpdate, "safe-lu-get-or-insert-read");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].accesses[0].op, Op::GetOrInsertWith);
}

#[test]
fn std_maps_atomic_writes_are_silent_and_plain_ones_are_not() {
    memory();
    let hash = Arc::new(RwLock::new(
        HashMap::<u32, i64>::named("safe-lu-std-hash").with_clock(ManualClock::new()),
    ));
    hash.write().unwrap().insert(1, 10);
    interleave(
        "a",
        || hash.read().unwrap().get_cloned(&1).unwrap(),
        "b",
        || {
            hash.write().unwrap().insert(1, 99);
        },
        |_| {
            hash.write().unwrap().update(&1, |v| *v -= 1);
        },
    );
    assert!(found(LostUpdate, "safe-lu-std-hash").is_empty());

    let btree = Arc::new(RwLock::new(
        BTreeMap::<u32, i64>::named("safe-lu-std-btree").with_clock(ManualClock::new()),
    ));
    btree.write().unwrap().insert(1, 10);
    interleave(
        "a",
        || btree.read().unwrap().get_cloned(&1).unwrap(),
        "b",
        || {
            btree.write().unwrap().insert(1, 99);
        },
        |seen| {
            // The same read, then a blind write: under the lock each call is atomic,
            // the pair is not.
            btree.write().unwrap().insert(1, seen - 1);
        },
    );
    assert_eq!(found(LostUpdate, "safe-lu-std-btree").len(), 1);
}

// ---- reentrancy -------------------------------------------------------------------

#[test]
fn calling_the_map_inside_update_panics_instead_of_deadlocking() {
    memory();
    let map: DashMap<u32, i64> = DashMap::named("safe-re-update")
        .with_clock(ManualClock::new())
        .with_reaction(Reaction::Panic);
    // The closure runs under key 1's write lock; reading key 1 again would wait
    // for that lock forever.
    let err = common::must_panic("get_cloned inside update", || {
        map.insert(1, 1);
        map.update(&1, |v| *v += map.get_cloned(&1).unwrap_or(0));
    });
    let msg = common::message(&*err);
    assert!(msg.contains("reentrant_access"), "{msg}");
    let f = found(ReentrantAccess, "safe-re-update");
    assert_eq!(f.len(), 1);
    let ops: Vec<Op> = f[0].accesses.iter().map(|a| a.op).collect();
    assert_eq!(ops, [Op::Update, Op::GetCloned]);
    // The panic unwound through update: the lock is free and the value unchanged.
    assert_eq!(map.get_cloned(&1), Some(1));
}

#[test]
fn snapshot_while_holding_a_guard_is_reported_before_locking() {
    memory();
    let map: DashMap<u32, i64> = DashMap::named("safe-re-snapshot")
        .with_clock(ManualClock::new())
        .with_reaction(Reaction::Panic);
    // snapshot read-locks every shard, including the one `held` write-locks.
    let err = common::must_panic("snapshot under a RefMut", || {
        map.insert(1, 1);
        let held = map.get_mut(&1).unwrap();
        let _ = map.snapshot();
        drop(held);
    });
    let msg = common::message(&*err);
    assert!(msg.contains("reentrant_access"), "{msg}");
    let f = found(ReentrantAccess, "safe-re-snapshot");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].accesses[0].op, Op::GetMut);
    assert_eq!(f[0].accesses[1].op, Op::Snapshot);
    assert_eq!(map.snapshot().len(), 1, "no guard held now: no finding");
    assert_eq!(found(ReentrantAccess, "safe-re-snapshot")[0].occurrences, 1);
}

#[test]
fn the_atomic_calls_hold_no_guard_after_they_return() {
    memory();
    let map: DashMap<u32, i64> = DashMap::named("safe-re-none").with_clock(ManualClock::new());
    let v = map.get_or_insert_with(1, || 5);
    let w = map.get_cloned(&1);
    let d = map.get_or_default(&2);
    map.update(&1, |v| *v += 1);
    map.compute(3, |_| Some(3));
    map.insert_if_absent(4, 4);
    map.remove_if_eq(&4, &4);
    let s = map.snapshot();
    map.insert(1, 0); // every value above is still in use: no guard was kept
    assert_eq!((v, w, d, s.len()), (5, Some(5), 0, 2));
    assert!(
        all_on("safe-re-none").is_empty(),
        "{:#?}",
        all_on("safe-re-none")
    );
}

// ---- snapshot and the iteration rules ------------------------------------------------

#[test]
fn writing_while_a_snapshot_is_read_is_not_write_during_iteration() {
    memory();
    let map: DashMap<u32, i64> = DashMap::named("safe-wdi-snapshot")
        .with_clock(ManualClock::new())
        .with_rules(Rules::ALL.without(ConcurrentWrite));
    map.insert(1, 1);
    let snap = map.snapshot();
    let walk = snap.iter();
    on("writer", || map.insert(2, 2));
    assert_eq!(walk.count(), 1, "the snapshot does not see the write");
    assert!(all_on("safe-wdi-snapshot").is_empty());

    // The same walk over the live map is the finding the snapshot avoids.
    let live = map.iter();
    on("writer", || map.insert(3, 3));
    drop(live);
    assert_eq!(found(WriteDuringIteration, "safe-wdi-snapshot").len(), 1);
}

#[test]
fn a_snapshot_is_a_read_of_every_key_in_mode_accesses() {
    memory();
    let map: DashMap<u32, i64> = DashMap::named("safe-rw-snapshot")
        .with_clock(ManualClock::new())
        .with_mode(Mode::Accesses);
    map.insert(1, 1);
    on("reader", || map.snapshot().len());
    let f = found(ReadWrite, "safe-rw-snapshot");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].accesses[1].op, Op::Snapshot);
    assert!(!f[0].same_key);
}
