//! Model tests shared by `tests/model.rs` (guard on) and `tests/model_off.rs` (guard
//! off): random operation sequences over small key/value domains, applied to a
//! guarded map and to the plain map it wraps, comparing every return value and the
//! final contents.
//!
//! Each operation is written once, in a macro, and expanded for both map types, so
//! the guarded and the plain map get exactly the same calls.

#![allow(dead_code)]

use std::collections::{BTreeMap as StdBTreeMap, HashMap as StdHashMap};

use proptest::prelude::*;

/// Keys come from `0..KEYS`, so sequences revisit keys often.
pub const KEYS: u8 = 16;
/// Longest generated sequence.
pub const MAX_OPS: usize = 200;

/// One operation. Not every map has every operation: each map has its own strategy.
#[derive(Clone, Debug)]
pub enum Op {
    Insert(u8, u32),
    Remove(u8),
    Get(u8),
    /// `get_mut`, then add the delta (wrapping) through the returned reference.
    GetMutAdd(u8, u32),
    ContainsKey(u8),
    /// `entry(k).or_insert(v)`, reading the value through the result.
    EntryOrInsert(u8, u32),
    /// `entry(k).and_modify(add delta).or_insert(v)`.
    EntryAndModify(u8, u32, u32),
    /// `retain`, keeping pairs with `(k + v) % m != 0` (m in 2..=4).
    Retain(u32),
    Clear,
    Len,
    IsEmpty,
    /// `iter`, collected and sorted by key.
    Iter,
    /// `iter_mut`, adding the delta to every value.
    IterMutAdd(u32),
    /// `extend` with these pairs.
    Extend(Vec<(u8, u32)>),
    /// DashMap: `alter(k, |_, v| v * 3 + d)`.
    Alter(u8, u32),
    /// DashMap: `alter_all(|k, v| v ^ (k + d))`.
    AlterAll(u32),
    /// DashMap: `remove_if(k, |_, v| v % 2 == parity)`.
    RemoveIf(u8, u32),
    /// DashMap: `view(k, |_, v| v + 1)`.
    View(u8),
    /// HashMap/BTreeMap: `get_key_value`.
    GetKeyValue(u8),
    /// HashMap: `remove_entry`.
    RemoveEntry(u8),
    /// HashMap: `drain`, collected and sorted by key.
    Drain,
    /// BTreeMap: `pop_first`.
    PopFirst,
    /// BTreeMap: `pop_last`.
    PopLast,
    /// BTreeMap: `range(a..=b)` (a <= b), collected in order.
    Range(u8, u8),
    /// BTreeMap: `split_off(k)`, read the tail, then `append` it back.
    SplitOffAppend(u8),
    /// `get_cloned`.
    GetCloned(u8),
    /// `get_or_default`.
    GetOrDefault(u8),
    /// `update(k, add delta)`, returning the new value.
    UpdateAdd(u8, u32),
    /// `compute(k, ..)`: absent -> insert d if d is even; present v -> remove if
    /// v % 3 == 0, else v + d.
    Compute(u8, u32),
    /// `get_or_insert_with(k, || v)`.
    GetOrInsertWith(u8, u32),
    /// `insert_if_absent(k, v)`.
    InsertIfAbsent(u8, u32),
    /// `remove_if_eq(k, v)` with `v` the current value (or 0 if absent) when the
    /// flag is set, `v` as given otherwise.
    RemoveIfEq(u8, u32, bool),
    /// DashMap, HashMap: `snapshot`, collected and sorted by key.
    Snapshot,
}

/// What an operation returned, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
pub enum Res {
    Unit,
    Bool(bool),
    Usize(usize),
    Val(Option<u32>),
    Pair(Option<(u8, u32)>),
    Pairs(Vec<(u8, u32)>),
    /// `split_off`: the pairs moved to the tail, and the length left in the head.
    Split(Vec<(u8, u32)>, usize),
}

fn key() -> impl Strategy<Value = u8> {
    0..KEYS
}

