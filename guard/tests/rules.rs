//! Each rule firing and staying silent, seen from outside. Time goes through a
//! ManualClock per map, so nothing here depends on how fast the machine is.

mod common;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use common::{all_on, found, here, interleave, memory, message, must_panic, on};
use mapguard::{DashMap, FindingKind::*, HashMap, ManualClock, Mode, Op, Reaction, Rules, Scope};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- concurrent_write ---------------------------------------------------------

#[test]
fn concurrent_write_fires_with_both_sites_threads_and_gap() {
    memory();
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::named("cw-fires").with_clock(clock.clone());
    let first = on("writer-a", || {
        let at = here();
        map.insert(1, 1);
        at
    });
    clock.advance(ms(30));
    let second = on("writer-b", || {
        let at = here();
        map.insert(1, 2);
        at
    });
    let f = found(ConcurrentWrite, "cw-fires");
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = &f[0];
    assert_eq!(f.map, "cw-fires");
    assert_eq!(f.scope, Scope::Map);
    assert!(f.same_key);
    assert_eq!(f.gap_ms, 30);
    assert_eq!(f.window_ms, 100);
    assert!(f.key_hash.as_deref().is_some_and(|k| k.len() == 16));
    assert_eq!(f.accesses.len(), 2);
    let (a, b) = (&f.accesses[0], &f.accesses[1]);
    assert_eq!(a.thread_name.as_deref(), Some("writer-a"));
    assert_eq!(b.thread_name.as_deref(), Some("writer-b"));
    assert_ne!(a.thread_id, b.thread_id);
    assert_eq!((a.op, b.op), (Op::Insert, Op::Insert));
    assert_eq!((a.site.file.clone(), a.site.line - 1), first);
    assert_eq!((b.site.file.clone(), b.site.line - 1), second);
    assert_eq!(a.site.column, 13);
    assert_eq!(b.time_unix_ns - a.time_unix_ns, 30_000_000);
    assert!(
        a.backtrace.is_none(),
        "backtrace mode is off in these tests"
    );
    assert_eq!(f.fingerprint.len(), 16);
}

#[test]
fn concurrent_write_reports_different_keys_in_map_scope() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("cw-map-scope").with_clock(ManualClock::new());
    on("a", || map.insert(1, 1));
    on("b", || map.remove(&2));
    let f = found(ConcurrentWrite, "cw-map-scope");
    assert_eq!(f.len(), 1);
    assert!(!f[0].same_key);
    assert_eq!(f[0].accesses[1].op, Op::Remove);
}

#[test]
fn concurrent_write_silent_for_one_thread_and_outside_the_window() {
    memory();
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::named("cw-silent").with_clock(clock.clone());
    on("only", || {
        for i in 0..100 {
            map.insert(i, i);
            map.remove(&(i / 2));
        }
    });
    clock.advance(ms(101));
    on("later", || map.insert(1, 1));
    clock.advance(ms(500));
    map.insert(2, 2);
    assert!(all_on("cw-silent").is_empty(), "{:#?}", all_on("cw-silent"));
}

#[test]
fn a_stopped_clock_invents_no_concurrent_write() {
    // Clocks stop at 2^37 ms; from then on every access reads the same time, so
    // accesses hours apart would look simultaneous: the time rules stay silent.
    memory();
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::named("cw-stopped").with_clock(clock.clone());
    on("a", || map.insert(1, 1));
    clock.advance(Duration::MAX);
    on("b", || map.insert(1, 2));
    on("c", || map.insert(1, 3));
    assert!(
        all_on("cw-stopped").is_empty(),
        "{:#?}",
        all_on("cw-stopped")
    );
}

#[test]
fn window_is_configurable_per_map() {
    memory();
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::named("cw-window")
        .with_clock(clock.clone())
        .with_window(ms(10));
    on("a", || map.insert(1, 1));
    clock.advance(ms(11));
    on("b", || map.insert(1, 1));
    assert!(found(ConcurrentWrite, "cw-window").is_empty());
    clock.advance(ms(10));
    on("c", || map.insert(1, 1));
    let f = found(ConcurrentWrite, "cw-window");
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].window_ms, f[0].gap_ms), (10, 10));
}

#[test]
fn key_scope_counts_only_the_same_key() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("cw-key-scope")
        .with_clock(ManualClock::new())
        .with_scope(Scope::Key);
    on("a", || map.insert(1, 1));
    on("b", || map.insert(2, 2));
    on("c", || map.insert(3, 3));
    assert!(found(ConcurrentWrite, "cw-key-scope").is_empty());
    on("d", || map.insert(2, 20));
    let f = found(ConcurrentWrite, "cw-key-scope");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].scope, Scope::Key);
    assert!(f[0].same_key);
    assert_eq!(f[0].accesses[0].thread_name.as_deref(), Some("b"));
    assert_eq!(f[0].accesses[1].thread_name.as_deref(), Some("d"));
}

#[test]
fn rule_can_be_switched_off_per_map() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("cw-off")
        .with_clock(ManualClock::new())
        .with_rules(Rules::ALL.without(ConcurrentWrite));
    on("a", || map.insert(1, 1));
    on("b", || map.insert(1, 2));
    assert!(all_on("cw-off").is_empty());
}

