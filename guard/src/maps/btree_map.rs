//! [`BTreeMap`]: `std::collections::BTreeMap`, checked by mapguard, for ordered maps
//! that live inside a lock the program already has.

use std::borrow::Borrow;
use std::collections::btree_map as std_btree_map;
use std::fmt;
use std::hash::Hash;
use std::ops::{Deref, Index, RangeBounds};
use std::panic::Location;

pub use std::collections::btree_map::{
    Entry, Iter, IterMut, Keys, Range, RangeMut, Values, ValuesMut,
};

use crate::Op;
use crate::detect::{MapName, MapState, op};

type Std<K, V> = std::collections::BTreeMap<K, V>;

/// A `std::collections::BTreeMap` whose accesses are checked by mapguard.
///
/// Methods keep std's names and signatures, with one addition: methods that take or
/// find a key (`get`, `insert`, ..., and `first_key_value`, `last_key_value`,
/// `first_entry`, `last_entry`) also need `Hash` on it (to
/// record a hash of the key, never the key itself). `extract_if` needs Rust 1.91,
/// as std's.
/// Writes take `&mut self` as in std, so the map lives inside the program's own
/// lock. `Deref` gives every other `&self` method of std's map, unchecked.
///
/// **Cost:** with the guard off, one relaxed atomic load per checked call. On and
/// finding nothing, a read (`get`, `contains_key`) is booked in the caller's code
/// and a write in one out-of-line call: about 70 and 120 instructions (see the
/// README's "Performance" section for measured ratios). Once, on the calling
/// thread: the first checked call in the process reads the environment (and may
/// start the clock thread); in key scope the map's first keyed access (or write of
/// every key: `clear`, `retain`, ...) allocates its key slots (40 bytes each, 1024
/// by default). A new finding captures a stack and
/// the first one starts the reporter thread. Unlike std's `new`, an unnamed map
/// allocates its `file:line` name when built.
///
/// **Blocking:** never waits for another thread's map operations; the only lock
/// around the map is the program's own. mapguard itself takes short process-wide
/// locks: when a thread makes its first checked call (to register the thread), when
/// a new finding captures a stack off Unix (the backtrace crate's lock; on every
/// write with backtrace `always`) and, with a [`Reaction::Call`](crate::Reaction::Call)
/// reaction, when a finding is made. With [`Reaction::Panic`](crate::Reaction::Panic)
/// a finding panics in the call.
/// That callback runs inside the call, so under the program's lock around the map:
/// whatever it waits for, the call waits for ("never blocks" below means the method
/// waits for no other thread's map operation; mapguard's own short locks are the
/// ones listed here). Off Unix, the backtrace crate's lock is also taken by
/// mapguard's reporter thread while it resolves a finding's stack, one frame at a
/// time: a capture can wait for one frame's resolution, and the process's first
/// resolution loads the binary's debug info (about 100 ms, much longer on a large
/// binary). On Unix a capture takes no lock.
// `repr(C)` with the std map first: a call reaches it at the wrapper's own address.
#[repr(C)]
pub struct BTreeMap<K, V> {
    pub(super) inner: Std<K, V>,
    pub(super) guard: MapState,
}

impl<K, V> BTreeMap<K, V> {
    #[track_caller]
    fn wrap(inner: Std<K, V>, name: Option<MapName>) -> Self {
        BTreeMap {
            inner,
            guard: MapState::new(name, Location::caller(), std::any::type_name::<Self>()),
        }
    }

    /// An empty map, named after the call site (`file:line`, a `String` allocated
    /// here; `named` with a `&'static str` allocates none).
    #[track_caller]
    #[inline]
    pub fn new() -> Self {
        Self::wrap(Std::new(), None)
    }

    /// An empty map named `name` (a `&'static str` or a `String`).
    #[track_caller]
    #[inline]
    pub fn named(name: impl Into<MapName>) -> Self {
        Self::wrap(Std::new(), Some(name.into()))
    }

    crate::maps::settings_methods!();

    /// The std map inside, unchecked.
    #[inline]
    pub fn inner(&self) -> &Std<K, V> {
        &self.inner
    }

    /// Gives the std map back.
    #[inline]
    pub fn into_inner(self) -> Std<K, V> {
        self.inner
    }