/// Values: mostly small (so parities and sums collide), sometimes anything (so
/// wrapping arithmetic is exercised).
fn val() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..100, 1 => any::<u32>()]
}

fn pairs() -> impl Strategy<Value = Vec<(u8, u32)>> {
    prop::collection::vec((key(), val()), 0..6)
}

/// Operations every map has, with weights that keep the maps mostly non-empty.
fn common_ops() -> BoxedStrategy<Op> {
    prop_oneof![
        12 => (key(), val()).prop_map(|(k, v)| Op::Insert(k, v)),
        4 => key().prop_map(Op::Remove),
        4 => key().prop_map(Op::Get),
        3 => (key(), val()).prop_map(|(k, d)| Op::GetMutAdd(k, d)),
        3 => key().prop_map(Op::ContainsKey),
        4 => (key(), val()).prop_map(|(k, v)| Op::EntryOrInsert(k, v)),
        4 => (key(), val(), val()).prop_map(|(k, d, v)| Op::EntryAndModify(k, d, v)),
        1 => (2u32..=4).prop_map(Op::Retain),
        1 => Just(Op::Clear),
        2 => Just(Op::Len),
        1 => Just(Op::IsEmpty),
        2 => Just(Op::Iter),
        1 => val().prop_map(Op::IterMutAdd),
        2 => pairs().prop_map(Op::Extend),
    ]
    .boxed()
}

/// The defensive operations every map has.
fn safe_ops() -> BoxedStrategy<Op> {
    prop_oneof![
        2 => key().prop_map(Op::GetCloned),
        1 => key().prop_map(Op::GetOrDefault),
        3 => (key(), val()).prop_map(|(k, d)| Op::UpdateAdd(k, d)),
        3 => (key(), val()).prop_map(|(k, d)| Op::Compute(k, d)),
        2 => (key(), val()).prop_map(|(k, v)| Op::GetOrInsertWith(k, v)),
        2 => (key(), val()).prop_map(|(k, v)| Op::InsertIfAbsent(k, v)),
        2 => (key(), val(), any::<bool>()).prop_map(|(k, v, cur)| Op::RemoveIfEq(k, v, cur)),
    ]
    .boxed()
}

/// Operation sequences for `DashMap`.
pub fn dash_ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        10 => common_ops(),
        2 => (key(), val()).prop_map(|(k, d)| Op::Alter(k, d)),
        1 => val().prop_map(Op::AlterAll),
        2 => (key(), 0u32..2).prop_map(|(k, p)| Op::RemoveIf(k, p)),
        2 => key().prop_map(Op::View),
        4 => safe_ops(),
        1 => Just(Op::Snapshot),
    ];
    prop::collection::vec(op, 0..=MAX_OPS)
}

/// Operation sequences for `HashMap`.
pub fn hash_ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        10 => common_ops(),
        1 => key().prop_map(Op::GetKeyValue),
        1 => key().prop_map(Op::RemoveEntry),
        1 => Just(Op::Drain),
        4 => safe_ops(),
        1 => Just(Op::Snapshot),
    ];
    prop::collection::vec(op, 0..=MAX_OPS)
}

/// Operation sequences for `BTreeMap`.
pub fn btree_ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        16 => common_ops(),
        1 => key().prop_map(Op::GetKeyValue),
        1 => Just(Op::PopFirst),
        1 => Just(Op::PopLast),
        2 => (key(), key()).prop_map(|(a, b)| Op::Range(a.min(b), a.max(b))),
        1 => key().prop_map(Op::SplitOffAppend),
        6 => safe_ops(),
    ];
    prop::collection::vec(op, 0..=MAX_OPS)
}

fn keep(k: u8, v: u32, m: u32) -> bool {
    (k as u32).wrapping_add(v) % m != 0
}

fn sorted(mut pairs: Vec<(u8, u32)>) -> Vec<(u8, u32)> {
    pairs.sort_unstable();
    pairs
}

