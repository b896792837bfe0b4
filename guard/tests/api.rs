//! The wrappers' API against the maps they stand for: what a user migrating from
//! dashmap or std calls, and whether each such call is checked as the access it is.
//! Timing runs on a `ManualClock`: no sleeps.

mod common;

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use common::{found, here, interleave, memory, must_panic, on};
use mapguard::{BTreeMap, DashMap, FindingKind::*, HashMap, ManualClock, Op, Reaction, Rules};

type Fixed = BuildHasherDefault<DefaultHasher>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn default_takes_any_default_hasher_and_names_the_map_after_the_call_site() {
    memory();
    let at = here();
    let d: DashMap<u64, u64, Fixed> = Default::default();
    let h: HashMap<u64, u64, Fixed> = Default::default();
    assert_eq!(d.name(), format!("{}:{}", at.0, at.1 + 1));
    assert_eq!(h.name(), format!("{}:{}", at.0, at.1 + 2));
    // And they are checked like any other.
    let d = d
        .with_name("api-default-dash")
        .with_clock(ManualClock::new());
    on("a", || d.insert(1, 1));
    on("b", || d.insert(1, 2));
    assert_eq!(found(ConcurrentWrite, "api-default-dash").len(), 1);
    let h = RwLock::new(
        h.with_name("api-default-std")
            .with_clock(ManualClock::new()),
    );
    on("a", || h.write().unwrap().insert(1, 1));
    on("b", || h.write().unwrap().insert(1, 2));
    assert_eq!(found(ConcurrentWrite, "api-default-std").len(), 1);
}

#[mapguard::guarded]
#[derive(Default, Debug)]
struct Declared {
    #[guard(name = "api-declared-std")]
    std: std::collections::HashMap<u64, u64, Fixed>,
    #[guard(name = "api-declared-tree")]
    tree: std::collections::BTreeMap<u64, u64>,
    #[guard(name = "api-declared-dash")]
    dash: dashmap::DashMap<u64, u64>,
}

/// Std maps compare by contents; a struct of guarded ones derives `PartialEq`.
#[mapguard::guarded]
#[derive(Default, PartialEq, Debug)]
struct Compared {
    #[guard]
    std: std::collections::HashMap<u64, u64>,
    #[guard]
    tree: std::collections::BTreeMap<u64, u64>,
}

#[test]
fn a_declared_field_iterates_compares_and_defaults_as_the_map_does() {
    memory();
    let mut a = Declared::default();
    a.std.insert(1, 10);
    a.tree.insert(2, 20);
    a.dash.insert(3, 30);
    // `for` loops over the field itself (they do not deref).
    let mut seen = vec![];
    for (k, v) in &a.std {
        seen.push((*k, *v));
    }
    #[allow(clippy::for_kv_map)] // the loop is the test: `&mut Guarded: IntoIterator`
    for (_, v) in &mut a.tree {
        *v += 1;
    }
    for r in &a.dash {
        seen.push((*r.key(), *r.value()));
    }
    seen.extend(a.tree.clone());
    assert_eq!(seen, [(1, 10), (3, 30), (2, 21)]);
    // PartialEq, derived through the fields.
    let (mut x, y) = (Compared::default(), Compared::default());
    assert_eq!(x, y);
    x.tree.insert(1, 1);
    assert_ne!(x, y);
    assert_ne!(a.std, Declared::default().std);
    // Iterating the field is the map's `iter`, at the caller's line: a write on
    // another thread while it is live is a write_during_iteration.
    let dash = &a.dash;
    let at = here();
    let live = dash.into_iter();
    on("writer", || dash.insert(4, 40));
    drop(live);
    let f = found(WriteDuringIteration, "api-declared-dash");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].accesses
            .iter()
            .any(|x| x.op == Op::Iter && x.site.line == at.1 + 1),
        "{f:#?}"
    );
}