    /// Iterates in key order. A read of every key (recorded in mode `accesses`).
    #[track_caller]
    #[inline]
    pub fn iter(&self) -> Iter<'_, K, V> {
        self.guard.whole(Op::Iter, Location::caller());
        self.inner.iter()
    }

    /// Iterates in key order, values mutably. A map-wide write.
    #[track_caller]
    #[inline]
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        self.guard.whole(Op::IterMut, Location::caller());
        self.inner.iter_mut()
    }

    /// Iterates over the keys. A read of every key.
    #[track_caller]
    #[inline]
    pub fn keys(&self) -> Keys<'_, K, V> {
        self.guard.whole(Op::Keys, Location::caller());
        self.inner.keys()
    }

    /// Iterates over the values. A read of every key.
    #[track_caller]
    #[inline]
    pub fn values(&self) -> Values<'_, K, V> {
        self.guard.whole(Op::Values, Location::caller());
        self.inner.values()
    }

    /// Iterates over the values mutably. A map-wide write.
    #[track_caller]
    #[inline]
    pub fn values_mut(&mut self) -> ValuesMut<'_, K, V> {
        self.guard.whole(Op::ValuesMut, Location::caller());
        self.inner.values_mut()
    }

    /// Removes every pair. A map-wide write.
    #[track_caller]
    #[inline]
    pub fn clear(&mut self) {
        self.guard.whole(Op::Clear, Location::caller());
        self.inner.clear()
    }

    /// The number of pairs. A map-wide read (for `read_write`, mode `accesses`).
    #[track_caller]
    #[inline]
    pub fn len(&self) -> usize {
        self.guard.read_all_unlocked(Op::Len, Location::caller());
        self.inner.len()
    }

    /// True if the map has no pair. A map-wide read (for `read_write`, mode
    /// `accesses`).
    #[track_caller]
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.guard
            .read_all_unlocked(Op::IsEmpty, Location::caller());
        self.inner.is_empty()
    }
}

impl<K: Ord, V> BTreeMap<K, V> {
    /// Keeps the pairs for which `f` returns true. A map-wide write.
    #[track_caller]
    #[inline]
    pub fn retain(&mut self, f: impl FnMut(&K, &mut V) -> bool) {
        self.guard.whole(Op::Retain, Location::caller());
        self.inner.retain(f)
    }

    /// Moves every pair of `other` into this map. A map-wide write (of this map and
    /// of `other`).
    #[track_caller]
    #[inline]
    pub fn append(&mut self, other: &mut BTreeMap<K, V>) {
        self.guard.whole(Op::Append, Location::caller());
        other.guard.whole(Op::Append, Location::caller());
        self.inner.append(&mut other.inner)
    }

    /// Removes and returns the first pair. A map-wide write.
    #[track_caller]
    #[inline]
    pub fn pop_first(&mut self) -> Option<(K, V)> {
        self.guard.whole(Op::PopFirst, Location::caller());
        self.inner.pop_first()
    }

    /// Removes and returns the last pair. A map-wide write.
    #[track_caller]
    #[inline]
    pub fn pop_last(&mut self) -> Option<(K, V)> {
        self.guard.whole(Op::PopLast, Location::caller());
        self.inner.pop_last()
    }

    /// Iterates over a range of keys. A read.
    #[track_caller]
    #[inline]
    pub fn range<T: ?Sized + Ord, R: RangeBounds<T>>(&self, range: R) -> Range<'_, K, V>
    where
        K: Borrow<T>,
    {
        self.guard.whole(Op::Range, Location::caller());
        self.inner.range(range)
    }

    /// Iterates over a range of keys, values mutably. A map-wide write.
    #[track_caller]
    #[inline]
    pub fn range_mut<T: ?Sized + Ord, R: RangeBounds<T>>(&mut self, range: R) -> RangeMut<'_, K, V>
    where
        K: Borrow<T>,
    {
        self.guard.whole(Op::RangeMut, Location::caller());
        self.inner.range_mut(range)
    }
}

// `K: Hash` sits on each method, not here: with it here, a key type without `Hash`
// would make these methods vanish and calls fall through `Deref` to std's unchecked
// ones (or fail with a confusing "cannot borrow as mutable"); on the method, the
// error names the missing `Hash`.
impl<K: Ord, V> BTreeMap<K, V> {
    /// Inserts a pair, returning the old value. A write.
    #[track_caller]
    #[inline]
    pub fn insert(&mut self, key: K, value: V) -> Option<V>
    where
        K: Hash,
    {
        self.guard.keyed(op::Insert, &key, Location::caller());
        self.inner.insert(key, value)
    }

