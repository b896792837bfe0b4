//! mapguard built with feature `compile-out` is the plain maps: the same sizes, the
//! same API (every constructor and setting compiles), the same results, and nothing
//! is ever checked, even with a config installed and two threads racing.
//!
//! Each map's script is written once, in a macro, and expanded for the guarded map
//! and for the plain one; the two logs of results must be equal.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::collections::{BTreeMap as StdBTreeMap, HashMap as StdHashMap};
use std::fmt::Debug;
use std::hash::BuildHasherDefault;
use std::mem::{align_of, size_of};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use dashmap::try_result::TryResult;
use mapguard::{BacktraceMode, FindingKind, ManualClock, Mode, Reaction, Rules, Scope};

type Fixed = BuildHasherDefault<DefaultHasher>;

/// The results a script saw, in order.
#[derive(Default)]
struct Log(Vec<String>);

impl Log {
    fn push(&mut self, value: impl Debug) {
        self.0.push(format!("{value:?}"));
    }
}

/// `s` with every hex address (`0x7f..`) replaced by `0x_`: dashmap's guards print
/// the addresses of their key and value.
fn without_addresses(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        out.push_str("0x_");
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

/// Names of this process's threads that belong to mapguard (Linux: /proc).
fn mapguard_threads() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("Linux /proc");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("mapguard"))
        .collect()
}

fn sorted(mut pairs: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    pairs.sort_unstable();
    pairs
}

// ---- (a) and (b): the feature is on, and the types are the plain ones' size ----------

#[test]
fn is_compiled_out() {
    assert!(mapguard::is_compiled_out());
}

macro_rules! same_layout {
    ($guarded:ty, $plain:ty) => {
        assert_eq!(
            size_of::<$guarded>(),
            size_of::<$plain>(),
            "size of {} and {}",
            stringify!($guarded),
            stringify!($plain)
        );
        assert_eq!(
            align_of::<$guarded>(),
            align_of::<$plain>(),
            "alignment of {} and {}",
            stringify!($guarded),
            stringify!($plain)
        );
    };
}

#[test]
fn guarded_types_are_the_size_of_the_plain_ones() {
    same_layout!(mapguard::DashMap<u64, u64>, dashmap::DashMap<u64, u64>);
    same_layout!(mapguard::HashMap<u64, u64>, StdHashMap<u64, u64>);
    same_layout!(mapguard::BTreeMap<u64, u64>, StdBTreeMap<u64, u64>);
    same_layout!(
        mapguard::dashmap::Ref<'static, u64, u64>,
        dashmap::mapref::one::Ref<'static, u64, u64>
    );

    // The rest of the guards and the other hashers, and the niche stays.
    same_layout!(mapguard::DashMap<u64, u64, Fixed>, dashmap::DashMap<u64, u64, Fixed>);
    same_layout!(mapguard::HashMap<u64, u64, Fixed>, StdHashMap<u64, u64, Fixed>);
    same_layout!(
        Option<mapguard::DashMap<u64, u64>>,
        Option<dashmap::DashMap<u64, u64>>
    );
    same_layout!(
        Option<mapguard::HashMap<u64, u64>>,
        Option<StdHashMap<u64, u64>>
    );
    same_layout!(
        Option<mapguard::BTreeMap<u64, u64>>,
        Option<StdBTreeMap<u64, u64>>
    );
    same_layout!(
        mapguard::dashmap::RefMut<'static, u64, u64>,
        dashmap::mapref::one::RefMut<'static, u64, u64>
    );
    same_layout!(
        mapguard::dashmap::MappedRef<'static, u64, u64, u32>,
        dashmap::mapref::one::MappedRef<'static, u64, u64, u32>
    );
    same_layout!(
        mapguard::dashmap::MappedRefMut<'static, u64, u64, u32>,
        dashmap::mapref::one::MappedRefMut<'static, u64, u64, u32>
    );
    same_layout!(
        mapguard::dashmap::Entry<'static, u64, u64>,
        dashmap::mapref::entry::Entry<'static, u64, u64>
    );
    same_layout!(
        mapguard::dashmap::OccupiedEntry<'static, u64, u64>,
        dashmap::mapref::entry::OccupiedEntry<'static, u64, u64>
    );
    same_layout!(
        mapguard::dashmap::VacantEntry<'static, u64, u64>,
        dashmap::mapref::entry::VacantEntry<'static, u64, u64>
    );
    same_layout!(
        mapguard::dashmap::Iter<'static, u64, u64>,
        dashmap::iter::Iter<'static, u64, u64, RandomState, dashmap::DashMap<u64, u64>>
    );
    same_layout!(
        mapguard::dashmap::IterMut<'static, u64, u64>,
        dashmap::iter::IterMut<'static, u64, u64, RandomState, dashmap::DashMap<u64, u64>>
    );
}