#[test]
fn btree_reads_by_key_feed_lost_update() {
    // get_key_value (which std's BTreeMap has and Deref used to reach unchecked) is
    // a read of the key: read, another thread's write, then a blind write is a lost
    // update, as with get.
    memory();
    let clock = ManualClock::new();
    let stock = RwLock::new(
        BTreeMap::<&str, i32>::new()
            .with_name("api-btree-gkv")
            .with_clock(clock.clone()),
    );
    stock.write().unwrap().insert("sku", 10);
    clock.advance(ms(500));
    interleave(
        "buyer-a",
        || *stock.read().unwrap().get_key_value("sku").unwrap().1,
        "buyer-b",
        || {
            let seen = *stock.read().unwrap().get("sku").unwrap();
            stock.write().unwrap().insert("sku", seen - 1);
        },
        |seen| {
            stock.write().unwrap().insert("sku", seen - 1);
        },
    );
    let f = found(LostUpdate, "api-btree-gkv");
    assert_eq!(f.len(), 1, "{f:#?}");
    let ops: Vec<_> = f[0].accesses.iter().map(|a| a.op).collect();
    assert_eq!(ops, [Op::GetKeyValue, Op::Insert, Op::Insert]);
}

#[test]
fn btree_first_and_last_are_accesses_of_the_key_they_find() {
    memory();
    let clock = ManualClock::new();
    let m = RwLock::new(
        BTreeMap::<u64, u64>::new()
            .with_name("api-btree-ends")
            .with_clock(clock.clone()),
    );
    // An empty map: nothing found, nothing recorded.
    assert!(m.read().unwrap().first_key_value().is_none());
    assert!(m.write().unwrap().last_entry().is_none());
    m.write().unwrap().extend([(1, 1), (9, 9)]);
    clock.advance(ms(500));
    on("a", || {
        *m.write().unwrap().first_entry().unwrap().get_mut() += 1
    });
    on("b", || {
        *m.write().unwrap().first_entry().unwrap().get_mut() += 1
    });
    let f = found(ConcurrentWrite, "api-btree-ends");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].accesses[0].op, f[0].accesses[1].op),
        (Op::FirstEntry, Op::FirstEntry)
    );
    assert!(f[0].same_key);
    clock.advance(ms(500));
    // last_key_value read, then another thread removes that key, then a blind
    // write of it: a lost update through last_key_value and remove_entry.
    interleave(
        "a",
        || *m.read().unwrap().last_key_value().unwrap().0,
        "b",
        || assert!(m.write().unwrap().remove_entry(&9).is_some()),
        |k| assert!(m.write().unwrap().insert(k, 0).is_none()),
    );
    let f = found(LostUpdate, "api-btree-ends");
    assert_eq!(f.len(), 1, "{f:#?}");
    let ops: Vec<_> = f[0].accesses.iter().map(|a| a.op).collect();
    assert_eq!(ops, [Op::LastKeyValue, Op::Remove, Op::Insert]);
    let m = m.into_inner().unwrap();
    assert_eq!(m.first_key_value(), Some((&1, &3)));
    assert_eq!(m.into_keys().collect::<Vec<_>>(), [1, 9]);
}

#[test]
fn btree_compares_orders_and_hashes_by_contents() {
    use std::hash::BuildHasher;
    let a: BTreeMap<u8, u8> = [(1, 1), (2, 2)].into();
    let b: BTreeMap<u8, u8> = [(1, 1), (2, 3)].into();
    assert!(a < b);
    assert_eq!(a.cmp(&a.clone()), std::cmp::Ordering::Equal);
    let hash = |m: &BTreeMap<u8, u8>| Fixed::default().hash_one(m);
    assert_eq!(hash(&a), hash(&a.clone().with_name("renamed")));
    assert_ne!(hash(&a), hash(&b));
    assert_eq!(b.into_values().collect::<Vec<_>>(), [1, 3]);
}