/// What `Op::Compute` does with the value it sees.
fn compute_rule(seen: Option<&u32>, d: u32) -> Option<u32> {
    match seen {
        None => (d % 2 == 0).then_some(d),
        Some(v) if v % 3 == 0 => None,
        Some(v) => Some(v.wrapping_add(d)),
    }
}

/// The defensive operations written the obvious way on a plain `dashmap::DashMap`:
/// the model mapguard's own methods are compared with (its inherent methods of the
/// same names win over these on the guarded map).
pub trait ModelDash {
    fn get_cloned(&self, k: &u8) -> Option<u32>;
    fn get_or_default(&self, k: &u8) -> u32;
    fn update<R>(&self, k: &u8, f: impl FnOnce(&mut u32) -> R) -> Option<R>;
    fn compute(&self, k: u8, f: impl FnOnce(Option<&u32>) -> Option<u32>) -> Option<u32>;
    fn get_or_insert_with(&self, k: u8, f: impl FnOnce() -> u32) -> u32;
    fn insert_if_absent(&self, k: u8, v: u32) -> bool;
    fn remove_if_eq(&self, k: &u8, v: &u32) -> bool;
    fn snapshot(&self) -> StdHashMap<u8, u32>;
}

impl ModelDash for dashmap::DashMap<u8, u32> {
    fn get_cloned(&self, k: &u8) -> Option<u32> {
        self.get(k).map(|r| *r)
    }
    fn get_or_default(&self, k: &u8) -> u32 {
        self.get(k).map(|r| *r).unwrap_or_default()
    }
    fn update<R>(&self, k: &u8, f: impl FnOnce(&mut u32) -> R) -> Option<R> {
        self.get_mut(k).map(|mut r| f(&mut r))
    }
    fn compute(&self, k: u8, f: impl FnOnce(Option<&u32>) -> Option<u32>) -> Option<u32> {
        let old = self.get(&k).map(|r| *r);
        match f(old.as_ref()) {
            Some(new) => self.insert(k, new),
            None => self.remove(&k).map(|(_, v)| v),
        }
    }
    fn get_or_insert_with(&self, k: u8, f: impl FnOnce() -> u32) -> u32 {
        *self.entry(k).or_insert_with(f)
    }
    fn insert_if_absent(&self, k: u8, v: u32) -> bool {
        if self.contains_key(&k) {
            return false;
        }
        self.insert(k, v);
        true
    }
    fn remove_if_eq(&self, k: &u8, v: &u32) -> bool {
        self.remove_if(k, |_, cur| cur == v).is_some()
    }
    fn snapshot(&self) -> StdHashMap<u8, u32> {
        self.iter().map(|r| (*r.key(), *r.value())).collect()
    }
}

/// The defensive operations on std's maps, written the obvious way: the model for
/// `mapguard::HashMap` and `mapguard::BTreeMap`.
pub trait ModelStd {
    fn get_cloned(&self, k: &u8) -> Option<u32>;
    fn get_or_default(&self, k: &u8) -> u32;
    fn update<R>(&mut self, k: &u8, f: impl FnOnce(&mut u32) -> R) -> Option<R>;
    fn compute(&mut self, k: u8, f: impl FnOnce(Option<&u32>) -> Option<u32>) -> Option<u32>;
    fn get_or_insert_with(&mut self, k: u8, f: impl FnOnce() -> u32) -> &mut u32;
    fn insert_if_absent(&mut self, k: u8, v: u32) -> bool;
    fn remove_if_eq(&mut self, k: &u8, v: &u32) -> bool;
}