#[test]
fn std_hash_map_in_a_lock_reports_two_writers() {
    memory();
    let shared = Arc::new(RwLock::new(
        HashMap::<String, u32>::named("std-two-writers").with_clock(ManualClock::new()),
    ));
    on("request", || {
        shared.write().unwrap().insert("a".into(), 1);
    });
    on("cleaner", || {
        shared.write().unwrap().retain(|_, v| *v > 1);
    });
    let f = found(ConcurrentWrite, "std-two-writers");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].accesses[1].op, Op::Retain);
    assert!(!f[0].same_key);
    assert!(f[0].key_hash.is_some(), "the keyed side's hash is kept");
}

// ---- read_write ------------------------------------------------------------------

#[test]
fn read_write_fires_only_in_mode_accesses() {
    memory();
    let strict: DashMap<u64, u64> = DashMap::named("rw-strict")
        .with_clock(ManualClock::new())
        .with_mode(Mode::Accesses);
    strict.insert(1, 1);
    on("reader", || assert_eq!(strict.get(&1).map(|r| *r), Some(1)));
    let f = found(ReadWrite, "rw-strict");
    assert_eq!(f.len(), 1, "write on main, then read on reader");
    assert_eq!(f[0].accesses[0].op, Op::Insert);
    assert_eq!(f[0].accesses[1].op, Op::Get);
    assert!(f[0].same_key);

    let relaxed: DashMap<u64, u64> = DashMap::named("rw-relaxed").with_clock(ManualClock::new());
    relaxed.insert(1, 1);
    on("reader", || relaxed.get(&1).map(|r| *r));
    assert!(all_on("rw-relaxed").is_empty());
}

#[test]
fn read_write_silent_outside_the_window() {
    memory();
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::named("rw-late")
        .with_clock(clock.clone())
        .with_mode(Mode::Accesses);
    map.insert(1, 1);
    clock.advance(ms(200));
    on("reader", || map.contains_key(&1));
    clock.advance(ms(200));
    map.insert(1, 2);
    assert!(found(ReadWrite, "rw-late").is_empty());
}

// ---- lost_update -------------------------------------------------------------

#[test]
fn lost_update_carries_read_intervening_write_and_stale_write() {
    memory();
    let clock = ManualClock::new();
    let stock: DashMap<&str, i32> = DashMap::named("lu-fires").with_clock(clock.clone());
    stock.insert("sku", 10);
    clock.advance(ms(500));
    interleave(
        "buyer-a",
        || *stock.get("sku").unwrap(),
        "buyer-b",
        || {
            let seen = *stock.get("sku").unwrap();
            stock.insert("sku", seen - 1);
        },
        |seen| {
            stock.insert("sku", seen - 1);
        },
    );
    // Both decremented from 10: one sale was lost.
    assert_eq!(*stock.get("sku").unwrap(), 9);
    let f = found(LostUpdate, "lu-fires");
    assert_eq!(f.len(), 1, "{f:#?}");
    let ops: Vec<_> = f[0].accesses.iter().map(|a| a.op).collect();
    assert_eq!(ops, [Op::Get, Op::Insert, Op::Insert]);
    let who: Vec<_> = f[0]
        .accesses
        .iter()
        .map(|a| a.thread_name.clone().unwrap())
        .collect();
    assert_eq!(who, ["buyer-a", "buyer-b", "buyer-a"]);
    assert!(f[0].same_key);
    // The more specific finding replaces concurrent_write for the same pair.
    assert!(
        found(ConcurrentWrite, "lu-fires")
            .iter()
            .all(|c| c.accesses[1].thread_name.as_deref() != Some("buyer-a")),
    );
}

#[test]
fn lost_update_silent_without_an_intervening_write() {
    memory();
    let clock = ManualClock::new();
    let map: DashMap<u32, u32> = DashMap::named("lu-silent").with_clock(clock.clone());
    map.insert(1, 1);
    clock.advance(ms(500));
    // read-modify-write on one thread, nothing in between
    on("a", || {
        let v = *map.get(&1).unwrap();
        map.insert(1, v + 1);
    });
    clock.advance(ms(500));
    // another thread wrote *before* the read: the read saw it
    on("b", || map.insert(2, 0));
    on("c", || {
        let v = *map.get(&2).unwrap();
        map.insert(2, v + 1);
    });
    clock.advance(ms(500));
    // atomic read-modify-write through the entry API and alter
    on("d", || {
        *map.entry(3).or_insert(0) += 1;
        map.alter(&3, |_, v| v + 1);
    });
    assert!(found(LostUpdate, "lu-silent").is_empty());
}

#[test]
fn a_map_given_another_clock_forgets_what_it_remembered() {
    memory();
    let ahead = ManualClock::new();
    ahead.advance(ms(10_000));
    let map: DashMap<u32, u32> = DashMap::named("lu-reclocked").with_clock(ahead);
    on("writer", || map.insert(1, 1));
    // From here on, times are on a clock 10 s behind the write's: a read compares
    // its time with the writes' records, so the map starts afresh.
    let map = map.with_clock(ManualClock::new());
    on("reader", || {
        let v = *map.get(&1).unwrap();
        map.insert(1, v + 1);
    });
    assert!(found(LostUpdate, "lu-reclocked").is_empty());
    assert!(found(ConcurrentWrite, "lu-reclocked").is_empty());
    // And it still finds what happens under the new clock: the reader's write,
    // then another thread's.
    on("writer", || map.insert(1, 5));
    assert_eq!(found(ConcurrentWrite, "lu-reclocked").len(), 1);
}