/// The types mapguard re-exports are the plain ones (this only has to compile).
#[test]
fn re_exported_types_are_the_plain_ones() {
    let _: dashmap::try_result::TryResult<u8> = mapguard::dashmap::TryResult::Absent;
    fn same<T>(_: Option<T>, _: Option<T>) {}
    same::<std::collections::hash_map::Entry<'static, u64, u64>>(
        None::<mapguard::hash_map::Entry<'static, u64, u64>>,
        None,
    );
    same::<std::collections::btree_map::Entry<'static, u64, u64>>(
        None::<mapguard::btree_map::Entry<'static, u64, u64>>,
        None,
    );
    same::<dashmap::mapref::multiple::RefMulti<'static, u64, u64>>(
        None::<mapguard::dashmap::RefMulti<'static, u64, u64>>,
        None,
    );
}

// ---- (c) the API, with results compared to the plain maps -----------------------------

/// Every per-map setting, with one set of values, then the other (`$m` by value).
macro_rules! with_all_settings {
    ($m:expr) => {{
        let m = $m
            .with_scope(Scope::Key)
            .with_window(Duration::from_millis(5))
            .with_mode(Mode::Accesses)
            .with_rules(Rules::ALL.without(FindingKind::ConcurrentWrite))
            .with_backtrace(BacktraceMode::Always)
            .with_reaction(Reaction::Panic)
            .with_key_slots(64)
            .with_clock(ManualClock::new())
            .with_name("renamed")
            .with_scope(Scope::Map)
            .with_window(Duration::from_secs(1))
            .with_mode(Mode::Writes)
            .with_rules(Rules::NONE.with(FindingKind::LostUpdate))
            .with_backtrace(BacktraceMode::Off)
            .with_backtrace(BacktraceMode::OnFinding)
            .with_reaction(Reaction::Report)
            .with_reaction(Reaction::Call(Arc::new(|f: &mapguard::Finding| {
                panic!("compiled out, yet called with {f:?}")
            })))
            .with_name(String::from("renamed-owned"));
        // Compiled out, a map keeps no name; whatever it says, asking compiles.
        let _: &str = m.name();
        m
    }};
}