macro_rules! model_std {
    ($map:ty) => {
        impl ModelStd for $map {
            fn get_cloned(&self, k: &u8) -> Option<u32> {
                self.get(k).copied()
            }
            fn get_or_default(&self, k: &u8) -> u32 {
                self.get(k).copied().unwrap_or_default()
            }
            fn update<R>(&mut self, k: &u8, f: impl FnOnce(&mut u32) -> R) -> Option<R> {
                self.get_mut(k).map(f)
            }
            fn compute(
                &mut self,
                k: u8,
                f: impl FnOnce(Option<&u32>) -> Option<u32>,
            ) -> Option<u32> {
                let old = self.get(&k).copied();
                match f(old.as_ref()) {
                    Some(new) => self.insert(k, new),
                    None => self.remove(&k),
                }
            }
            fn get_or_insert_with(&mut self, k: u8, f: impl FnOnce() -> u32) -> &mut u32 {
                self.entry(k).or_insert_with(f)
            }
            fn insert_if_absent(&mut self, k: u8, v: u32) -> bool {
                if self.contains_key(&k) {
                    return false;
                }
                self.insert(k, v);
                true
            }
            fn remove_if_eq(&mut self, k: &u8, v: &u32) -> bool {
                if self.get(k) == Some(v) {
                    self.remove(k);
                    true
                } else {
                    false
                }
            }
        }
    };
}

model_std!(StdHashMap<u8, u32>);
model_std!(StdBTreeMap<u8, u32>);

/// `snapshot` on std's `HashMap`, for the model: a copy.
pub trait ModelSnapshot {
    fn snapshot(&self) -> StdHashMap<u8, u32>;
}

impl ModelSnapshot for StdHashMap<u8, u32> {
    fn snapshot(&self) -> StdHashMap<u8, u32> {
        self.clone()
    }
}

// ---- DashMap ------------------------------------------------------------------

/// Applies `$op` to `$m`, a `mapguard::DashMap<u8, u32>` or a `dashmap::DashMap<u8,
/// u32>`. Every guard (`Ref`, `RefMut`, iterator) is dropped before the next call.
macro_rules! dash_apply {
    ($m:expr, $op:expr) => {{
        let m = $m;
        match $op {
            Op::Insert(k, v) => Res::Val(m.insert(*k, *v)),
            Op::Remove(k) => Res::Pair(m.remove(k)),
            Op::Get(k) => Res::Val(m.get(k).map(|r| *r)),
            Op::GetMutAdd(k, d) => Res::Val(m.get_mut(k).map(|mut r| {
                *r = r.wrapping_add(*d);
                *r
            })),
            Op::ContainsKey(k) => Res::Bool(m.contains_key(k)),
            Op::EntryOrInsert(k, v) => Res::Val(Some(*m.entry(*k).or_insert(*v))),
            Op::EntryAndModify(k, d, v) => Res::Val(Some(
                *m.entry(*k)
                    .and_modify(|x| *x = x.wrapping_add(*d))
                    .or_insert(*v),
            )),
            Op::Retain(md) => {
                m.retain(|k, v| keep(*k, *v, *md));
                Res::Unit
            }
            Op::Clear => {
                m.clear();
                Res::Unit
            }
            Op::Len => Res::Usize(m.len()),
            Op::IsEmpty => Res::Bool(m.is_empty()),
            Op::Iter => Res::Pairs(sorted(m.iter().map(|r| (*r.key(), *r.value())).collect())),
            Op::IterMutAdd(d) => {
                for mut r in m.iter_mut() {
                    *r = r.wrapping_add(*d);
                }
                Res::Unit
            }
            Op::Extend(ps) => {
                m.extend(ps.iter().copied());
                Res::Unit
            }
            Op::Alter(k, d) => {
                m.alter(k, |_, v| v.wrapping_mul(3).wrapping_add(*d));
                Res::Unit
            }
            Op::AlterAll(d) => {
                m.alter_all(|k, v| v ^ (*k as u32).wrapping_add(*d));
                Res::Unit
            }
            Op::RemoveIf(k, p) => Res::Pair(m.remove_if(k, |_, v| v % 2 == *p)),
            Op::View(k) => Res::Val(m.view(k, |_, v| v.wrapping_add(1))),
            Op::GetCloned(k) => Res::Val(m.get_cloned(k)),
            Op::GetOrDefault(k) => Res::Val(Some(m.get_or_default(k))),
            Op::UpdateAdd(k, d) => Res::Val(m.update(k, |v| {
                *v = v.wrapping_add(*d);
                *v
            })),
            Op::Compute(k, d) => Res::Val(m.compute(*k, |v| compute_rule(v, *d))),
            Op::GetOrInsertWith(k, v) => Res::Val(Some(m.get_or_insert_with(*k, || *v))),
            Op::InsertIfAbsent(k, v) => Res::Bool(m.insert_if_absent(*k, *v)),
            Op::RemoveIfEq(k, v, current) => {
                let v = if *current {
                    m.get(k).map(|r| *r).unwrap_or(0)
                } else {
                    *v
                };
                Res::Bool(m.remove_if_eq(k, &v))
            }
            Op::Snapshot => {
                let s = m.snapshot();
                Res::Pairs(sorted(s.iter().map(|(k, v)| (*k, *v)).collect()))
            }
            other => panic!("not a DashMap operation: {other:?}"),
        }
    }};
}