#[test]
fn lost_update_in_key_scope_ignores_other_keys() {
    memory();
    let map: DashMap<u32, u32> = DashMap::named("lu-key")
        .with_clock(ManualClock::new())
        .with_scope(Scope::Key)
        .with_rules(Rules::ALL.without(ConcurrentWrite));
    interleave(
        "a",
        || map.contains_key(&1),
        "b",
        || {
            map.insert(2, 2); // another key: no lost update on 1
        },
        |had| {
            if !had {
                map.insert(1, 1);
            }
        },
    );
    assert!(found(LostUpdate, "lu-key").is_empty());
}

#[test]
fn check_then_insert_with_contains_key_is_a_lost_update() {
    memory();
    let map: DashMap<u32, u32> = DashMap::named("lu-check").with_clock(ManualClock::new());
    interleave(
        "a",
        || map.contains_key(&7),
        "b",
        || {
            map.insert(7, 2);
        },
        |had| {
            if !had {
                map.insert(7, 1);
            }
        },
    );
    let f = found(LostUpdate, "lu-check");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].accesses[0].op, Op::ContainsKey);
}

// ---- write_during_iteration -----------------------------------------------------

#[test]
fn write_during_iteration_fires_while_an_iterator_lives() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("wdi-fires").with_clock(ManualClock::new());
    map.insert(1, 1);
    let it = map.iter(); // not advanced: holds no shard lock yet
    on("writer", || map.insert(2, 2));
    drop(it);
    let f = found(WriteDuringIteration, "wdi-fires");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].accesses[0].op, Op::Iter);
    assert_eq!(f[0].accesses[1].thread_name.as_deref(), Some("writer"));
}

#[test]
fn write_during_iteration_silent_after_the_iterator_is_dropped() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("wdi-silent")
        .with_clock(ManualClock::new())
        .with_rules(Rules::ALL.without(ConcurrentWrite));
    map.insert(1, 1);
    let n = map.iter().count();
    assert_eq!(n, 1);
    on("writer", || map.insert(2, 2));
    // The iterating thread writing itself is not this rule (it is reentrancy).
    let it = map.iter();
    drop(it);
    assert!(found(WriteDuringIteration, "wdi-silent").is_empty());
}

#[test]
fn write_during_iteration_silent_once_the_iterator_is_exhausted() {
    // An iterator that has returned its last item can no longer see or miss a
    // write, even before it is dropped; it still holds the last shard's lock, so
    // its own thread writing is still reentrancy. Eight shards: keys below 1 << 56
    // are in shard 0, key 1 << 56 in shard 1, and an exhausted iterator holds shard
    // 7's lock, so the other thread's writes here never wait for it.
    memory();
    let map: DashMap<u64, u64, Identity> = DashMap::with_hasher_and_shard_amount(Identity, 8)
        .with_name("wdi-exhausted")
        .with_clock(ManualClock::new())
        .with_rules(Rules::ALL.without(ConcurrentWrite));
    map.insert(1, 1);
    let mut it = map.iter();
    assert!(it.next().is_some());
    assert!(it.next().is_none());
    on("writer", || map.insert(2, 2));
    assert!(found(WriteDuringIteration, "wdi-exhausted").is_empty());
    drop(it);
    let mut it_mut = map.iter_mut();
    while it_mut.next().is_some() {}
    on("writer", || map.insert(3, 3));
    assert!(found(WriteDuringIteration, "wdi-exhausted").is_empty());
    drop(it_mut);
    // Not done (holding shard 0): live, as before.
    let mut live = map.iter();
    assert!(live.next().is_some());
    on("writer", || map.insert(1 << 56, 4));
    assert_eq!(found(WriteDuringIteration, "wdi-exhausted").len(), 1);
    drop(live);
    assert!(found(ReentrantAccess, "wdi-exhausted").is_empty());
    // The exhausted iterator's own thread writing: still a reentrant_access (the
    // last shard stays locked until the drop), stopped before the lock.
    let held: DashMap<u64, u64> = DashMap::named("wdi-exhausted-held")
        .with_clock(ManualClock::new())
        .with_rules(Rules::NONE.with(ReentrantAccess))
        .with_reaction(Reaction::Panic);
    held.insert(1, 1);
    must_panic("insert under an exhausted iterator", || {
        let mut it = held.iter();
        while it.next().is_some() {}
        held.insert(1, 2);
        drop(it);
    });
    assert_eq!(found(ReentrantAccess, "wdi-exhausted-held").len(), 1);
}

/// Hashes a `u64` key to itself, so a test can choose a key's shard: dashmap
/// takes the shard from bits 56.. of the hash (`(hash << 7) >> shift`).
#[derive(Clone, Default)]
struct Identity;