    /// The value of `key`. A read (recorded for `lost_update`).
    #[track_caller]
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + Hash + ?Sized,
    {
        self.guard.keyed(op::Get, key, Location::caller());
        self.inner.get(key)
    }

    /// The value of `key`, mutably. A write.
    #[track_caller]
    #[inline]
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + Hash + ?Sized,
    {
        self.guard.keyed(op::GetMut, key, Location::caller());
        self.inner.get_mut(key)
    }

    /// True if the map holds `key`. A read (recorded for `lost_update`).
    #[track_caller]
    #[inline]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + Hash + ?Sized,
    {
        self.guard.keyed(op::ContainsKey, key, Location::caller());
        self.inner.contains_key(key)
    }

    /// Removes `key`, returning its value. A write.
    #[track_caller]
    #[inline]
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + Hash + ?Sized,
    {
        self.guard.keyed(op::Remove, key, Location::caller());
        self.inner.remove(key)
    }

    /// std's entry for `key`. A write.
    #[track_caller]
    #[inline]
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V>
    where
        K: Hash,
    {
        self.guard.keyed(op::Entry, &key, Location::caller());
        self.inner.entry(key)
    }

    /// The stored key and value of `key`. A read (recorded for `lost_update`).
    #[track_caller]
    #[inline]
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Ord + Hash + ?Sized,
    {
        self.guard.keyed(op::GetKeyValue, key, Location::caller());
        self.inner.get_key_value(key)
    }

    /// The first (smallest) key and its value. A read of that key (recorded for
    /// `lost_update`); nothing is recorded if the map is empty.
    #[track_caller]
    #[inline]
    pub fn first_key_value(&self) -> Option<(&K, &V)>
    where
        K: Hash,
    {
        let pair = self.inner.first_key_value();
        if let Some((k, _)) = pair {
            self.guard.keyed(op::FirstKeyValue, k, Location::caller());
        }
        pair
    }

    /// The last (largest) key and its value. A read of that key (recorded for
    /// `lost_update`); nothing is recorded if the map is empty.
    #[track_caller]
    #[inline]
    pub fn last_key_value(&self) -> Option<(&K, &V)>
    where
        K: Hash,
    {
        let pair = self.inner.last_key_value();
        if let Some((k, _)) = pair {
            self.guard.keyed(op::LastKeyValue, k, Location::caller());
        }
        pair
    }

    /// std's entry for the first key, to change or remove in place. A write of that
    /// key; nothing is recorded if the map is empty.
    #[track_caller]
    #[inline]
    pub fn first_entry(&mut self) -> Option<std_btree_map::OccupiedEntry<'_, K, V>>
    where
        K: Hash,
    {
        let entry = self.inner.first_entry();
        if let Some(e) = &entry {
            self.guard
                .keyed(op::FirstEntry, e.key(), Location::caller());
        }
        entry
    }

    /// std's entry for the last key, to change or remove in place. A write of that
    /// key; nothing is recorded if the map is empty.
    #[track_caller]
    #[inline]
    pub fn last_entry(&mut self) -> Option<std_btree_map::OccupiedEntry<'_, K, V>>
    where
        K: Hash,
    {
        let entry = self.inner.last_entry();
        if let Some(e) = &entry {
            self.guard.keyed(op::LastEntry, e.key(), Location::caller());
        }
        entry
    }

    /// Removes `key`, returning the stored pair. A write.
    #[track_caller]
    #[inline]
    pub fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Ord + Hash + ?Sized,
    {
        self.guard.keyed(op::Remove, key, Location::caller());
        self.inner.remove_entry(key)
    }

    /// Splits off the pairs from `key` on into a new map (same name and settings).
    /// A map-wide write.
    #[track_caller]
    #[inline]
    pub fn split_off<Q>(&mut self, key: &Q) -> Self
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.guard.whole(Op::SplitOff, Location::caller());
        BTreeMap {
            inner: self.inner.split_off(key),
            guard: self.guard.fresh_copy(),
        }
    }
}

impl<K, V> Deref for BTreeMap<K, V> {
    type Target = Std<K, V>;
    /// Every other `&self` method of std's map, unchecked.
    #[inline]
    fn deref(&self) -> &Std<K, V> {
        &self.inner
    }
}

