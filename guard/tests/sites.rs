//! Every checked call names the caller's line, not one inside mapguard: each op
//! below, made on thread `b` right after thread `a` wrote the map (mode `accesses`,
//! map scope), completes a finding whose last access must be at a line of this file.
// Each call is made for its booking; `drop` discards what it returns, guard or not.
#![allow(dropping_copy_types, dropping_references, clippy::drop_non_drop)]

mod common;

use std::sync::Mutex;

use common::{all_on, here, memory, on};
use mapguard::{BTreeMap, DashMap, FindingKind, HashMap, ManualClock, Mode, Rules};

fn this_file() -> String {
    here().0
}

fn check(name: &str) -> Vec<String> {
    let f = all_on(name);
    let mut bad = vec![];
    if f.is_empty() {
        bad.push(format!("{name}: no finding"));
    }
    for f in &f {
        let last = f.accesses.last().unwrap();
        if last.site.file != this_file() {
            bad.push(format!(
                "{name}: {} {} at {}:{}",
                f.kind, last.op, last.site.file, last.site.line
            ));
        }
    }
    bad
}

fn dash(name: &'static str, op: impl FnOnce(&DashMap<u64, u64>) + Send) -> Vec<String> {
    let m: DashMap<u64, u64> = DashMap::named(name)
        .with_clock(ManualClock::new())
        .with_mode(Mode::Accesses)
        .with_rules(Rules::ALL.without(FindingKind::ReentrantAccess));
    m.insert(1, 1);
    m.insert(2, 2);
    on("a", || m.insert(3, 3));
    on("b", || op(&m));
    check(name)
}

fn hash(name: &'static str, op: impl FnOnce(&mut HashMap<u64, u64>) + Send) -> Vec<String> {
    let m: Mutex<HashMap<u64, u64>> = Mutex::new(
        HashMap::named(name)
            .with_clock(ManualClock::new())
            .with_mode(Mode::Accesses),
    );
    m.lock().unwrap().insert(1, 1);
    m.lock().unwrap().insert(2, 2);
    on("a", || m.lock().unwrap().insert(3, 3));
    on("b", || op(&mut m.lock().unwrap()));
    check(name)
}

fn btree(name: &'static str, op: impl FnOnce(&mut BTreeMap<u64, u64>) + Send) -> Vec<String> {
    let m: Mutex<BTreeMap<u64, u64>> = Mutex::new(
        BTreeMap::named(name)
            .with_clock(ManualClock::new())
            .with_mode(Mode::Accesses),
    );
    m.lock().unwrap().insert(1, 1);
    m.lock().unwrap().insert(2, 2);
    on("a", || m.lock().unwrap().insert(3, 3));
    on("b", || op(&mut m.lock().unwrap()));
    check(name)
}