/// Runs the DashMap script on an empty map `$map`; `$entry` is the path of the
/// map's `Entry` enum. Evaluates to the log. Every guard is dropped before a call
/// that could wait for its lock (the plain dashmap would deadlock).
macro_rules! dash_script {
    ($map:expr, $($entry:ident)::+) => {{
        let mut m = $map;
        let mut log = Log::default();
        log.push((m.len(), m.is_empty()));
        for k in 0..40u64 {
            log.push(m.insert(k, k * 10));
        }
        assert_eq!(m.insert(3, 33), Some(30));
        log.push((m.len(), m.is_empty()));

        // Ref, and what can be done while holding one.
        {
            let r = m.get(&3).expect("3 is present");
            log.push((*r.key(), *r.value(), r.pair(), *r));
            log.push(without_addresses(&format!("{r:?}")));
            assert!(m.try_get_mut(&3).is_locked());
            assert!(m.try_entry(3).is_none());
            log.push(m.try_get(&3).is_present());
            // A read under a read guard: `reentrant_access` when checked, nothing here
            // (and the map may be set to panic on findings).
            log.push(m.contains_key(&3));
        }
        log.push(m.get(&1000).is_none());
        {
            let r = m.get(&4).expect("4 is present").map(|v| v);
            log.push((*r.key(), *r.value(), *r));
        }
        match m.get(&4).expect("4 is present").try_map(|v| (*v > 1000).then_some(v)) {
            Ok(_) => panic!("40 is not above 1000"),
            Err(r) => log.push(*r),
        }
        match m.get(&4).expect("4 is present").try_map(|v| (*v < 1000).then_some(v)) {
            Ok(r) => log.push((*r.key(), *r.value())),
            Err(_) => panic!("40 is below 1000"),
        }

        // RefMut.
        {
            let mut r = m.get_mut(&5).expect("5 is present");
            log.push((*r.key(), *r.value()));
            *r.value_mut() += 1;
            *r += 1;
            let (k, v) = r.pair_mut();
            *v += *k;
            log.push(r.pair());
            log.push(without_addresses(&format!("{r:?}")));
            let d = r.downgrade();
            log.push((*d.key(), *d));
        }
        {
            let mut r = m.get_mut(&6).expect("6 is present").map(|v| v);
            *r.value_mut() += 7;
            *r += 1;
            log.push((*r.key(), *r.value(), *r));
        }
        match m.get_mut(&7).expect("7 is present").try_map(|v| (*v == 0).then_some(v)) {
            Ok(_) => panic!("70 is not 0"),
            Err(mut r) => {
                *r += 2;
                log.push(*r);
            }
        }
        log.push(m.get_mut(&1000).is_none());

        // try_get, try_get_mut, contains_key, view.
        match m.try_get(&8) {
            TryResult::Present(r) => log.push(*r),
            _ => panic!("8 is present and unlocked"),
        }
        log.push(m.try_get(&1000).is_absent());
        match m.try_get_mut(&8) {
            TryResult::Present(mut r) => *r *= 2,
            _ => panic!("8 is present and unlocked"),
        }
        log.push(m.try_get_mut(&1000).is_absent());
        log.push((m.contains_key(&8), m.contains_key(&1000)));
        log.push((m.view(&8, |k, v| k + v), m.view(&1000, |k, v| k + v)));

        // remove, remove_if, remove_if_mut.
        log.push((m.remove(&9), m.remove(&9)));
        log.push(m.remove_if(&10, |_, v| *v == 0));
        log.push(m.remove_if(&10, |_, v| *v == 100));
        log.push(m.remove_if_mut(&11, |_, v| {
            *v += 1;
            false
        }));
        log.push(m.get(&11).map(|r| *r));
        log.push(m.remove_if_mut(&11, |_, v| *v == 111));

        // Entries.
        {
            let e = m.entry(12);
            log.push((*e.key(), matches!(e, $($entry)::+::Occupied(_))));
        }
        log.push(*m.entry(12).and_modify(|v| *v += 1).or_insert(0));
        log.push(*m.entry(100).and_modify(|v| *v += 1).or_insert(7));
        log.push(*m.entry(101).or_default());
        log.push(*m.entry(102).or_insert_with(|| 9));
        log.push(m.entry(103).or_try_insert_with(|| Err::<u64, &str>("no")).err());
        log.push(m.entry(103).or_try_insert_with(|| Ok::<u64, &str>(3)).map(|r| *r));
        log.push(*m.entry(104).insert(4));
        log.push(*m.entry(104).insert(44));
        {
            let e = m.entry(105).insert_entry(5);
            log.push((*e.key(), *e.get()));
        }
        {
            let e = m.entry(105).insert_entry(55);
            log.push((*e.key(), *e.get()));
        }
        log.push((m.entry(106).into_key(), m.entry(12).into_key()));
        match m.entry(12) {
            $($entry)::+::Occupied(mut o) => {
                log.push((*o.key(), *o.get()));
                *o.get_mut() += 1;
                log.push(o.insert(1200));
                let r = o.into_ref();
                log.push(*r);
            }
            $($entry)::+::Vacant(_) => panic!("12 is present"),
        }
        match m.entry(13) {
            $($entry)::+::Occupied(o) => log.push(o.remove()),
            $($entry)::+::Vacant(_) => panic!("13 is present"),
        }
        match m.entry(14) {
            $($entry)::+::Occupied(o) => log.push(o.remove_entry()),
            $($entry)::+::Vacant(_) => panic!("14 is present"),
        }
        match m.entry(15) {
            $($entry)::+::Occupied(o) => log.push(o.replace_entry(1500)),
            $($entry)::+::Vacant(_) => panic!("15 is present"),
        }
        match m.entry(16) {
            $($entry)::+::Occupied(o) => log.push(o.into_key()),
            $($entry)::+::Vacant(_) => panic!("16 is present"),
        }
        match m.entry(200) {
            $($entry)::+::Vacant(v) => {
                log.push(*v.key());
                log.push(*v.insert(2000));
            }
            $($entry)::+::Occupied(_) => panic!("200 is absent"),
        }
        match m.entry(201) {
            $($entry)::+::Vacant(v) => log.push(*v.insert_entry(2010).get()),
            $($entry)::+::Occupied(_) => panic!("201 is absent"),
        }
        match m.entry(202) {
            $($entry)::+::Vacant(v) => log.push(v.into_key()),
            $($entry)::+::Occupied(_) => panic!("202 is absent"),
        }
        log.push(m.try_entry(203).map(|e| *e.or_insert(2030)));

        // alter, alter_all, iteration, retain.
        m.alter(&17, |k, v| v + k);
        m.alter(&1000, |_, v| v + 1);
        m.alter_all(|k, v| v + k);
        log.push(sorted(m.iter().map(|r| (*r.key(), *r.value())).collect()));
        for mut r in m.iter_mut() {
            let k = *r.key();
            *r.value_mut() += k;
        }
        log.push(sorted(
            (&m).into_iter().map(|r| {
                let (k, v) = r.pair();
                (*k, *v)
            })
            .collect(),
        ));
        m.retain(|k, v| {
            *v += 1;
            k % 3 != 0
        });
        log.push(sorted(m.iter().map(|r| (*r.key(), *r.value())).collect()));
        log.push((m.len(), m.is_empty(), m.capacity() >= m.len()));
        let _ = m.hasher();
        // The order depends on the hasher's seed; the length does not.
        log.push(format!("{m:?}").len());

        // Clone, Extend, IntoIterator, clear, shrink_to_fit.
        let c = m.clone();
        log.push(sorted(c.iter().map(|r| (*r.key(), *r.value())).collect()));
        m.extend([(1, 1), (2000, 2)]);
        log.push(sorted(m.iter().map(|r| (*r.key(), *r.value())).collect()));
        log.push(sorted(c.into_iter().collect()));
        m.clear();
        log.push((m.len(), m.is_empty()));
        m.shrink_to_fit();
        log.push(m.capacity());
        log.0
    }};
}