impl std::hash::BuildHasher for Identity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[test]
fn retain_is_not_a_live_iteration() {
    memory();
    // Eight shards; key 0 is in shard 0 and key 1 << 56 in shard 1.
    let map: DashMap<u64, u64, Identity> = DashMap::with_hasher_and_shard_amount(Identity, 8)
        .with_name("wdi-retain")
        .with_clock(ManualClock::new())
        .with_scope(Scope::Key)
        .with_rules(Rules::ALL.without(ConcurrentWrite));
    map.insert(0, 1);
    let (started_tx, started) = std::sync::mpsc::channel();
    let (wrote_tx, wrote) = std::sync::mpsc::channel();
    // The writer writes while retain is inside its closure, holding shard 0's lock:
    // each shard is retained under its own lock, so there is no torn view.
    let map = &map;
    std::thread::scope(|s| {
        s.spawn(move || {
            map.retain(|k, v| {
                if *k == 0 {
                    started_tx.send(()).unwrap();
                    wrote
                        .recv_timeout(std::time::Duration::from_secs(30))
                        .expect("the writer wrote while retain ran");
                }
                *v > 0
            })
        });
        s.spawn(move || {
            started.recv().unwrap();
            map.insert(1 << 56, 2);
            wrote_tx.send(()).unwrap();
        });
    });
    assert_eq!(map.len(), 2);
    assert!(found(WriteDuringIteration, "wdi-retain").is_empty());
}

#[test]
fn an_iterator_counts_as_live_where_retain_does_not() {
    // The same interleaving with iter instead of retain is reported: the test
    // above can fail.
    memory();
    let map: DashMap<u64, u64, Identity> = DashMap::with_hasher_and_shard_amount(Identity, 8)
        .with_name("wdi-iter-live")
        .with_clock(ManualClock::new())
        .with_scope(Scope::Key)
        .with_rules(Rules::ALL.without(ConcurrentWrite));
    map.insert(0, 1);
    let it = map.iter();
    on("writer", || map.insert(1 << 56, 2));
    drop(it);
    assert_eq!(found(WriteDuringIteration, "wdi-iter-live").len(), 1);
}

// ---- try_* ----------------------------------------------------------------------

#[test]
fn try_methods_are_never_reentrant_and_record_only_what_they_got() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("try-methods")
        .with_clock(ManualClock::new())
        .with_reaction(Reaction::Panic);
    map.insert(1, 1);
    {
        // Holding a guard, every try_* call is safe: it returns instead of waiting.
        let r = map.get(&1).unwrap();
        let e = map.try_entry(2).map(|e| e.or_insert(2).key().to_owned());
        assert!(e.is_none() || e == Some(2));
        drop(r);
    }
    assert!(found(ReentrantAccess, "try-methods").is_empty());
    // A try_get_mut that finds the shard locked wrote nothing: no concurrent_write.
    let quiet: DashMap<u64, u64> = DashMap::named("try-locked").with_clock(ManualClock::new());
    quiet.insert(7, 0);
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let (done_tx, done) = std::sync::mpsc::channel();
    let quiet = &quiet;
    std::thread::scope(|s| {
        s.spawn(move || {
            let w = quiet.get_mut(&7).unwrap();
            locked_tx.send(()).unwrap();
            done.recv().unwrap();
            drop(w);
        });
        locked.recv().unwrap();
        on("trier", || assert!(quiet.try_get_mut(&7).is_locked()));
        done_tx.send(()).unwrap();
    });
    let cw: Vec<_> = found(ConcurrentWrite, "try-locked")
        .into_iter()
        .filter(|f| f.accesses.iter().any(|a| a.op == Op::TryGetMut))
        .collect();
    assert!(cw.is_empty(), "{cw:#?}");
}

#[test]
fn read_write_in_key_scope_sees_a_keyed_write() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("rw-key-scope")
        .with_clock(ManualClock::new())
        .with_scope(Scope::Key)
        .with_mode(Mode::Accesses);
    on("writer", || map.insert(3, 3));
    on("reader", || map.get(&3).map(|r| *r));
    let f = found(ReadWrite, "rw-key-scope");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].accesses[0].op, f[0].accesses[1].op),
        (Op::Insert, Op::Get)
    );
}

#[test]
fn read_write_in_key_scope_compares_the_same_keys_in_either_order() {
    // The write side used to compare against the last read whatever its key, so a
    // read of key 1 then a write of key 2 was reported while the mirror order was
    // not.
    memory();
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::named("rw-key-order")
        .with_clock(clock.clone())
        .with_scope(Scope::Key)
        .with_mode(Mode::Accesses);
    on("reader", || map.get(&1).map(|r| *r));
    on("writer", || map.insert(2, 2));
    assert!(found(ReadWrite, "rw-key-order").is_empty());
    on("writer", || map.insert(1, 1));
    let f = found(ReadWrite, "rw-key-order");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].accesses[0].op, f[0].accesses[1].op, f[0].same_key),
        (Op::Get, Op::Insert, true)
    );
    // A map-wide read against a keyed write still counts.
    clock.advance(Duration::from_millis(500));
    on("walker", || map.iter().count());
    on("writer", || map.insert(9, 9));
    let f = found(ReadWrite, "rw-key-order");
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_eq!(
        (f[1].accesses[0].op, f[1].accesses[1].op),
        (Op::Iter, Op::Insert)
    );
}