#[test]
fn std_hash_map_extras_behave_as_std_and_extend_by_reference_is_a_write() {
    memory();
    let clock = ManualClock::new();
    let m = Mutex::new(
        HashMap::<u64, u64>::new()
            .with_name("api-std-extras")
            .with_clock(clock),
    );
    {
        let mut g = m.lock().unwrap();
        g.try_reserve(100).unwrap();
        assert!(g.capacity() >= 100);
        g.shrink_to(0);
        assert!(g.try_reserve(usize::MAX).is_err());
    }
    let more = std::collections::HashMap::from([(1u64, 1u64), (2, 2)]);
    on("a", || m.lock().unwrap().extend(&more));
    on("b", || m.lock().unwrap().extend(&more));
    let f = found(ConcurrentWrite, "api-std-extras");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].accesses[1].op, Op::Extend);
    let m = m.into_inner().unwrap();
    let mut keys: Vec<_> = m.clone().into_keys().collect();
    keys.sort_unstable();
    assert_eq!(keys, [1, 2]);
    assert_eq!(m.into_values().sum::<u64>(), 3);
}

#[test]
fn dashmap_operators_are_checked_as_the_calls_they_stand_for() {
    memory();
    let m: DashMap<u64, u64> = DashMap::named("api-ops").with_clock(ManualClock::new());
    let at = here();
    on("a", || &m << (1, 1));
    on("b", || &m << (1, 2));
    assert_eq!(*(&m >> &1), 2);
    *(&m | &1) += 1;
    assert!(&m & &1);
    assert_eq!(&m - &1, Some((1, 3)));
    let f = found(ConcurrentWrite, "api-ops");
    assert!(!f.is_empty());
    let first = &f[0];
    assert_eq!(
        (first.accesses[0].op, first.accesses[1].op),
        (Op::Insert, Op::Insert)
    );
    assert_eq!(first.accesses[1].site.line, at.1 + 2);
}

#[test]
fn a_downgraded_guard_is_a_read_guard() {
    memory();
    let m: DashMap<u64, u64> = DashMap::named("api-downgrade")
        .with_clock(ManualClock::new())
        .with_rules(Rules::NONE.with(ReentrantAccess))
        .with_reaction(Reaction::Panic);
    m.insert(1, 1);
    let lines = Mutex::new((here(), here()));
    must_panic("insert under a downgraded RefMut", || {
        let w = m.get_mut(&1).unwrap();
        lines.lock().unwrap().0 = here();
        let r = w.downgrade();
        // A read under a read guard: dashmap lets it in, mapguard says nothing.
        assert_eq!(m.get(&1).map(|g| *g), Some(1));
        assert_eq!(m.len(), 1);
        lines.lock().unwrap().1 = here();
        m.insert(2, 2);
        drop(r);
    });
    let (downgraded_at, insert_at) = lines.into_inner().unwrap();
    let f = found(ReentrantAccess, "api-downgrade");
    assert_eq!(f.len(), 1, "{f:#?}");
    let (held, call) = (&f[0].accesses[0], &f[0].accesses[1]);
    assert_eq!((held.op, call.op), (Op::Downgrade, Op::Insert));
    assert_eq!(held.site.line, downgraded_at.1 + 1);
    assert_eq!(call.site.line, insert_at.1 + 1);
    // The read really shares the lock: another thread's try_get gets in.
    let r = m.get_mut(&1).unwrap().downgrade();
    assert!(on("other", || m.try_get(&1).try_unwrap().is_some()));
    drop(r);
}

#[test]
fn std_maps_are_unwind_safe_as_std_maps_are() {
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>(_: &T) {}
    let h: HashMap<u64, u64> = HashMap::new();
    let b: BTreeMap<u64, u64> = BTreeMap::new();
    unwind_safe(&h);
    unwind_safe(&b);
    let got = std::panic::catch_unwind(|| h.get(&1).copied());
    assert_eq!(got.ok(), Some(None));
}

#[test]
fn a_cloned_iterator_is_a_live_iteration_of_its_own() {
    memory();
    let m: DashMap<u64, u64> = DashMap::named("api-iter-clone").with_clock(ManualClock::new());
    m.insert(1, 1);
    m.insert(2, 2);
    let at = here();
    let mut first = m.iter();
    first.next();
    let second = first.clone();
    drop(first);
    // dashmap's clone starts over.
    assert_eq!(second.clone().count(), 2);
    on("writer", || m.insert(3, 3));
    drop(second);
    let f = found(WriteDuringIteration, "api-iter-clone");
    assert_eq!(f.len(), 1, "{f:#?}");
    // The clone keeps the iteration live after the original is gone. The finding
    // names the iteration that started it, not the clone: a known limitation
    // (overlapping iterations share one holder record, see the README's limits).
    let live = f[0].accesses.iter().find(|a| a.op == Op::Iter).unwrap();
    assert_eq!(live.site.line, at.1 + 1, "{f:#?}");
    // Every clone was counted out again: a write now finds no live iteration.
    on("writer-2", || m.insert(4, 4));
    assert_eq!(found(WriteDuringIteration, "api-iter-clone").len(), 1);
}