fn plain_dash_log() -> Vec<String> {
    dash_script!(dashmap::DashMap::<u64, u64>::new(), dashmap::Entry)
}

#[test]
fn dashmap_constructors_and_settings_behave_as_plain() {
    use mapguard::DashMap;
    let want = plain_dash_log();
    assert!(want.len() > 60, "the script ran: {want:?}");
    macro_rules! same {
        ($map:expr) => {
            assert_eq!(
                dash_script!($map, mapguard::dashmap::Entry),
                want,
                "{}",
                stringify!($map)
            )
        };
    }
    same!(DashMap::<u64, u64>::new());
    same!(DashMap::<u64, u64>::named("static"));
    same!(DashMap::<u64, u64>::named(String::from("owned")));
    same!(DashMap::<u64, u64>::with_capacity(64));
    same!(DashMap::<u64, u64>::with_shard_amount(4));
    same!(DashMap::<u64, u64, RandomState>::with_hasher(
        RandomState::new()
    ));
    same!(DashMap::<u64, u64, Fixed>::with_hasher(Fixed::default()));
    same!(DashMap::<u64, u64, Fixed>::with_capacity_and_hasher(
        16,
        Fixed::default()
    ));
    same!(DashMap::<u64, u64>::default());
    same!(DashMap::<u64, u64>::from_iter(std::iter::empty()));
    same!(DashMap::<u64, u64>::from(dashmap::DashMap::new()));
    same!(with_all_settings!(DashMap::<u64, u64>::new()));
    same!(with_all_settings!(DashMap::<u64, u64>::named("set")).clone());
}

