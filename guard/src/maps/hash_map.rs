//! [`HashMap`]: `std::collections::HashMap`, checked by mapguard, for maps that live
//! inside a lock the program already has (`Arc<RwLock<mapguard::HashMap<K, V>>>`,
//! std, parking_lot or tokio).

use std::borrow::Borrow;
use std::collections::hash_map::{self as std_hash_map, RandomState};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::{Deref, Index};
use std::panic::Location;

pub use std::collections::hash_map::{Drain, Entry, Iter, IterMut, Keys, Values, ValuesMut};

use crate::Op;
use crate::detect::{MapName, MapState, op};

type Std<K, V, S> = std::collections::HashMap<K, V, S>;

/// A `std::collections::HashMap` whose accesses are checked by mapguard.
///
/// Methods keep std's names and signatures; writes take `&mut self` as in std, so
/// the map lives inside the program's own lock, and the guard finds what a lock
/// cannot: two threads writing a map that was meant to have one writer
/// (`concurrent_write`), and a read under one lock acquisition followed by a write
/// under another after someone else wrote the key (`lost_update`). `Deref` gives
/// every other `&self` method of std's map, unchecked.
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
pub struct HashMap<K, V, S = RandomState> {
    pub(super) inner: Std<K, V, S>,
    pub(super) guard: MapState,
}

impl<K, V> HashMap<K, V, RandomState> {
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

    /// An empty map with room for `capacity` entries.
    #[track_caller]
    #[inline]
    pub fn with_capacity(capacity: usize) -> Self {
        Self::wrap(Std::with_capacity(capacity), None)
    }
}

impl<K, V, S> HashMap<K, V, S> {
    #[track_caller]
    fn wrap(inner: Std<K, V, S>, name: Option<MapName>) -> Self {
        HashMap {
            inner,
            guard: MapState::new(name, Location::caller(), std::any::type_name::<Self>()),
        }
    }

    /// An empty map using `hasher`.
    #[track_caller]
    #[inline]
    pub fn with_hasher(hasher: S) -> Self {
        Self::wrap(Std::with_hasher(hasher), None)
    }

    /// An empty map with room for `capacity` entries, using `hasher`.
    #[track_caller]
    #[inline]
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        Self::wrap(Std::with_capacity_and_hasher(capacity, hasher), None)
    }

    crate::maps::settings_methods!();

    /// The std map inside, unchecked.
    #[inline]
    pub fn inner(&self) -> &Std<K, V, S> {
        &self.inner
    }

    /// Gives the std map back.
    #[inline]
    pub fn into_inner(self) -> Std<K, V, S> {
        self.inner
    }

    /// Iterates over the pairs. A read of every key (recorded in mode `accesses`).
    #[track_caller]
    #[inline]
    pub fn iter(&self) -> Iter<'_, K, V> {
        self.guard.whole(Op::Iter, Location::caller());
        self.inner.iter()
    }

    /// Iterates over the pairs, values mutably. A map-wide write.
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

    /// Removes every pair, yielding them. A map-wide write.
    #[track_caller]
    #[inline]
    pub fn drain(&mut self) -> Drain<'_, K, V> {
        self.guard.whole(Op::Drain, Location::caller());
        self.inner.drain()
    }

    /// Keeps the pairs for which `f` returns true. A map-wide write.
    #[track_caller]
    #[inline]
    pub fn retain(&mut self, f: impl FnMut(&K, &mut V) -> bool) {
        self.guard.whole(Op::Retain, Location::caller());
        self.inner.retain(f)
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

    /// std's `extract_if` (Rust 1.88 and later): removes and yields the pairs for
    /// which `pred` returns true, as the iterator is driven. A write of every key,
    /// booked at the call.
    #[rustversion::since(1.88)]
    #[track_caller]
    #[inline]
    pub fn extract_if<F>(&mut self, pred: F) -> std_hash_map::ExtractIf<'_, K, V, F>
    where
        F: FnMut(&K, &mut V) -> bool,
    {
        self.guard.whole(Op::ExtractIf, Location::caller());
        self.inner.extract_if(pred)
    }
}