pub fn apply_dash_guarded(m: &mut mapguard::DashMap<u8, u32>, op: &Op) -> Res {
    dash_apply!(m, op)
}

pub fn apply_dash_plain(m: &mut dashmap::DashMap<u8, u32>, op: &Op) -> Res {
    dash_apply!(m, op)
}

/// Runs `ops` on `guarded` (empty) and on a plain `dashmap::DashMap`, asserting equal
/// results after every operation and equal contents at the end.
pub fn check_dash(
    mut guarded: mapguard::DashMap<u8, u32>,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut plain = dashmap::DashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let got = apply_dash_guarded(&mut guarded, op);
        let want = apply_dash_plain(&mut plain, op);
        prop_assert_eq!(got, want, "op #{} {:?}", i, op);
    }
    prop_assert_eq!(guarded.len(), plain.len());
    let got = sorted(guarded.into_inner().into_iter().collect());
    let want = sorted(plain.into_iter().collect());
    prop_assert_eq!(got, want, "final contents");
    Ok(())
}

// ---- HashMap and BTreeMap ----------------------------------------------------------

/// Applies the operations std's `HashMap` and `BTreeMap` share to `$m` (a variable
/// holding `&mut` the map); `$extra` are more match arms, for the operations only one
/// of the maps has.
macro_rules! std_apply {
    ($m:ident, $op:expr, { $($extra:tt)* }) => {{
        match $op {
            Op::Insert(k, v) => Res::Val($m.insert(*k, *v)),
            Op::Remove(k) => Res::Val($m.remove(k)),
            Op::Get(k) => Res::Val($m.get(k).copied()),
            Op::GetMutAdd(k, d) => Res::Val($m.get_mut(k).map(|r| {
                *r = r.wrapping_add(*d);
                *r
            })),
            Op::ContainsKey(k) => Res::Bool($m.contains_key(k)),
            Op::EntryOrInsert(k, v) => Res::Val(Some(*$m.entry(*k).or_insert(*v))),
            Op::EntryAndModify(k, d, v) => Res::Val(Some(
                *$m.entry(*k)
                    .and_modify(|x| *x = x.wrapping_add(*d))
                    .or_insert(*v),
            )),
            Op::Retain(md) => {
                $m.retain(|k, v| keep(*k, *v, *md));
                Res::Unit
            }
            Op::Clear => {
                $m.clear();
                Res::Unit
            }
            Op::Len => Res::Usize($m.len()),
            Op::IsEmpty => Res::Bool($m.is_empty()),
            Op::Iter => Res::Pairs(sorted($m.iter().map(|(k, v)| (*k, *v)).collect())),
            Op::IterMutAdd(d) => {
                for (_, v) in $m.iter_mut() {
                    *v = v.wrapping_add(*d);
                }
                Res::Unit
            }
            Op::Extend(ps) => {
                $m.extend(ps.iter().copied());
                Res::Unit
            }
            Op::GetKeyValue(k) => Res::Pair($m.get_key_value(k).map(|(k, v)| (*k, *v))),
            Op::GetCloned(k) => Res::Val($m.get_cloned(k)),
            Op::GetOrDefault(k) => Res::Val(Some($m.get_or_default(k))),
            Op::UpdateAdd(k, d) => Res::Val($m.update(k, |v| {
                *v = v.wrapping_add(*d);
                *v
            })),
            Op::Compute(k, d) => Res::Val($m.compute(*k, |v| compute_rule(v, *d))),
            Op::GetOrInsertWith(k, v) => {
                let got = $m.get_or_insert_with(*k, || *v);
                *got = got.wrapping_add(1); // the borrow is the value in the map
                Res::Val(Some(*got))
            }
            Op::InsertIfAbsent(k, v) => Res::Bool($m.insert_if_absent(*k, *v)),
            Op::RemoveIfEq(k, v, current) => {
                let v = if *current { $m.get(k).copied().unwrap_or(0) } else { *v };
                Res::Bool($m.remove_if_eq(k, &v))
            }
            $($extra)*
            other => panic!("not an operation of this map: {other:?}"),
        }
    }};
}