#[test]
fn read_write_in_key_scope_sees_a_keyed_write_from_a_map_wide_read() {
    // The mirror of the last case: a keyed write, then another thread's `iter`.
    memory();
    let map: DashMap<u64, u64> = DashMap::named("rw-key-then-iter")
        .with_clock(ManualClock::new())
        .with_scope(Scope::Key)
        .with_mode(Mode::Accesses);
    on("writer", || map.insert(9, 9));
    on("walker", || map.iter().count());
    let f = found(ReadWrite, "rw-key-then-iter");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].accesses[0].op, f[0].accesses[1].op, f[0].same_key),
        (Op::Insert, Op::Iter, false)
    );
    assert_eq!(f[0].accesses[0].thread_name.as_deref(), Some("writer"));
}

#[test]
fn len_and_is_empty_are_map_wide_reads_for_read_write() {
    memory();
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::named("rw-len")
        .with_clock(clock.clone())
        .with_mode(Mode::Accesses);
    on("writer", || map.insert(1, 1));
    on("metrics", || map.len());
    clock.advance(ms(500));
    on("metrics", || map.is_empty());
    on("writer", || map.insert(1, 2));
    let f = found(ReadWrite, "rw-len");
    let ops: Vec<_> = f
        .iter()
        .map(|f| (f.accesses[0].op, f.accesses[1].op))
        .collect();
    assert_eq!(ops, [(Op::Insert, Op::Len), (Op::IsEmpty, Op::Insert)]);
    // Mode `writes` (the default) does not look at reads at all.
    let quiet: DashMap<u64, u64> = DashMap::named("rw-len-writes").with_clock(ManualClock::new());
    on("writer", || quiet.insert(1, 1));
    on("metrics", || quiet.len());
    assert!(all_on("rw-len-writes").is_empty());
}

#[test]
fn len_and_is_empty_of_the_std_maps_are_map_wide_reads_too() {
    memory();
    let h = RwLock::new(
        HashMap::<u64, u64>::named("rw-std-len")
            .with_clock(ManualClock::new())
            .with_mode(Mode::Accesses),
    );
    on("writer", || h.write().unwrap().insert(1, 1));
    on("metrics", || h.read().unwrap().len());
    let f = found(ReadWrite, "rw-std-len");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].accesses[1].op, Op::Len);
    let b = RwLock::new(
        mapguard::BTreeMap::<u64, u64>::named("rw-btree-is-empty")
            .with_clock(ManualClock::new())
            .with_mode(Mode::Accesses),
    );
    on("writer", || b.write().unwrap().insert(1, 1));
    on("metrics", || b.read().unwrap().is_empty());
    let f = found(ReadWrite, "rw-btree-is-empty");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].accesses[1].op, Op::IsEmpty);
}

#[test]
fn key_scope_map_wide_and_keyed_writes_conflict_in_either_order() {
    memory();
    let clock = ManualClock::new();
    let map: DashMap<u64, u64> = DashMap::named("cw-key-wide")
        .with_clock(clock.clone())
        .with_scope(Scope::Key);
    // A keyed write, then another thread's clear: one concurrent_write.
    on("a", || map.insert(1, 1));
    on("cleaner", || map.clear());
    let f = found(ConcurrentWrite, "cw-key-wide");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].accesses[0].op, f[0].accesses[1].op),
        (Op::Insert, Op::Clear)
    );
    // A clear, then another thread's keyed write: a second one.
    clock.advance(ms(500));
    on("cleaner", || map.clear());
    on("a", || map.insert(7, 7));
    let f = found(ConcurrentWrite, "cw-key-wide");
    assert_eq!(f.len(), 2, "{f:#?}");
    assert_eq!(
        (f[1].accesses[0].op, f[1].accesses[1].op),
        (Op::Clear, Op::Insert)
    );
    // Outside the window, or from the same thread: nothing more.
    clock.advance(ms(500));
    on("cleaner", || map.clear());
    clock.advance(ms(500));
    on("a", || map.insert(7, 8));
    clock.advance(ms(500));
    on("b", || {
        map.clear();
        map.insert(3, 3);
        map.insert(4, 4);
        map.retain(|_, _| true);
    });
    let f = found(ConcurrentWrite, "cw-key-wide");
    assert_eq!(f.len(), 2, "{f:#?}");
}

#[test]
fn a_map_wide_write_between_read_and_write_is_a_lost_update_in_both_scopes() {
    memory();
    for (scope, op) in [
        (Scope::Map, Op::AlterAll),
        (Scope::Key, Op::AlterAll),
        (Scope::Map, Op::Retain),
        (Scope::Key, Op::Clear),
    ] {
        let name = format!("lu-wide-{scope:?}-{}", op.name());
        let prices: DashMap<u64, u64> = DashMap::named(name.clone())
            .with_clock(ManualClock::new())
            .with_scope(scope)
            .with_rules(Rules::ALL.without(ConcurrentWrite));
        prices.insert(1, 10);
        prices.insert(2, 20);
        interleave(
            "a",
            || prices.get_cloned(&1).unwrap(),
            "b",
            || match op {
                Op::AlterAll => prices.alter_all(|_, v| v * 2),
                Op::Retain => prices.retain(|k, _| *k != 1),
                _ => prices.clear(),
            },
            |seen| {
                prices.insert(1, seen + 1);
            },
        );
        let f = found(LostUpdate, &name);
        assert_eq!(f.len(), 1, "{scope:?} {op:?}: {:#?}", all_on(&name));
        let ops: Vec<Op> = f[0].accesses.iter().map(|a| a.op).collect();
        assert_eq!(ops, [Op::GetCloned, op, Op::Insert], "{scope:?}");
    }
}