impl<K: Eq + Hash, V, S: BuildHasher> HashMap<K, V, S> {
    /// std's `get_disjoint_mut` (Rust 1.86 and later): the values of `N` keys,
    /// mutably (panics, as std's, if two keys are equal). A write of each key, as
    /// `get_mut`.
    #[rustversion::since(1.86)]
    #[track_caller]
    #[inline]
    pub fn get_disjoint_mut<Q, const N: usize>(&mut self, ks: [&Q; N]) -> [Option<&mut V>; N]
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        for k in ks {
            self.guard.keyed(op::GetMut, k, Location::caller());
        }
        self.inner.get_disjoint_mut(ks)
    }

    /// Inserts a pair, returning the old value. A write.
    #[track_caller]
    #[inline]
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let site = Location::caller();
        self.guard
            .write_then(op::Insert, &mut self.inner, key, site, |m, k| {
                m.insert(k, value)
            })
    }

    /// The value of `key`. A read (recorded for `lost_update`).
    #[track_caller]
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.guard.keyed(op::Get, key, Location::caller());
        self.inner.get(key)
    }

    /// The stored key and value of `key`. A read.
    #[track_caller]
    #[inline]
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.guard.keyed(op::GetKeyValue, key, Location::caller());
        self.inner.get_key_value(key)
    }

    /// The value of `key`, mutably. A write.
    #[track_caller]
    #[inline]
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
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
        Q: Hash + Eq + ?Sized,
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
        Q: Hash + Eq + ?Sized,
    {
        let site = Location::caller();
        self.guard
            .write_then(op::Remove, &mut self.inner, key, site, |m, k| m.remove(k))
    }

    /// Removes `key`, returning the stored pair. A write.
    #[track_caller]
    #[inline]
    pub fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let site = Location::caller();
        self.guard
            .write_then(op::Remove, &mut self.inner, key, site, |m, k| {
                m.remove_entry(k)
            })
    }

    /// std's entry for `key`: the atomic (under your lock) read-modify-write. A write.
    #[track_caller]
    #[inline]
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        self.guard.keyed(op::Entry, &key, Location::caller());
        self.inner.entry(key)
    }

    /// Reserves room for `additional` more entries. Not checked.
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        self.inner.reserve(additional)
    }

    /// Frees unused capacity. Not checked.
    #[inline]
    pub fn shrink_to_fit(&mut self) {
        self.inner.shrink_to_fit()
    }

    /// Tries to reserve room for `additional` more entries. Not checked.
    ///
    /// # Errors
    ///
    /// As std's: the capacity overflows, or the allocator reports a failure.
    #[inline]
    pub fn try_reserve(
        &mut self,
        additional: usize,
    ) -> Result<(), std::collections::TryReserveError> {
        self.inner.try_reserve(additional)
    }

    /// Shrinks the capacity to at least `min_capacity`. Not checked.
    #[inline]
    pub fn shrink_to(&mut self, min_capacity: usize) {
        self.inner.shrink_to(min_capacity)
    }
}

impl<K, V, S> HashMap<K, V, S> {
    /// The keys, by value, consuming the map (owned: nothing to check).
    #[inline]
    pub fn into_keys(self) -> std_hash_map::IntoKeys<K, V> {
        self.inner.into_keys()
    }

    /// The values, by value, consuming the map (owned: nothing to check).
    #[inline]
    pub fn into_values(self) -> std_hash_map::IntoValues<K, V> {
        self.inner.into_values()
    }
}

impl<K, V, S> Deref for HashMap<K, V, S> {
    type Target = Std<K, V, S>;
    /// Every other `&self` method of std's map (`capacity`, `hasher`, ...),
    /// unchecked.
    #[inline]
    fn deref(&self) -> &Std<K, V, S> {
        &self.inner
    }
}