#[test]
fn every_checked_call_names_the_callers_line() {
    memory();
    let mut bad = vec![];
    bad.extend(dash("s-d-insert", |m| drop(m.insert(1, 5))));
    bad.extend(dash("s-d-remove", |m| drop(m.remove(&1))));
    bad.extend(dash("s-d-remove_if", |m| {
        drop(m.remove_if(&1, |_, _| true))
    }));
    bad.extend(dash("s-d-remove_if_mut", |m| {
        drop(m.remove_if_mut(&1, |_, _| true))
    }));
    bad.extend(dash("s-d-get", |m| drop(m.get(&1))));
    bad.extend(dash("s-d-get_mut", |m| drop(m.get_mut(&1))));
    bad.extend(dash("s-d-try_get", |m| drop(m.try_get(&1))));
    bad.extend(dash("s-d-try_get_mut", |m| drop(m.try_get_mut(&1))));
    bad.extend(dash("s-d-contains_key", |m| drop(m.contains_key(&1))));
    bad.extend(dash("s-d-view", |m| drop(m.view(&1, |_, v| *v))));
    bad.extend(dash("s-d-entry", |m| drop(m.entry(1))));
    bad.extend(dash("s-d-try_entry", |m| drop(m.try_entry(1))));
    bad.extend(dash("s-d-alter", |m| m.alter(&1, |_, v| v + 1)));
    bad.extend(dash("s-d-alter_all", |m| m.alter_all(|_, v| v + 1)));
    bad.extend(dash("s-d-iter", |m| drop(m.iter())));
    bad.extend(dash("s-d-iter_mut", |m| drop(m.iter_mut())));
    bad.extend(dash("s-d-for", |m| for _ in m {}));
    bad.extend(dash("s-d-iter-clone", |m| {
        let it = m.iter();
        let c = it.clone();
        drop((it, c));
    }));
    bad.extend(dash("s-d-retain", |m| m.retain(|_, _| true)));
    bad.extend(dash("s-d-len", |m| drop(m.len())));
    bad.extend(dash("s-d-is_empty", |m| drop(m.is_empty())));
    bad.extend(dash("s-d-clear", |m| m.clear()));
    bad.extend(dash("s-d-shl", |m| drop(m << (1, 9))));
    bad.extend(dash("s-d-shr", |m| drop(m >> &1)));
    bad.extend(dash("s-d-bitor", |m| drop(m | &1)));
    bad.extend(dash("s-d-sub", |m| drop(m - &1)));
    bad.extend(dash("s-d-bitand", |m| drop(m & &1)));
    bad.extend(dash("s-d-snapshot", |m| drop(m.snapshot())));
    bad.extend(dash("s-d-get_cloned", |m| drop(m.get_cloned(&1))));
    bad.extend(dash("s-d-get_or_default", |m| drop(m.get_or_default(&1))));
    bad.extend(dash("s-d-update", |m| drop(m.update(&1, |v| *v += 1))));
    bad.extend(dash("s-d-compute", |m| drop(m.compute(1, |v| v.copied()))));
    bad.extend(dash("s-d-get_or_insert_with", |m| {
        drop(m.get_or_insert_with(1, || 0))
    }));
    bad.extend(dash("s-d-insert_if_absent", |m| {
        drop(m.insert_if_absent(1, 0))
    }));
    bad.extend(dash("s-d-remove_if_eq", |m| drop(m.remove_if_eq(&1, &1))));

    bad.extend(hash("s-h-insert", |m| drop(m.insert(1, 5))));
    bad.extend(hash("s-h-get", |m| drop(m.get(&1))));
    bad.extend(hash("s-h-get_key_value", |m| drop(m.get_key_value(&1))));
    bad.extend(hash("s-h-get_mut", |m| drop(m.get_mut(&1))));
    bad.extend(hash("s-h-contains_key", |m| drop(m.contains_key(&1))));
    bad.extend(hash("s-h-remove", |m| drop(m.remove(&1))));
    bad.extend(hash("s-h-remove_entry", |m| drop(m.remove_entry(&1))));
    bad.extend(hash("s-h-entry", |m| drop(m.entry(1))));
    bad.extend(hash("s-h-iter", |m| drop(m.iter())));
    bad.extend(hash("s-h-iter_mut", |m| drop(m.iter_mut())));
    bad.extend(hash("s-h-keys", |m| drop(m.keys())));
    bad.extend(hash("s-h-values", |m| drop(m.values())));
    bad.extend(hash("s-h-values_mut", |m| drop(m.values_mut())));
    bad.extend(hash("s-h-drain", |m| drop(m.drain())));
    bad.extend(hash("s-h-retain", |m| m.retain(|_, _| true)));
    bad.extend(hash("s-h-clear", |m| m.clear()));
    bad.extend(hash("s-h-extend", |m| m.extend([(7, 7)])));
    bad.extend(hash("s-h-extend-ref", |m| m.extend([(&7, &7)])));
    bad.extend(hash("s-h-index", |m| drop(m[&1])));
    bad.extend(hash("s-h-for", |m| for _ in &*m {}));
    bad.extend(hash("s-h-for-mut", |m| for _ in &mut *m {}));
    bad.extend(hash("s-h-snapshot", |m| drop(m.snapshot())));
    bad.extend(hash("s-h-get_cloned", |m| drop(m.get_cloned(&1))));
    bad.extend(hash("s-h-get_or_default", |m| drop(m.get_or_default(&1))));
    bad.extend(hash("s-h-update", |m| drop(m.update(&1, |v| *v += 1))));
    bad.extend(hash("s-h-compute", |m| drop(m.compute(1, |v| v.copied()))));
    bad.extend(hash("s-h-get_or_insert_with", |m| {
        drop(m.get_or_insert_with(1, || 0))
    }));
    bad.extend(hash("s-h-insert_if_absent", |m| {
        drop(m.insert_if_absent(1, 0))
    }));
    bad.extend(hash("s-h-remove_if_eq", |m| drop(m.remove_if_eq(&1, &1))));
    bad.extend(hash("s-h-len", |m| drop(m.len())));
    bad.extend(hash("s-h-is_empty", |m| drop(m.is_empty())));

    bad.extend(btree("s-b-insert", |m| drop(m.insert(1, 5))));
    bad.extend(btree("s-b-get", |m| drop(m.get(&1))));
    bad.extend(btree("s-b-get_key_value", |m| drop(m.get_key_value(&1))));
    bad.extend(btree("s-b-get_mut", |m| drop(m.get_mut(&1))));
    bad.extend(btree("s-b-contains_key", |m| drop(m.contains_key(&1))));
    bad.extend(btree("s-b-remove", |m| drop(m.remove(&1))));
    bad.extend(btree("s-b-remove_entry", |m| drop(m.remove_entry(&1))));
    bad.extend(btree("s-b-entry", |m| drop(m.entry(1))));
    bad.extend(btree("s-b-iter", |m| drop(m.iter())));
    bad.extend(btree("s-b-iter_mut", |m| drop(m.iter_mut())));
    bad.extend(btree("s-b-keys", |m| drop(m.keys())));
    bad.extend(btree("s-b-values", |m| drop(m.values())));
    bad.extend(btree("s-b-values_mut", |m| drop(m.values_mut())));
    bad.extend(btree("s-b-retain", |m| m.retain(|_, _| true)));
    bad.extend(btree("s-b-clear", |m| m.clear()));
    bad.extend(btree("s-b-pop_first", |m| drop(m.pop_first())));
    bad.extend(btree("s-b-pop_last", |m| drop(m.pop_last())));
    bad.extend(btree("s-b-range", |m| drop(m.range(0..2))));
    bad.extend(btree("s-b-range_mut", |m| drop(m.range_mut(0..2))));
    bad.extend(btree("s-b-first_key_value", |m| drop(m.first_key_value())));
    bad.extend(btree("s-b-last_key_value", |m| drop(m.last_key_value())));
    bad.extend(btree("s-b-first_entry", |m| drop(m.first_entry())));
    bad.extend(btree("s-b-last_entry", |m| drop(m.last_entry())));
    bad.extend(btree("s-b-split_off", |m| drop(m.split_off(&2))));
    bad.extend(btree("s-b-append", |m| m.append(&mut BTreeMap::new())));
    bad.extend(btree("s-b-extend", |m| m.extend([(7, 7)])));
    bad.extend(btree("s-b-extend-ref", |m| m.extend([(&7, &7)])));
    bad.extend(btree("s-b-len", |m| drop(m.len())));
    bad.extend(btree("s-b-is_empty", |m| drop(m.is_empty())));
    bad.extend(btree("s-b-index", |m| drop(m[&1])));
    bad.extend(btree("s-b-for", |m| for _ in &*m {}));
    bad.extend(btree("s-b-for-mut", |m| for _ in &mut *m {}));
    bad.extend(btree("s-b-get_cloned", |m| drop(m.get_cloned(&1))));
    bad.extend(btree("s-b-get_or_default", |m| drop(m.get_or_default(&1))));
    bad.extend(btree("s-b-update", |m| drop(m.update(&1, |v| *v += 1))));
    bad.extend(btree("s-b-compute", |m| drop(m.compute(1, |v| v.copied()))));
    bad.extend(btree("s-b-get_or_insert_with", |m| {
        drop(m.get_or_insert_with(1, || 0))
    }));
    bad.extend(btree("s-b-insert_if_absent", |m| {
        drop(m.insert_if_absent(1, 0))
    }));
    bad.extend(btree("s-b-remove_if_eq", |m| drop(m.remove_if_eq(&1, &1))));
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The std methods newer than the crate's minimum Rust, where the compiler has them.
#[rustversion::since(1.91)]
#[test]
fn newer_std_methods_name_the_callers_line() {
    memory();
    let mut bad = Vec::new();
    bad.extend(hash("s-h-extract_if", |m| drop(m.extract_if(|_, _| false))));
    bad.extend(hash("s-h-get_disjoint_mut", |m| {
        drop(m.get_disjoint_mut([&1, &2]))
    }));
    bad.extend(btree("s-b-extract_if", |m| {
        drop(m.extract_if(.., |_, _| false))
    }));
    assert!(bad.is_empty(), "{bad:#?}");
}