#[test]
fn a_map_wide_write_before_the_read_or_by_the_same_thread_is_no_lost_update() {
    memory();
    for scope in [Scope::Map, Scope::Key] {
        let name = format!("lu-wide-quiet-{scope:?}");
        let map: DashMap<u64, u64> = DashMap::named(name.clone())
            .with_clock(ManualClock::new())
            .with_scope(scope)
            .with_rules(Rules::ALL.without(ConcurrentWrite));
        map.insert(1, 1);
        // Another thread's map-wide write before the read: the read saw it.
        on("b", || map.alter_all(|_, v| v + 1));
        on("a", || {
            let v = map.get_cloned(&1).unwrap();
            map.insert(1, v + 1);
        });
        // The reader's own map-wide write in between.
        on("a", || {
            let v = map.get_cloned(&1).unwrap();
            map.retain(|_, _| true);
            map.insert(1, v + 1);
        });
        assert!(all_on(&name).is_empty(), "{scope:?}: {:#?}", all_on(&name));
    }
}

#[test]
fn key_scope_bulk_writes_of_their_own_keys_do_not_write_every_key() {
    // `pop_first`, `extend` write keys of their own: in key scope they are no
    // concurrent_write against another key, and no intervening write of it.
    memory();
    let ops = |f: &[mapguard::Finding]| -> Vec<(mapguard::FindingKind, Vec<Op>)> {
        f.iter()
            .map(|f| (f.kind, f.accesses.iter().map(|a| a.op).collect()))
            .collect()
    };
    let queue = Mutex::new(
        mapguard::BTreeMap::<u64, u64>::named("key-pop-first")
            .with_clock(ManualClock::new())
            .with_scope(Scope::Key),
    );
    queue.lock().unwrap().insert(1, 1);
    on("consumer", || queue.lock().unwrap().pop_first());
    on("producer", || queue.lock().unwrap().insert(2, 2));
    assert!(
        all_on("key-pop-first").is_empty(),
        "{:?}",
        ops(&all_on("key-pop-first"))
    );

    let m = Mutex::new(
        HashMap::<u64, u64>::named("key-extend")
            .with_clock(ManualClock::new())
            .with_scope(Scope::Key)
            .with_rules(Rules::ALL.without(ConcurrentWrite)),
    );
    on("b", || m.lock().unwrap().extend([(100, 1), (101, 1)]));
    on("a", || m.lock().unwrap().insert(1, 2));
    interleave(
        "a",
        || *m.lock().unwrap().get(&1).unwrap(),
        "b",
        || m.lock().unwrap().extend([(100, 2)]),
        |seen| {
            m.lock().unwrap().insert(1, seen + 1);
        },
    );
    assert!(
        all_on("key-extend").is_empty(),
        "{:?}",
        ops(&all_on("key-extend"))
    );
    // In map scope too, an extend is no intervening write of another key.
    let m = Mutex::new(
        HashMap::<u64, u64>::named("map-extend-lu")
            .with_clock(ManualClock::new())
            .with_rules(Rules::ALL.without(ConcurrentWrite)),
    );
    m.lock().unwrap().insert(1, 10);
    interleave(
        "a",
        || *m.lock().unwrap().get(&1).unwrap(),
        "b",
        || m.lock().unwrap().extend([(100, 1)]),
        |seen| {
            m.lock().unwrap().insert(1, seen + 1);
        },
    );
    assert!(
        all_on("map-extend-lu").is_empty(),
        "{:?}",
        ops(&all_on("map-extend-lu"))
    );
}

#[test]
fn a_clear_before_the_key_slots_exist_is_the_last_write_of_every_key() {
    // A clear made before any keyed access allocates the key slots itself, filled
    // with it: the first keyed write of another thread sees it.
    memory();
    let m: DashMap<u64, u64> = DashMap::named("key-clear-first")
        .with_clock(ManualClock::new())
        .with_scope(Scope::Key);
    on("cleaner", || m.clear());
    on("writer", || m.insert(5, 5));
    let f = found(ConcurrentWrite, "key-clear-first");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].accesses[0].op, f[0].accesses[1].op),
        (Op::Clear, Op::Insert)
    );
}

#[test]
fn a_finding_while_unwinding_is_reported_not_a_second_panic() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("unwinding")
        .with_clock(ManualClock::new())
        .with_reaction(Reaction::Panic);
    on("first", || map.insert(1, 1));
    struct WritesOnDrop<'a>(&'a DashMap<u64, u64>);
    impl Drop for WritesOnDrop<'_> {
        fn drop(&mut self) {
            self.0.insert(1, 2); // conflicts with "first": a finding during unwinding
        }
    }
    // A second panic while unwinding would abort the whole test process.
    let err = must_panic("a panic whose unwinding writes a map", || {
        let _w = WritesOnDrop(&map);
        panic!("the user's own panic");
    });
    assert_eq!(message(&*err), "the user's own panic");
    assert_eq!(found(ConcurrentWrite, "unwinding").len(), 1);
}