/// An empty map with `S::default()` as its hasher, named after the call site, as
/// std's `Default` (any `S: Default`, not only `RandomState`).
impl<K, V, S: Default> Default for HashMap<K, V, S> {
    #[track_caller]
    #[inline]
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

impl<K: fmt::Debug, V: fmt::Debug, S> fmt::Debug for HashMap<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<K: Clone, V: Clone, S: Clone> Clone for HashMap<K, V, S> {
    /// A copy of the contents, with the same name and settings and no history.
    fn clone(&self) -> Self {
        HashMap {
            inner: self.inner.clone(),
            guard: self.guard.fresh_copy(),
        }
    }
}

impl<K: Eq + Hash, V: PartialEq, S: BuildHasher> PartialEq for HashMap<K, V, S> {
    /// Compares contents only.
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl<K: Eq + Hash, V: Eq, S: BuildHasher> Eq for HashMap<K, V, S> {}

impl<K, Q, V, S> Index<&Q> for HashMap<K, V, S>
where
    K: Eq + Hash + Borrow<Q>,
    Q: Eq + Hash + ?Sized,
    S: BuildHasher,
{
    type Output = V;
    /// `map[&key]`: a read. Panics if the key is absent, as std does.
    #[track_caller]
    #[inline]
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<K: Eq + Hash, V, S: BuildHasher + Default> FromIterator<(K, V)> for HashMap<K, V, S> {
    #[track_caller]
    #[inline]
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        HashMap::wrap(Std::from_iter(iter), None)
    }
}

impl<K: Eq + Hash, V, S: BuildHasher> Extend<(K, V)> for HashMap<K, V, S> {
    /// Inserts every pair. A map-wide write.
    #[track_caller]
    #[inline]
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.guard.whole(Op::Extend, Location::caller());
        self.inner.extend(iter)
    }
}

impl<'a, K: Eq + Hash + Copy, V: Copy, S: BuildHasher> Extend<(&'a K, &'a V)> for HashMap<K, V, S> {
    /// Inserts a copy of every pair. A map-wide write.
    #[track_caller]
    #[inline]
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        self.guard.whole(Op::Extend, Location::caller());
        self.inner.extend(iter)
    }
}

impl<K, V, S> From<Std<K, V, S>> for HashMap<K, V, S> {
    /// Guards an existing map, named after the call site.
    #[track_caller]
    #[inline]
    fn from(inner: Std<K, V, S>) -> Self {
        HashMap::wrap(inner, None)
    }
}

impl<K: Eq + Hash, V, const N: usize> From<[(K, V); N]> for HashMap<K, V, RandomState> {
    #[track_caller]
    #[inline]
    fn from(pairs: [(K, V); N]) -> Self {
        HashMap::wrap(Std::from(pairs), None)
    }
}

impl<K, V, S> IntoIterator for HashMap<K, V, S> {
    type Item = (K, V);
    type IntoIter = std_hash_map::IntoIter<K, V>;
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.inner.into_iter()
    }
}

impl<'a, K, V, S> IntoIterator for &'a HashMap<K, V, S> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    #[track_caller]
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, K, V, S> IntoIterator for &'a mut HashMap<K, V, S> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;
    #[track_caller]
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

#[cfg(feature = "serde")]
impl<K: serde::Serialize, V: serde::Serialize, S> serde::Serialize for HashMap<K, V, S> {
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.inner.serialize(s)
    }
}

#[cfg(feature = "serde")]
impl<'de, K, V, S> serde::Deserialize<'de> for HashMap<K, V, S>
where
    K: serde::Deserialize<'de> + Eq + Hash,
    V: serde::Deserialize<'de>,
    S: BuildHasher + Default,
{
    #[track_caller]
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Std::deserialize(d).map(|inner| HashMap::wrap(inner, None))
    }
}