macro_rules! hash_apply {
    ($m:ident, $op:expr) => {
        std_apply!($m, $op, {
            Op::RemoveEntry(k) => Res::Pair($m.remove_entry(k)),
            Op::Drain => Res::Pairs(sorted($m.drain().collect())),
            Op::Snapshot => {
                let s = $m.snapshot();
                Res::Pairs(sorted(s.iter().map(|(k, v)| (*k, *v)).collect()))
            }
        })
    };
}

macro_rules! btree_apply {
    ($m:ident, $op:expr) => {
        std_apply!($m, $op, {
            Op::PopFirst => Res::Pair($m.pop_first()),
            Op::PopLast => Res::Pair($m.pop_last()),
            Op::Range(a, b) => Res::Pairs($m.range(*a..=*b).map(|(k, v)| (*k, *v)).collect()),
            Op::SplitOffAppend(k) => {
                let mut tail = $m.split_off(k);
                let moved: Vec<(u8, u32)> = tail.iter().map(|(k, v)| (*k, *v)).collect();
                let kept = $m.len();
                $m.append(&mut tail);
                prop_assert!(tail.is_empty());
                Res::Split(moved, kept)
            }
        })
    };
}

pub fn apply_hash_guarded(m: &mut mapguard::HashMap<u8, u32>, op: &Op) -> Res {
    hash_apply!(m, op)
}

pub fn apply_hash_plain(m: &mut StdHashMap<u8, u32>, op: &Op) -> Res {
    hash_apply!(m, op)
}

pub fn apply_btree_guarded(
    m: &mut mapguard::BTreeMap<u8, u32>,
    op: &Op,
) -> Result<Res, TestCaseError> {
    Ok(btree_apply!(m, op))
}

pub fn apply_btree_plain(m: &mut StdBTreeMap<u8, u32>, op: &Op) -> Result<Res, TestCaseError> {
    Ok(btree_apply!(m, op))
}

/// Runs `ops` on `guarded` (empty) and on a std `HashMap`, asserting equal results
/// after every operation and equal contents at the end.
pub fn check_hash(
    mut guarded: mapguard::HashMap<u8, u32>,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut plain = StdHashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let got = apply_hash_guarded(&mut guarded, op);
        let want = apply_hash_plain(&mut plain, op);
        prop_assert_eq!(got, want, "op #{} {:?}", i, op);
    }
    prop_assert_eq!(guarded.into_inner(), plain, "final contents");
    Ok(())
}

/// Runs `ops` on `guarded` (empty) and on a std `BTreeMap`, asserting equal results
/// after every operation and equal contents (in order) at the end.
pub fn check_btree(
    mut guarded: mapguard::BTreeMap<u8, u32>,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut plain = StdBTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        let got = apply_btree_guarded(&mut guarded, op)?;
        let want = apply_btree_plain(&mut plain, op)?;
        prop_assert_eq!(got, want, "op #{} {:?}", i, op);
    }
    let got: Vec<(u8, u32)> = guarded.into_inner().into_iter().collect();
    let want: Vec<(u8, u32)> = plain.into_iter().collect();
    prop_assert_eq!(got, want, "final contents");
    Ok(())
}