// ---- reentrant_access ------------------------------------------------------------

#[test]
fn reentrant_access_reports_guard_site_and_call_site() {
    memory();
    // Reaction panic: shrink_to_fit write-locks every shard, so it would wait for
    // ever on the Ref's own read lock.
    let map: DashMap<u64, u64> = DashMap::named("re-fires")
        .with_clock(ManualClock::new())
        .with_reaction(Reaction::Panic);
    map.insert(1, 1);
    let lines = Mutex::new((here(), here()));
    must_panic("shrink_to_fit under a Ref", || {
        lines.lock().unwrap().0 = here();
        let r = map.get(&1).unwrap();
        lines.lock().unwrap().1 = here();
        map.shrink_to_fit();
        drop(r);
    });
    let (held_at, call_at) = lines.into_inner().unwrap();
    let f = found(ReentrantAccess, "re-fires");
    assert_eq!(f.len(), 1);
    let (a, b) = (&f[0].accesses[0], &f[0].accesses[1]);
    assert_eq!((a.op, b.op), (Op::Get, Op::ShrinkToFit));
    assert_eq!(a.site.line, held_at.1 + 1);
    assert_eq!(b.site.line, call_at.1 + 1);
    assert_eq!(a.thread_id, b.thread_id);
}

#[test]
fn reentrant_access_with_panic_reaction_panics_before_the_lock() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("re-panic")
        .with_clock(ManualClock::new())
        .with_reaction(Reaction::Panic);
    // Without the guard this would deadlock: the shard of key 1 is write-locked.
    let err = must_panic("insert under a RefMut", || {
        map.insert(1, 1);
        let r = map.get_mut(&1).unwrap();
        map.insert(1, 2);
        drop(r);
    });
    let msg = message(&*err);
    assert!(msg.contains("reentrant_access"), "{msg}");
    assert!(msg.contains("re-panic"), "{msg}");
    assert_eq!(found(ReentrantAccess, "re-panic").len(), 1);
    assert_eq!(
        *map.get(&1).unwrap(),
        1,
        "the panicking insert did not happen"
    );
}

#[test]
fn reentrant_access_tracks_entries_and_iterators() {
    memory();
    // Reaction panic: holding an Entry (a shard write lock) and calling
    // contains_key deadlocks whenever both keys share a shard, so the call must
    // stop before the lock.
    // Only this rule: each must_panic runs on a thread of its own, and their writes
    // would otherwise be concurrent_writes (which panic too).
    let map: DashMap<u64, u64> = DashMap::named("re-entry")
        .with_clock(ManualClock::new())
        .with_rules(Rules::NONE.with(ReentrantAccess))
        .with_reaction(Reaction::Panic);
    must_panic("contains_key under an Entry", || {
        let e = map.entry(5).or_insert(0);
        let _ = map.contains_key(&6);
        drop(e);
    });
    must_panic("is_empty under a mutable iterator", || {
        let it = map.iter_mut();
        let _ = map.is_empty();
        drop(it);
    });
    must_panic("insert under an iterator", || {
        let it = map.iter();
        map.insert(7, 7);
        drop(it);
    });
    // Reads under read guards: dashmap lets a reader in while readers hold the lock,
    // so nothing is reported and nothing panics.
    let it = map.iter();
    assert!(!map.is_empty());
    assert_eq!(map.get(&5).map(|r| *r), Some(0));
    drop(it);
    let ops: Vec<_> = found(ReentrantAccess, "re-entry")
        .iter()
        .map(|f| (f.accesses[0].op, f.accesses[1].op))
        .collect();
    assert_eq!(
        ops,
        [
            (Op::Entry, Op::ContainsKey),
            (Op::IterMut, Op::IsEmpty),
            (Op::Iter, Op::Insert)
        ]
    );
}

#[test]
fn reentrant_access_is_silent_for_reads_under_read_guards() {
    // dashmap's shard lock lets a reader in while readers hold it, even with a
    // writer queued (dashmap 6's lock.rs: a reader waits only for a writer that
    // holds the lock), so these calls cannot deadlock and must not be reported.
    // Reaction panic: a report would fail the test at the call that made it, as it
    // would break correct code in a program.
    memory();
    let map: DashMap<u64, u64> = DashMap::named("re-reads")
        .with_clock(ManualClock::new())
        .with_reaction(Reaction::Panic);
    map.insert(1, 1);
    let r = map.get(&1).unwrap();
    let view = map.view(&1, |_, v| *v);
    let again = map.get(&1).map(|g| *g);
    let cloned = map.get_cloned(&1);
    let n = map.len();
    let keys = map.iter().count();
    let present = map.contains_key(&1);
    assert_eq!((view, again, cloned), (Some(1), Some(1), Some(1)));
    assert_eq!((n, keys, present), (1, 1, true));
    let snap = map.snapshot();
    assert_eq!(snap.get(&1), Some(&1));
    // Under an iterator's item too.
    let mut it = map.iter();
    let item = it.next().unwrap();
    assert_eq!(map.get(&1).map(|g| *g), Some(*item.value()));
    drop((item, it, r));
    assert!(found(ReentrantAccess, "re-reads").is_empty());
}