#[test]
fn dashmap_with_contents_behaves_as_plain() {
    let pairs = [(1u64, 10u64), (2, 20), (3, 30)];
    let from_iter: mapguard::DashMap<u64, u64> = pairs.into_iter().collect();
    let from_plain = mapguard::DashMap::from(pairs.into_iter().collect::<dashmap::DashMap<_, _>>());
    let plain: dashmap::DashMap<u64, u64> = pairs.into_iter().collect();
    let want = sorted(plain.iter().map(|r| (*r.key(), *r.value())).collect());
    for m in [from_iter, from_plain] {
        assert_eq!(
            sorted(m.inner().iter().map(|r| (*r.key(), *r.value())).collect()),
            want
        );
        assert_eq!(m.get(&2).map(|r| *r), plain.get(&2).map(|r| *r));
        assert_eq!(m.len(), plain.len());
        assert_eq!(sorted(m.into_inner().into_iter().collect()), want);
    }
    assert_eq!(
        mapguard::DashMap::<u64, u64>::with_capacity(100).capacity(),
        dashmap::DashMap::<u64, u64>::with_capacity(100).capacity()
    );
}

/// Runs the HashMap script on an empty map `$map`. Evaluates to the log.
macro_rules! hash_script {
    ($map:expr) => {{
        use std::collections::hash_map::Entry;
        let mut m = $map;
        let mut log = Log::default();
        log.push((m.len(), m.is_empty()));
        for k in 0..40u64 {
            log.push(m.insert(k, k * 10));
        }
        assert_eq!(m.insert(3, 33), Some(30));
        log.push((m.get(&3).copied(), m.get(&1000), m.get_key_value(&3), m[&3]));
        if let Some(v) = m.get_mut(&4) {
            *v += 1;
        }
        log.push(m.get_mut(&1000).is_none());
        log.push((m.contains_key(&4), m.contains_key(&1000)));
        log.push((m.remove(&5), m.remove(&5)));
        log.push((m.remove_entry(&6), m.remove_entry(&6)));
        match m.entry(7) {
            Entry::Occupied(mut o) => {
                log.push((*o.key(), *o.get()));
                *o.get_mut() += 1;
                log.push(o.insert(70));
            }
            Entry::Vacant(_) => panic!("7 is present"),
        }
        match m.entry(7) {
            Entry::Occupied(o) => log.push(o.remove_entry()),
            Entry::Vacant(_) => panic!("7 is present"),
        }
        match m.entry(7) {
            Entry::Vacant(v) => {
                log.push(*v.key());
                log.push(*v.insert(77));
            }
            Entry::Occupied(_) => panic!("7 is absent"),
        }
        log.push(*m.entry(8).and_modify(|v| *v += 1).or_insert(0));
        log.push(*m.entry(100).or_default());
        log.push(*m.entry(101).or_insert_with(|| 5));
        log.push(*m.entry(102).or_insert_with_key(|k| k * 2));
        log.push(m.entry(103).key());
        for (k, v) in m.iter_mut() {
            *v += k;
        }
        for (_, v) in &mut m {
            *v += 1;
        }
        for v in m.values_mut() {
            *v *= 2;
        }
        log.push(sorted(m.iter().map(|(k, v)| (*k, *v)).collect()));
        log.push(sorted((&m).into_iter().map(|(k, v)| (*k, *v)).collect()));
        let mut keys: Vec<u64> = m.keys().copied().collect();
        keys.sort_unstable();
        let mut values: Vec<u64> = m.values().copied().collect();
        values.sort_unstable();
        log.push((keys, values));
        m.retain(|k, v| {
            *v += 1;
            k % 3 != 0
        });
        log.push(sorted(m.iter().map(|(k, v)| (*k, *v)).collect()));
        log.push((m.len(), m.is_empty(), m.capacity() >= m.len()));
        let _ = m.hasher();
        log.push(format!("{m:?}").len());
        m.reserve(100);
        log.push(m.capacity() >= m.len() + 100);
        m.shrink_to_fit();
        log.push(m.capacity() >= m.len());
        let c = m.clone();
        log.push(c == m);
        m.extend([(1, 1), (2000, 2)]);
        log.push(c == m);
        log.push(sorted(m.drain().collect()));
        log.push((m.len(), m.is_empty()));
        log.push(sorted(c.into_iter().collect()));
        m.insert(1, 1);
        m.clear();
        log.push((m.len(), m.is_empty()));
        log.0
    }};
}