#[test]
fn maps_built_by_collect_are_named_by_their_type() {
    // collect() calls from_iter from std's own source: every such map used to be
    // named after that one line of std, whatever its type, so their findings
    // counted as one another's repeats. They are named by their type now: stable
    // across runs, as a site is, and shared by the maps of one type built that way,
    // as a site is by the maps built at one line.
    memory();
    let a: DashMap<u64, u64> = (0..2).map(|i| (i, i)).collect();
    let b: DashMap<u64, u64> = (0..2).map(|i| (i, i)).collect();
    let s: HashMap<u64, u64> = (0..2).map(|i| (i, i)).collect();
    let t: BTreeMap<u64, u32> = (0..2).map(|i| (i, 0)).collect();
    assert_eq!(
        a.name(),
        "unnamed DashMap<u64, u64> built inside std or rayon (name it with with_name)"
    );
    assert_eq!(a.name(), b.name());
    assert!(
        s.name().starts_with("unnamed HashMap<u64, u64> "),
        "{}",
        s.name()
    );
    assert!(
        t.name().starts_with("unnamed BTreeMap<u64, u32> "),
        "{}",
        t.name()
    );
    let a = a.with_clock(ManualClock::new());
    let s = RwLock::new(s.with_clock(ManualClock::new()));
    on("a", || a.insert(1, 1));
    on("b", || a.insert(1, 2));
    on("a", || s.write().unwrap().insert(1, 1));
    on("b", || s.write().unwrap().insert(1, 2));
    assert_eq!(found(ConcurrentWrite, a.name()).len(), 1);
    let sn = s.read().unwrap().name().to_owned();
    assert_eq!(found(ConcurrentWrite, &sn).len(), 1);
    // A map built by a call in the user's code keeps its file:line.
    let at = here();
    let c: HashMap<u64, u64> = HashMap::from_iter([(1, 1)]);
    assert_eq!(c.name(), format!("{}:{}", at.0, at.1 + 1));
}

#[test]
fn btree_extends_by_reference_as_std_does() {
    let src = std::collections::BTreeMap::from([(1u8, 10u8), (2, 20)]);
    let mut b: mapguard::BTreeMap<u8, u8> = mapguard::BTreeMap::named("btree-extend-ref");
    b.extend(src.iter());
    b.extend([(&3u8, &30u8)]);
    assert_eq!(
        b.inner(),
        &std::collections::BTreeMap::from([(1, 10), (2, 20), (3, 30)])
    );
}

/// std's `&mut self` methods newer than the crate's minimum Rust, where the compiler
/// has them (no `DerefMut` reaches them unchecked).
#[rustversion::since(1.91)]
#[test]
fn newer_std_methods_are_there_and_behave_as_std() {
    let mut h: mapguard::HashMap<u8, u8> = mapguard::HashMap::named("std-newer");
    h.insert(1, 10);
    h.insert(2, 20);
    if let [Some(a), Some(b)] = h.get_disjoint_mut([&1, &2]) {
        std::mem::swap(a, b);
    }
    let mut out: Vec<(u8, u8)> = h.extract_if(|k, _| *k == 1).collect();
    out.sort_unstable();
    assert_eq!(out, [(1, 20)]);
    assert_eq!(h.get(&2), Some(&10));
    let mut b: mapguard::BTreeMap<u8, u8> = mapguard::BTreeMap::named("btree-newer");
    b.insert(1, 1);
    b.insert(2, 2);
    let out: Vec<(u8, u8)> = b.extract_if(.., |k, _| *k == 2).collect();
    assert_eq!(out, [(2, 2)]);
    assert_eq!(b.len(), 1);
}