#[test]
fn reentrant_access_silent_after_drop_and_for_try_methods() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("re-silent").with_clock(ManualClock::new());
    map.insert(1, 1);
    {
        let r = map.get(&1).unwrap();
        assert_eq!(*r, 1);
    }
    map.insert(2, 2);
    let w = map.get_mut(&1).unwrap();
    assert!(
        map.try_get(&1).is_locked(),
        "try_* never waits, so never deadlocks"
    );
    drop(w);
    map.insert(3, 3);
    assert!(found(ReentrantAccess, "re-silent").is_empty());
}

#[test]
fn guard_dropped_on_another_thread_is_forgotten() {
    memory();
    let map: DashMap<u64, u64> = DashMap::named("re-moved").with_clock(ManualClock::new());
    map.insert(1, 1);
    let r = map.get(&1).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || drop(r));
    });
    map.insert(2, 2);
    assert!(found(ReentrantAccess, "re-moved").is_empty());
}

#[test]
fn guard_dropped_on_another_thread_is_forgotten_by_every_kind_of_call() {
    // Iterations, map-wide writes and gets check held guards on their own path: each
    // must forget a guard another thread dropped, and a guard taken later into the
    // freed slot must still count.
    memory();
    let map: DashMap<u64, u64> = DashMap::named("re-moved-all")
        .with_clock(ManualClock::new())
        .with_reaction(Reaction::Panic);
    let other: DashMap<u64, u64> = DashMap::named("re-moved-other").with_clock(ManualClock::new());
    map.insert(1, 1);
    other.insert(1, 1);
    let dropped_elsewhere = || {
        // A guard into another map keeps this thread holding something; the
        // guard into `map` is dropped on another thread.
        let keep = other.get(&1).unwrap();
        let r = map.get(&1).unwrap();
        std::thread::scope(|s| {
            s.spawn(move || drop(r));
        });
        drop(keep);
    };
    dropped_elsewhere();
    drop(map.iter());
    dropped_elsewhere();
    map.retain(|_, _| true);
    dropped_elsewhere();
    drop(map.get(&1));
    map.insert(2, 2);
    assert!(found(ReentrantAccess, "re-moved-all").is_empty());
    let r = map.get(&1).unwrap();
    let n = map.len(); // read locks every shard: a read under a read guard, not reported
    drop(r);
    assert_eq!(n, 2);
    assert!(found(ReentrantAccess, "re-moved-all").is_empty());
    // A write lock under a guard still counts after all that.
    must_panic("retain under a Ref", || {
        let r = map.get(&1).unwrap();
        map.retain(|_, _| true);
        drop(r);
    });
    assert_eq!(found(ReentrantAccess, "re-moved-all").len(), 1);
    assert!(found(ReentrantAccess, "re-moved-other").is_empty());
}

// ---- names and settings --------------------------------------------------------

#[test]
fn unnamed_maps_are_named_after_their_construction_site() {
    memory();
    let at = here();
    let map: DashMap<u8, u8> = DashMap::new();
    assert_eq!(map.name(), format!("{}:{}", at.0, at.1 + 1));
    let owned: DashMap<u8, u8> = DashMap::named(String::from("from-a-string"));
    assert_eq!(owned.name(), "from-a-string");
    let renamed = owned.with_name("renamed");
    assert_eq!(renamed.name(), "renamed");
}

#[test]
fn accesses_from_a_sink_or_reporter_are_not_checked() {
    // The reporter thread marks itself busy; a callback reaction runs busy too.
    memory();
    let inner: Arc<DashMap<u64, u64>> =
        Arc::new(DashMap::named("cb-inner").with_clock(ManualClock::new()));
    // A map nobody wrote before the callback: there the callback's write would take
    // the fast path (no other writer to decline for) if a busy thread could.
    let fresh: Arc<DashMap<u64, u64>> =
        Arc::new(DashMap::named("cb-fresh").with_clock(ManualClock::new()));
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (inner2, fresh2, seen2) = (inner.clone(), fresh.clone(), seen.clone());
    let map: DashMap<u64, u64> = DashMap::named("cb-outer")
        .with_clock(ManualClock::new())
        .with_reaction(Reaction::Call(Arc::new(move |f| {
            assert_eq!(f.kind, ConcurrentWrite);
            seen2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Would be a concurrent_write with the main thread's write below if checked.
            inner2.insert(f.accesses.len() as u64, 0);
            fresh2.insert(7, 0);
        })));
    inner.insert(0, 0);
    on("a", || map.insert(1, 1));
    on("b", || map.insert(1, 2));
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    // Had the callback's write been recorded, this one would conflict with it.
    fresh.insert(7, 1);
    assert!(all_on("cb-inner").is_empty());
    assert!(all_on("cb-fresh").is_empty());
    assert_eq!(found(ConcurrentWrite, "cb-outer").len(), 1);
}