#[test]
fn hash_map_constructors_and_settings_behave_as_std() {
    use mapguard::HashMap;
    let want = hash_script!(StdHashMap::<u64, u64>::new());
    assert!(want.len() > 40, "the script ran: {want:?}");
    macro_rules! same {
        ($map:expr) => {
            assert_eq!(hash_script!($map), want, "{}", stringify!($map))
        };
    }
    same!(HashMap::<u64, u64>::new());
    same!(HashMap::<u64, u64>::named("static"));
    same!(HashMap::<u64, u64>::named(String::from("owned")));
    same!(HashMap::<u64, u64>::with_capacity(64));
    same!(HashMap::<u64, u64, RandomState>::with_hasher(
        RandomState::new()
    ));
    same!(HashMap::<u64, u64, Fixed>::with_hasher(Fixed::default()));
    same!(HashMap::<u64, u64, Fixed>::with_capacity_and_hasher(
        16,
        Fixed::default()
    ));
    same!(HashMap::<u64, u64>::default());
    same!(HashMap::<u64, u64>::from_iter(std::iter::empty()));
    same!(HashMap::<u64, u64>::from(StdHashMap::new()));
    same!(HashMap::<u64, u64>::from([]));
    same!(with_all_settings!(HashMap::<u64, u64>::new()));
    same!(with_all_settings!(HashMap::<u64, u64>::named("set")).clone());
}

#[test]
fn hash_map_with_contents_behaves_as_std() {
    let pairs = [(1u64, 10u64), (2, 20), (3, 30)];
    let plain = StdHashMap::from(pairs);
    let maps: [mapguard::HashMap<u64, u64>; 3] = [
        pairs.into_iter().collect(),
        mapguard::HashMap::from(plain.clone()),
        mapguard::HashMap::from(pairs),
    ];
    for m in maps {
        assert_eq!(m.inner(), &plain);
        assert_eq!(*m, plain);
        assert_eq!(m.get(&2), plain.get(&2));
        assert_eq!(m[&3], plain[&3]);
        assert_eq!(m.into_inner(), plain);
    }
    let m = mapguard::HashMap::<u64, u64>::with_capacity(100);
    assert!(m.capacity() >= 100);
}

/// Runs the BTreeMap script on an empty map `$map`. Evaluates to the log. Order is
/// deterministic, so nothing is sorted.
macro_rules! btree_script {
    ($map:expr) => {{
        use std::collections::btree_map::Entry;
        let mut m = $map;
        let mut log = Log::default();
        log.push((m.len(), m.is_empty(), m.first_key_value()));
        log.push(m.pop_first());
        for k in 0..40u64 {
            log.push(m.insert(k, k * 10));
        }
        assert_eq!(m.insert(3, 33), Some(30));
        log.push((m.get(&3).copied(), m.get(&1000), m.get_key_value(&3), m[&3]));
        if let Some(v) = m.get_mut(&4) {
            *v += 1;
        }
        log.push(m.get_mut(&1000).is_none());
        log.push((m.contains_key(&4), m.contains_key(&1000)));
        log.push((m.remove(&5), m.remove(&5)));
        match m.entry(7) {
            Entry::Occupied(mut o) => {
                log.push((*o.key(), *o.get()));
                *o.get_mut() += 1;
                log.push(o.insert(70));
            }
            Entry::Vacant(_) => panic!("7 is present"),
        }
        match m.entry(7) {
            Entry::Occupied(o) => log.push(o.remove_entry()),
            Entry::Vacant(_) => panic!("7 is present"),
        }
        match m.entry(7) {
            Entry::Vacant(v) => {
                log.push(*v.key());
                log.push(*v.insert(77));
            }
            Entry::Occupied(_) => panic!("7 is absent"),
        }
        log.push(*m.entry(8).and_modify(|v| *v += 1).or_insert(0));
        log.push(*m.entry(100).or_default());
        log.push(*m.entry(101).or_insert_with(|| 5));
        log.push(*m.entry(102).or_insert_with_key(|k| k * 2));
        log.push(m.entry(103).key());
        for (k, v) in m.iter_mut() {
            *v += k;
        }
        for (_, v) in &mut m {
            *v += 1;
        }
        for v in m.values_mut() {
            *v *= 2;
        }
        for (_, v) in m.range_mut(10..20) {
            *v += 3;
        }
        log.push(m.iter().collect::<Vec<_>>());
        log.push((&m).into_iter().collect::<Vec<_>>());
        log.push((m.keys().collect::<Vec<_>>(), m.values().collect::<Vec<_>>()));
        log.push(m.range(5..=15).collect::<Vec<_>>());
        log.push(m.range(..3).collect::<Vec<_>>());
        log.push((
            m.pop_first(),
            m.pop_last(),
            m.first_key_value(),
            m.last_key_value(),
        ));
        m.retain(|k, v| {
            *v += 1;
            k % 3 != 0
        });
        log.push(format!("{m:?}"));
        log.push((m.len(), m.is_empty()));
        let mut tail = m.split_off(&20);
        log.push((format!("{m:?}"), format!("{tail:?}")));
        tail.insert(1, 1);
        m.append(&mut tail);
        log.push((format!("{m:?}"), tail.len()));
        let c = m.clone();
        log.push(c == m);
        m.extend([(2, 2), (2000, 2)]);
        log.push(c == m);
        log.push(c.into_iter().collect::<Vec<_>>());
        m.clear();
        log.push((m.len(), m.is_empty(), m.pop_last()));
        log.0
    }};
}