impl<K, V> Default for BTreeMap<K, V> {
    #[track_caller]
    #[inline]
    fn default() -> Self {
        Self::new()
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for BTreeMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<K: Clone, V: Clone> Clone for BTreeMap<K, V> {
    /// A copy of the contents, with the same name and settings and no history.
    fn clone(&self) -> Self {
        BTreeMap {
            inner: self.inner.clone(),
            guard: self.guard.fresh_copy(),
        }
    }
}

impl<K: PartialEq, V: PartialEq> PartialEq for BTreeMap<K, V> {
    /// Compares contents only.
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl<K: Eq, V: Eq> Eq for BTreeMap<K, V> {}

impl<K, V> BTreeMap<K, V> {
    /// The keys, by value, consuming the map (owned: nothing to check).
    #[inline]
    pub fn into_keys(self) -> std_btree_map::IntoKeys<K, V> {
        self.inner.into_keys()
    }

    /// The values, by value, consuming the map (owned: nothing to check).
    #[inline]
    pub fn into_values(self) -> std_btree_map::IntoValues<K, V> {
        self.inner.into_values()
    }
}

impl<K: PartialOrd, V: PartialOrd> PartialOrd for BTreeMap<K, V> {
    /// Compares contents only, as std's map does.
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.inner.partial_cmp(&other.inner)
    }
}

impl<K: Ord, V: Ord> Ord for BTreeMap<K, V> {
    /// Compares contents only, as std's map does.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.inner.cmp(&other.inner)
    }
}

impl<K: Hash, V: Hash> Hash for BTreeMap<K, V> {
    /// Hashes contents only, as std's map does.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.hash(state)
    }
}

impl<K, Q, V> Index<&Q> for BTreeMap<K, V>
where
    K: Ord + Hash + Borrow<Q>,
    Q: Ord + Hash + ?Sized,
{
    type Output = V;
    /// `map[&key]`: a read. Panics if the key is absent, as std does.
    #[track_caller]
    #[inline]
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for BTreeMap<K, V> {
    #[track_caller]
    #[inline]
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        BTreeMap::wrap(Std::from_iter(iter), None)
    }
}

impl<K: Ord, V> Extend<(K, V)> for BTreeMap<K, V> {
    /// Inserts every pair. A map-wide write.
    #[track_caller]
    #[inline]
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.guard.whole(Op::Extend, Location::caller());
        self.inner.extend(iter)
    }
}

impl<'a, K: Ord + Copy, V: Copy> Extend<(&'a K, &'a V)> for BTreeMap<K, V> {
    /// Inserts a copy of every pair. A map-wide write.
    #[track_caller]
    #[inline]
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        self.guard.whole(Op::Extend, Location::caller());
        self.inner.extend(iter)
    }
}

impl<K: Ord, V> BTreeMap<K, V> {
    /// std's `extract_if` (Rust 1.91 and later): removes and yields the pairs in
    /// `range` for which `pred` returns true, as the iterator is driven. A write of
    /// every key, booked at the call.
    #[rustversion::since(1.91)]
    #[track_caller]
    #[inline]
    pub fn extract_if<F, R>(
        &mut self,
        range: R,
        pred: F,
    ) -> std_btree_map::ExtractIf<'_, K, V, R, F>
    where
        R: RangeBounds<K>,
        F: FnMut(&K, &mut V) -> bool,
    {
        self.guard.whole(Op::ExtractIf, Location::caller());
        self.inner.extract_if(range, pred)
    }
}

impl<K, V> From<Std<K, V>> for BTreeMap<K, V> {
    /// Guards an existing map, named after the call site.
    #[track_caller]
    #[inline]
    fn from(inner: Std<K, V>) -> Self {
        BTreeMap::wrap(inner, None)
    }
}

impl<K: Ord, V, const N: usize> From<[(K, V); N]> for BTreeMap<K, V> {
    #[track_caller]
    #[inline]
    fn from(pairs: [(K, V); N]) -> Self {
        BTreeMap::wrap(Std::from(pairs), None)
    }
}

impl<K, V> IntoIterator for BTreeMap<K, V> {
    type Item = (K, V);
    type IntoIter = std_btree_map::IntoIter<K, V>;
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.inner.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a BTreeMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    #[track_caller]
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, K, V> IntoIterator for &'a mut BTreeMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;
    #[track_caller]
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

#[cfg(feature = "serde")]
impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for BTreeMap<K, V> {
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.inner.serialize(s)
    }
}

#[cfg(feature = "serde")]
impl<'de, K, V> serde::Deserialize<'de> for BTreeMap<K, V>
where
    K: serde::Deserialize<'de> + Ord,
    V: serde::Deserialize<'de>,
{
    #[track_caller]
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Std::deserialize(d).map(|inner| BTreeMap::wrap(inner, None))
    }
}