#[test]
fn btree_map_constructors_and_settings_behave_as_std() {
    use mapguard::BTreeMap;
    let want = btree_script!(StdBTreeMap::<u64, u64>::new());
    assert!(want.len() > 40, "the script ran: {want:?}");
    macro_rules! same {
        ($map:expr) => {
            assert_eq!(btree_script!($map), want, "{}", stringify!($map))
        };
    }
    same!(BTreeMap::<u64, u64>::new());
    same!(BTreeMap::<u64, u64>::named("static"));
    same!(BTreeMap::<u64, u64>::named(String::from("owned")));
    same!(BTreeMap::<u64, u64>::default());
    same!(BTreeMap::<u64, u64>::from_iter(std::iter::empty()));
    same!(BTreeMap::<u64, u64>::from(StdBTreeMap::new()));
    same!(BTreeMap::<u64, u64>::from([]));
    same!(with_all_settings!(BTreeMap::<u64, u64>::new()));
    same!(with_all_settings!(BTreeMap::<u64, u64>::named("set")).clone());
}

#[test]
fn btree_map_with_contents_behaves_as_std() {
    let pairs = [(1u64, 10u64), (2, 20), (3, 30)];
    let plain = StdBTreeMap::from(pairs);
    let maps: [mapguard::BTreeMap<u64, u64>; 3] = [
        pairs.into_iter().collect(),
        mapguard::BTreeMap::from(plain.clone()),
        mapguard::BTreeMap::from(pairs),
    ];
    for m in maps {
        assert_eq!(m.inner(), &plain);
        assert_eq!(*m, plain);
        assert_eq!(format!("{m:?}"), format!("{plain:?}"));
        assert_eq!(m.get(&2), plain.get(&2));
        assert_eq!(m[&3], plain[&3]);
        assert_eq!(m.into_inner(), plain);
    }
}

// ---- (d) nothing is checked, even installed and raced ----------------------------------

#[test]
fn nothing_is_found_with_a_config_installed_and_two_writers() {
    let memory = mapguard::Memory::new();
    mapguard::Config::new()
        .sink(memory.clone())
        .install()
        .expect("valid config");

    // A map set to panic on findings, written by two threads at once: a
    // `concurrent_write` (scope map) and `read_write` (mode accesses) when checked.
    let dash = Arc::new(
        mapguard::DashMap::<u64, u64>::named("raced-dash")
            .with_mode(Mode::Accesses)
            .with_reaction(Reaction::Panic),
    );
    // A single-writer std map behind a lock, written by both threads, with a read and
    // a write under different lock acquisitions: `lost_update` when checked.
    let hash = Arc::new(Mutex::new(
        mapguard::HashMap::<u64, u64>::named("raced-hash").with_reaction(Reaction::Panic),
    ));
    let btree = Arc::new(Mutex::new(mapguard::BTreeMap::<u64, u64>::named(
        "raced-btree",
    )));
    let start = Arc::new(Barrier::new(2));
    let writers: Vec<_> = (0..2u64)
        .map(|t| {
            let (dash, hash, btree, start) =
                (dash.clone(), hash.clone(), btree.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for i in 0..2_000u64 {
                    dash.insert(i % 8, t);
                    *dash.entry(i % 8).or_insert(0) += 1;
                    let _ = dash.get(&(i % 8)).map(|r| *r);
                    let seen = hash.lock().unwrap().get(&0).copied().unwrap_or(0);
                    hash.lock().unwrap().insert(0, seen + 1);
                    btree.lock().unwrap().insert(i % 8, t);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("no writer panics");
    }
    // A locking call while holding a guard into the same map: `reentrant_access`
    // when checked (and a panic, given the map's reaction); here a plain read.
    {
        let _r = dash.get(&1).expect("1 was written");
        assert!(dash.contains_key(&1));
        assert!(dash.try_get_mut(&1).is_locked());
    }

    mapguard::flush();
    assert!(memory.findings().is_empty(), "{:?}", memory.findings());
    // Installed and switched on, it stays off: nothing is checked, and no thread of
    // mapguard's runs (no clock, no reporter).
    mapguard::set_enabled(true);
    assert!(!mapguard::is_enabled());
    assert_eq!(mapguard_threads(), Vec::<String>::new());
    let stats = mapguard::stats();
    assert_eq!(stats.operations, 0);
    assert_eq!(stats, mapguard::Stats::default());
    assert_eq!(dash.len(), 8);
    assert_eq!(hash.lock().unwrap().len(), 1);
    assert_eq!(btree.lock().unwrap().len(), 8);
}

// ---- (e) the defensive API exists compiled out and does the same ---------------------

#[test]
fn defensive_api_behaves_the_same_compiled_out() {
    let dash = mapguard::DashMap::<u64, u64>::named("safe-dash");
    assert_eq!(dash.get_cloned(&1), None);
    assert_eq!(dash.get_or_default(&1), 0);
    assert!(dash.insert_if_absent(1, 10));
    assert!(!dash.insert_if_absent(1, 11));
    assert_eq!(
        dash.update(&1, |v| {
            *v += 1;
            *v
        }),
        Some(11)
    );
    assert_eq!(dash.update(&2, |v| *v), None);
    assert_eq!(
        dash.compute(2, |v| v.map_or(Some(20), |v| Some(v + 1))),
        None
    );
    assert_eq!(dash.compute(2, |v| v.map(|v| v + 1)), Some(20));
    assert_eq!(dash.compute(2, |_| None), Some(21));
    assert_eq!(dash.get_or_insert_with(3, || 30), 30);
    assert_eq!(dash.get_or_insert_with(3, || unreachable!("present")), 30);
    assert!(!dash.remove_if_eq(&3, &31));
    assert!(dash.remove_if_eq(&3, &30));
    let snap = dash.snapshot();
    dash.insert(4, 40);
    assert_eq!(
        (snap.len(), snap.get(&1), snap.get(&4)),
        (1, Some(&11), None)
    );
    assert_eq!(snap.clone().iter().collect::<Vec<_>>(), [(&1, &11)]);
    // Atomic under real threads too, with nothing checked.
    let dash = Arc::new(dash);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let dash = dash.clone();
            thread::spawn(move || {
                for _ in 0..1_000 {
                    dash.update(&1, |v| *v += 1);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(dash.get_cloned(&1), Some(2_011));

    let mut hash = mapguard::HashMap::<u64, u64>::named("safe-hash");
    let mut btree = mapguard::BTreeMap::<u64, u64>::named("safe-btree");
    macro_rules! std_script {
        ($m:expr) => {{
            let m = &mut $m;
            assert!(m.insert_if_absent(1, 10) && !m.insert_if_absent(1, 0));
            assert_eq!((m.get_cloned(&1), m.get_or_default(&9)), (Some(10), 0));
            assert_eq!(m.update(&1, |v| std::mem::replace(v, 12)), Some(10));
            assert_eq!(m.compute(1, |v| v.map(|v| v * 2)), Some(12));
            *m.get_or_insert_with(2, || 5) += 1;
            assert!(!m.remove_if_eq(&2, &5) && m.remove_if_eq(&2, &6));
            (m.get_cloned(&1), m.len())
        }};
    }
    assert_eq!(std_script!(hash), (Some(24), 1));
    assert_eq!(std_script!(btree), (Some(24), 1));
    assert_eq!(hash.snapshot().get(&1), Some(&24));
}
