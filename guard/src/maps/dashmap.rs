//! [`DashMap`]: a drop-in for `dashmap::DashMap` that checks every call, and its
//! guards ([`Ref`], [`RefMut`], [`Entry`], [`Iter`], ...) which mirror dashmap's.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::{BitAnd, BitOr, Deref, DerefMut, Shl, Shr, Sub};
use std::panic::Location;

#[cfg(feature = "rayon")]
pub use super::dashmap_rayon::{LiveParIter, ParIter, ParIterMut};
pub use dashmap::mapref::multiple::{RefMulti, RefMutMulti};
use dashmap::mapref::one as done;
pub use dashmap::try_result::TryResult;

use crate::Op;
use crate::detect::{HeldGuard, IterGuard, MapName, MapState, op};

/// A concurrent map with dashmap's API, checked by mapguard.
///
/// Every method has the name, signature and locking behaviour of the
/// `dashmap::DashMap` (dashmap 6) method of the same name, so adopting it is an
/// import change. Each call is checked first (see the crate docs for the rules),
/// then forwarded to the dashmap inside. Results are the same with the guard on,
/// off or compiled out.
///
/// **Cost:** with the guard off, one relaxed atomic load and a branch per call (and
/// for a call that returns a guard, a test at the guard's drop: the guard keeps the
/// word just loaded as its token). On and finding nothing: a
/// thread-local lookup, a clock load, a second hash of the key (the key's own
/// `Hash`, into foldhash), a few stores to the thread's own state and, for a write,
/// relaxed stores to the map's (or the key slot's) record. See the README's
/// "Performance" section for measured ratios.
/// Once, on the calling thread: the first guarded call in the process reads the
/// environment (and may start the clock thread); a thread's first call registers it
/// under a process-wide mutex; in key scope the map's first keyed access (or write
/// of every key: `clear`, `retain`, ...) allocates its key slots (40 bytes each,
/// 1024 by default; threads that find none at once each build a table and one is
/// kept, so none waits on another); the first iteration or mode `accesses`
/// allocates 80 bytes. A new finding captures a stack (on Unix without a lock;
/// elsewhere under the backtrace crate's lock, which the reporter thread also takes
/// while it resolves a stack, one frame at a time: the process's
/// first resolution loads the binary's debug info, about 100 ms or longer) and the
/// first one starts the reporter thread.
/// A guard (`Ref`, `RefMut`, `Entry`, an iterator) dropped on another thread than
/// the one that got it, as one held across an `.await` on a multi-threaded runtime,
/// takes the thread registry's process-wide mutex once, to find its owner. An
/// unnamed map allocates its `file:line` name when built.
///
/// **Locking behaviour:** as dashmap's. Every method but `try_*` waits while another
/// thread holds a conflicting guard on its shard (a write: any guard; a read: a write
/// guard); `len`, `is_empty`, `clear`, `retain`, `iter_mut`, `alter_all`,
/// `shrink_to_fit`, `capacity`, `Clone`, `Debug` and serde lock every shard in turn. A method that takes a write lock (every write)
/// may deadlock if the calling thread holds any guard into the same map (a [`Ref`],
/// [`RefMut`], [`Entry`] or iterator), and a method that takes read locks (`get`,
/// `len`, `iter`, ...) if it holds a write guard (a `RefMut`, an `Entry`, an
/// `iter_mut` item). For the checked methods mapguard reports exactly these
/// (`reentrant_access`) *before* taking the lock, and with reaction `panic` panics
/// instead of deadlocking. A read under a read guard is not reported: dashmap's
/// shard lock lets a reader in while other readers hold it, even with a writer
/// waiting, so it cannot deadlock. `try_*` never wait. Not
/// checked: `Clone`, `Debug`, serde, `capacity`, `hasher`, `hash_usize`, the `&mut
/// self` calls `Extend` and `try_reserve` (no other thread can be in the map),
/// `into_read_only`, the dashmap [`DashMap::inner`] hands out, and calls made while
/// holding an iterator item kept after its iterator was dropped (see the README's
/// limits).
// `repr(C)` with the dashmap first: the wrapper's address is the inner map's, so a
// call passes its `self` straight to dashmap (one `lea` fewer per call than when
// rustc put the state first).
#[repr(C)]
pub struct DashMap<K, V, S = RandomState> {
    pub(super) inner: dashmap::DashMap<K, V, S>,
    pub(super) guard: MapState,
}

impl<K: Eq + Hash, V> DashMap<K, V, RandomState> {
    /// An empty map, named after the call site (`file:line`, a `String` allocated
    /// here; `named` with a `&'static str` allocates none).
    #[track_caller]
    #[inline]
    pub fn new() -> Self {
        Self::wrap(dashmap::DashMap::new(), None)
    }

    /// An empty map named `name` (a `&'static str` or a `String`): the name findings
    /// use.
    #[track_caller]
    #[inline]
    pub fn named(name: impl Into<MapName>) -> Self {
        Self::wrap(dashmap::DashMap::new(), Some(name.into()))
    }

    /// An empty map with room for `capacity` entries.
    #[track_caller]
    #[inline]
    pub fn with_capacity(capacity: usize) -> Self {
        Self::wrap(dashmap::DashMap::with_capacity(capacity), None)
    }

    /// An empty map with `shard_amount` shards (a power of two greater than 1, or
    /// dashmap panics, as it does unguarded).
    #[track_caller]
    #[inline]
    pub fn with_shard_amount(shard_amount: usize) -> Self {
        Self::wrap(dashmap::DashMap::with_shard_amount(shard_amount), None)
    }

    /// An empty map with room for `capacity` entries in `shard_amount` shards.
    #[track_caller]
    #[inline]
    pub fn with_capacity_and_shard_amount(capacity: usize, shard_amount: usize) -> Self {
        Self::wrap(
            dashmap::DashMap::with_capacity_and_shard_amount(capacity, shard_amount),
            None,
        )
    }
}

impl<K: Eq + Hash, V, S: BuildHasher + Clone> DashMap<K, V, S> {
    /// An empty map using `hasher`.
    #[track_caller]
    #[inline]
    pub fn with_hasher(hasher: S) -> Self {
        Self::wrap(dashmap::DashMap::with_hasher(hasher), None)
    }

    /// An empty map with room for `capacity` entries, using `hasher`.
    #[track_caller]
    #[inline]
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        Self::wrap(
            dashmap::DashMap::with_capacity_and_hasher(capacity, hasher),
            None,
        )
    }

    /// An empty map using `hasher`, in `shard_amount` shards.
    #[track_caller]
    #[inline]
    pub fn with_hasher_and_shard_amount(hasher: S, shard_amount: usize) -> Self {
        Self::wrap(
            dashmap::DashMap::with_hasher_and_shard_amount(hasher, shard_amount),
            None,
        )
    }

    /// An empty map with room for `capacity` entries, using `hasher`, in
    /// `shard_amount` shards.
    #[track_caller]
    #[inline]
    pub fn with_capacity_and_hasher_and_shard_amount(
        capacity: usize,
        hasher: S,
        shard_amount: usize,
    ) -> Self {
        Self::wrap(
            dashmap::DashMap::with_capacity_and_hasher_and_shard_amount(
                capacity,
                hasher,
                shard_amount,
            ),
            None,
        )
    }

    /// The hash dashmap uses for `item` (to pick a shard). Takes no lock; not checked.
    #[inline]
    pub fn hash_usize<T: Hash>(&self, item: &T) -> usize {
        self.inner.hash_usize(item)
    }

    /// Reserves room for `additional` more entries (`&mut self`: no other thread can
    /// be using the map). Not checked.
    #[inline]
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), dashmap::TryReserveError> {
        self.inner.try_reserve(additional)
    }

    /// A read-only view of the contents, which needs no locks. Reads through it are
    /// not checked (nothing can write while it exists).
    #[inline]
    pub fn into_read_only(self) -> dashmap::ReadOnlyView<K, V, S> {
        self.inner.into_read_only()
    }
}

impl<K, V, S> DashMap<K, V, S> {
    #[track_caller]
    fn wrap(inner: dashmap::DashMap<K, V, S>, name: Option<MapName>) -> Self {
        DashMap {
            inner,
            guard: MapState::new(name, Location::caller(), std::any::type_name::<Self>()),
        }
    }

    /// `inner` guarded, named by its type: built by code whose site says nothing
    /// (rayon's `collect`).
    #[cfg(feature = "rayon")]
    pub(super) fn wrap_collected(inner: dashmap::DashMap<K, V, S>) -> Self {
        DashMap {
            inner,
            guard: MapState::collected(std::any::type_name::<Self>()),
        }
    }

    crate::maps::settings_methods!();

    /// The dashmap inside, unchecked: calls made through it are invisible to mapguard.
    #[inline]
    pub fn inner(&self) -> &dashmap::DashMap<K, V, S> {
        &self.inner
    }

    /// Gives the dashmap back.
    #[inline]
    pub fn into_inner(self) -> dashmap::DashMap<K, V, S> {
        self.inner
    }
}

impl<'a, K: 'a + Eq + Hash, V: 'a, S: BuildHasher + Clone> DashMap<K, V, S> {
    /// Inserts a pair, returning the old value if the key was present.
    ///
    /// A write. **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map.
    #[track_caller]
    #[inline]
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        self.guard.keyed(op::Insert, &key, Location::caller());
        self.inner.insert(key, value)
    }

    /// Removes a key, returning the pair if it was present.
    ///
    /// A write. **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map.
    #[track_caller]
    #[inline]
    pub fn remove<Q>(&self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.guard.keyed(op::Remove, key, Location::caller());
        self.inner.remove(key)
    }

    /// Removes a key if `f` says so, atomically under the shard lock.
    ///
    /// A write. **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map, and if `f` touches the map.
    #[track_caller]
    #[inline]
    pub fn remove_if<Q>(&self, key: &Q, f: impl FnOnce(&K, &V) -> bool) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let _held = self.guard.keyed_hold(op::RemoveIf, key, Location::caller());
        self.inner.remove_if(key, f)
    }

    /// Like [`DashMap::remove_if`], with mutable access to the value.
    #[track_caller]
    #[inline]
    pub fn remove_if_mut<Q>(&self, key: &Q, f: impl FnOnce(&K, &mut V) -> bool) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let _held = self.guard.keyed_hold(op::RemoveIf, key, Location::caller());
        self.inner.remove_if_mut(key, f)
    }

    /// A read guard to a value. The guard holds the shard's read lock until dropped.
    ///
    /// A read (recorded for `lost_update`). **Locking behaviour:** may deadlock if
    /// called when holding a mutable reference into the map.
    #[track_caller]
    #[inline]
    pub fn get<Q>(&'a self, key: &Q) -> Option<Ref<'a, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let held = self.guard.keyed_hold(op::Get, key, Location::caller());
        self.inner.get(key).map(|inner| Ref { inner, held })
    }

    /// A write guard to a value. The guard holds the shard's write lock until dropped.
    ///
    /// A write. **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map.
    #[track_caller]
    #[inline]
    pub fn get_mut<Q>(&'a self, key: &Q) -> Option<RefMut<'a, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let held = self.guard.keyed_hold(op::GetMut, key, Location::caller());
        self.inner.get_mut(key).map(|inner| RefMut { inner, held })
    }

    /// Like [`DashMap::get`], but returns [`TryResult::Locked`] instead of waiting.
    /// Never deadlocks, so never a `reentrant_access` finding.
    ///
    /// Recorded only when it gets the value, so after dashmap took the shard lock:
    /// the key is hashed before, but the record runs under the lock, and with it a
    /// new finding's stack capture (each write's, with backtrace `always`) and what a
    /// thread's or a map's first checked call does (see the type's Cost). Reaction
    /// `panic` stops the record at the finding, releases the lock and then panics
    /// (the call returns no guard, and its access is not stored as the map's last
    /// write or read, as for a blocking call that panics; built with `panic =
    /// "abort"` it panics under the lock); reaction `call` calls back when the guard
    /// is dropped.
    #[track_caller]
    #[inline]
    pub fn try_get<Q>(&'a self, key: &Q) -> TryResult<Ref<'a, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // Recorded only when it gets the value: a call that finds the shard locked
        // read nothing, and a try_* call never waits, so it cannot deadlock. The key
        // is hashed before the lock is taken.
        let site = Location::caller();
        let hash = self.guard.hash_if_on(key);
        match self.inner.try_get(key) {
            TryResult::Present(inner) => {
                let (inner, held) = self.guard.try_hold(op::TryGet, hash, site, inner);
                TryResult::Present(Ref { inner, held })
            }
            TryResult::Absent => TryResult::Absent,
            TryResult::Locked => TryResult::Locked,
        }
    }

    /// Like [`DashMap::get_mut`], but returns [`TryResult::Locked`] instead of waiting.
    /// Recorded under the shard lock it took, as [`DashMap::try_get`].
    #[track_caller]
    #[inline]
    pub fn try_get_mut<Q>(&'a self, key: &Q) -> TryResult<RefMut<'a, K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // Recorded only when it gets the value (see try_get).
        let site = Location::caller();
        let hash = self.guard.hash_if_on(key);
        match self.inner.try_get_mut(key) {
            TryResult::Present(inner) => {
                let (inner, held) = self.guard.try_hold(op::TryGetMut, hash, site, inner);
                TryResult::Present(RefMut { inner, held })
            }
            TryResult::Absent => TryResult::Absent,
            TryResult::Locked => TryResult::Locked,
        }
    }

    /// True if the map holds `key`.
    ///
    /// A read (recorded for `lost_update`: `contains_key` then `insert` is the classic
    /// check-then-act). **Locking behaviour:** may deadlock if called when holding a
    /// mutable reference into the map.
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

    /// Calls `f` with the pair under the shard's read lock, returning its result. A
    /// write to the map from `f` deadlocks (reported as `reentrant_access`).
    #[track_caller]
    #[inline]
    pub fn view<Q, R>(&self, key: &Q, f: impl FnOnce(&K, &V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let _held = self.guard.keyed_hold(op::View, key, Location::caller());
        self.inner.view(key, f)
    }

    /// The entry for `key`, for in-place insert-or-modify. The entry holds the
    /// shard's write lock until dropped: this is the atomic read-modify-write.
    ///
    /// A write. **Locking behaviour:** may deadlock if called when holding any sort of
    /// reference into the map.
    #[track_caller]
    #[inline]
    pub fn entry(&'a self, key: K) -> Entry<'a, K, V> {
        let (held, key) = self
            .guard
            .keyed_hold_owned(op::Entry, key, Location::caller());
        Entry::wrap(self.inner.entry(key), held)
    }

    /// Like [`DashMap::entry`], but `None` instead of waiting for a locked shard.
    /// Recorded under the shard lock it took, as [`DashMap::try_get`].
    #[track_caller]
    #[inline]
    pub fn try_entry(&'a self, key: K) -> Option<Entry<'a, K, V>> {
        // Recorded only when it gets the entry (see try_get); the key is hashed
        // before it moves into dashmap.
        let site = Location::caller();
        let hash = self.guard.hash_if_on(&key);
        self.inner.try_entry(key).map(|e| {
            let (e, held) = self.guard.try_hold(op::TryEntry, hash, site, e);
            Entry::wrap(e, held)
        })
    }

    /// Replaces the value of `key` with `f(key, old)`, under the shard's write lock.
    /// Panics in `f` abort the process, as in dashmap. Any call on the map from `f`
    /// deadlocks (reported as `reentrant_access`).
    ///
    /// A write (an atomic one: never the write of a `lost_update`).
    #[track_caller]
    #[inline]
    pub fn alter<Q>(&self, key: &Q, f: impl FnOnce(&K, V) -> V)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let _held = self.guard.keyed_hold(op::Alter, key, Location::caller());
        self.inner.alter(key, f)
    }

    /// Replaces every value with `f(key, old)`, shard by shard, each under its write
    /// lock. Any call on the map from `f` deadlocks (reported as `reentrant_access`).
    #[track_caller]
    #[inline]
    pub fn alter_all(&self, f: impl FnMut(&K, V) -> V) {
        let _it = self.guard.iterate(Op::AlterAll, Location::caller(), true);
        self.inner.alter_all(f)
    }

    /// An iterator of read guards, locking one shard at a time. The iterator and its
    /// items hold shard read locks: writing to the map from the same thread meanwhile
    /// may deadlock (reported as `reentrant_access`); another thread writing meanwhile
    /// is reported as `write_during_iteration` (it may be missed or seen by the
    /// iteration, which is rarely what the code meant).
    #[track_caller]
    #[inline]
    pub fn iter(&'a self) -> Iter<'a, K, V, S> {
        let guard = self.guard.iterate(Op::Iter, Location::caller(), true);
        Iter {
            inner: self.inner.iter(),
            _guard: guard,
        }
    }

    /// An iterator of write guards, locking one shard at a time. A map-wide write.
    /// Deadlocks if this thread holds any guard into the map (reported as
    /// `reentrant_access`).
    #[track_caller]
    #[inline]
    pub fn iter_mut(&'a self) -> IterMut<'a, K, V, S> {
        let guard = self.guard.iterate(Op::IterMut, Location::caller(), true);
        IterMut {
            inner: self.inner.iter_mut(),
            _guard: guard,
        }
    }

    /// Keeps the pairs for which `f` returns true, shard by shard under write locks.
    /// A map-wide write, and the safe way to remove while "iterating". Any call on the
    /// map from `f`, or while this thread holds a guard into it, deadlocks (reported
    /// as `reentrant_access`).
    #[track_caller]
    #[inline]
    pub fn retain(&self, f: impl FnMut(&K, &mut V) -> bool) {
        let _it = self.guard.iterate(Op::Retain, Location::caller(), true);
        self.inner.retain(f)
    }

    /// The number of pairs (read-locks every shard in turn).
    ///
    /// **Locking behaviour:** may deadlock if called when holding a mutable reference
    /// into the map.
    #[track_caller]
    #[inline]
    pub fn len(&self) -> usize {
        self.guard.whole(Op::Len, Location::caller());
        self.inner.len()
    }

    /// True if the map is empty (read-locks every shard in turn).
    #[track_caller]
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.guard.whole(Op::IsEmpty, Location::caller());
        self.inner.is_empty()
    }

    /// Removes every pair, write-locking each shard in turn. A map-wide write.
    /// Deadlocks if this thread holds any guard into the map (reported as
    /// `reentrant_access`).
    #[track_caller]
    #[inline]
    pub fn clear(&self) {
        self.guard.whole(Op::Clear, Location::caller());
        self.inner.clear()
    }

    /// Frees unused capacity (write-locks every shard in turn). Not a write.
    #[track_caller]
    #[inline]
    pub fn shrink_to_fit(&self) {
        self.guard.whole(Op::ShrinkToFit, Location::caller());
        self.inner.shrink_to_fit()
    }

    /// The capacity (read-locks every shard in turn). Not checked: deadlocks,
    /// unreported, if this thread holds a write guard into the map.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.inner.capacity()
    }

    /// The hasher. Not checked (takes no lock).
    #[inline]
    pub fn hasher(&self) -> &S {
        self.inner.hasher()
    }
}

/// An empty map with `S::default()` as its hasher, named after the call site, as
/// dashmap's `Default` (any `S: Default`, not only `RandomState`).
impl<K: Eq + Hash, V, S: Default + BuildHasher + Clone> Default for DashMap<K, V, S> {
    #[track_caller]
    #[inline]
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

impl<K: Eq + Hash + fmt::Debug, V: fmt::Debug, S: BuildHasher + Clone> fmt::Debug
    for DashMap<K, V, S>
{
    /// Formats the contents as dashmap does (reading every shard), unchecked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<K: Eq + Hash + Clone, V: Clone, S: Clone> Clone for DashMap<K, V, S> {
    /// A copy of the contents, with the same name and settings and no history.
    /// O(n): read-locks each shard in turn; not checked.
    fn clone(&self) -> Self {
        DashMap {
            inner: self.inner.clone(),
            guard: self.guard.fresh_copy(),
        }
    }
}

impl<K: Eq + Hash, V, S: BuildHasher + Clone + Default> FromIterator<(K, V)> for DashMap<K, V, S> {
    #[track_caller]
    #[inline]
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        DashMap::wrap(dashmap::DashMap::from_iter(iter), None)
    }
}

impl<K: Eq + Hash, V, S: BuildHasher + Clone> Extend<(K, V)> for DashMap<K, V, S> {
    /// Inserts every pair (`&mut self`: no other thread can be using the map).
    #[inline]
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.inner.extend(iter)
    }
}

// dashmap's operator shorthands, checked as the calls they stand for.

/// `&map << (k, v)`: [`DashMap::insert`].
impl<'a, K: 'a + Eq + Hash, V: 'a, S: BuildHasher + Clone> Shl<(K, V)> for &'a DashMap<K, V, S> {
    type Output = Option<V>;
    #[track_caller]
    #[inline]
    fn shl(self, pair: (K, V)) -> Self::Output {
        self.insert(pair.0, pair.1)
    }
}

/// `&map >> &k`: [`DashMap::get`], unwrapped (panics if absent, as dashmap's does).
impl<'a, K: 'a + Eq + Hash, V: 'a, S: BuildHasher + Clone, Q> Shr<&Q> for &'a DashMap<K, V, S>
where
    K: Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    type Output = Ref<'a, K, V>;
    #[track_caller]
    #[inline]
    fn shr(self, key: &Q) -> Self::Output {
        self.get(key).unwrap()
    }
}

/// `&map | &k`: [`DashMap::get_mut`], unwrapped (panics if absent, as dashmap's
/// does).
impl<'a, K: 'a + Eq + Hash, V: 'a, S: BuildHasher + Clone, Q> BitOr<&Q> for &'a DashMap<K, V, S>
where
    K: Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    type Output = RefMut<'a, K, V>;
    #[track_caller]
    #[inline]
    fn bitor(self, key: &Q) -> Self::Output {
        self.get_mut(key).unwrap()
    }
}

/// `&map - &k`: [`DashMap::remove`].
impl<'a, K: 'a + Eq + Hash, V: 'a, S: BuildHasher + Clone, Q> Sub<&Q> for &'a DashMap<K, V, S>
where
    K: Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    type Output = Option<(K, V)>;
    #[track_caller]
    #[inline]
    fn sub(self, key: &Q) -> Self::Output {
        self.remove(key)
    }
}

/// `&map & &k`: [`DashMap::contains_key`].
impl<'a, K: 'a + Eq + Hash, V: 'a, S: BuildHasher + Clone, Q> BitAnd<&Q> for &'a DashMap<K, V, S>
where
    K: Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    type Output = bool;
    #[track_caller]
    #[inline]
    fn bitand(self, key: &Q) -> Self::Output {
        self.contains_key(key)
    }
}

impl<K, V, S> From<dashmap::DashMap<K, V, S>> for DashMap<K, V, S> {
    /// Guards an existing dashmap, named after the call site.
    #[track_caller]
    #[inline]
    fn from(inner: dashmap::DashMap<K, V, S>) -> Self {
        DashMap::wrap(inner, None)
    }
}

impl<K: Eq + Hash, V, S: BuildHasher + Clone> IntoIterator for DashMap<K, V, S> {
    type Item = (K, V);
    type IntoIter = dashmap::iter::OwningIter<K, V, S>;
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.inner.into_iter()
    }
}

impl<'a, K: Eq + Hash, V, S: BuildHasher + Clone> IntoIterator for &'a DashMap<K, V, S> {
    type Item = RefMulti<'a, K, V>;
    type IntoIter = Iter<'a, K, V, S>;
    #[track_caller]
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(feature = "serde")]
impl<K, V, S> serde::Serialize for DashMap<K, V, S>
where
    K: serde::Serialize + Eq + Hash,
    V: serde::Serialize,
    S: BuildHasher + Clone,
{
    /// Serialises the contents as dashmap does, unchecked.
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        self.inner.serialize(s)
    }
}

#[cfg(feature = "serde")]
impl<'de, K, V, S> serde::Deserialize<'de> for DashMap<K, V, S>
where
    K: serde::Deserialize<'de> + Eq + Hash,
    V: serde::Deserialize<'de>,
    S: BuildHasher + Clone + Default,
{
    /// Deserialises the contents; the map is named after the call site of the
    /// deserialiser (rename it with [`DashMap::with_name`]).
    #[track_caller]
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        dashmap::DashMap::deserialize(d).map(|inner| DashMap::wrap(inner, None))
    }
}

// ---- guards -------------------------------------------------------------------

/// Serialises the guards as the value they point at, as dashmap's (feature `serde`).
#[cfg(feature = "serde")]
macro_rules! serialize_guard {
    ($($guard:ident<$($p:ident),*> => $t:ident),*) => {$(
        impl<K: Eq + Hash, $($p,)* > serde::Serialize for $guard<'_, K, $($p),*>
        where
            $t: serde::Serialize,
        {
            fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
                self.value().serialize(s)
            }
        }
    )*};
}
#[cfg(feature = "serde")]
serialize_guard!(Ref<V> => V, RefMut<V> => V, MappedRef<V, T> => T, MappedRefMut<V, T> => T);

/// A read guard to one value: dashmap's `Ref`, tracked as held by this thread until
/// dropped. Holds the shard's read lock.
pub struct Ref<'a, K, V> {
    inner: done::Ref<'a, K, V>,
    held: HeldGuard,
}

impl<'a, K: Eq + Hash, V> Ref<'a, K, V> {
    /// The key.
    #[inline]
    pub fn key(&self) -> &K {
        self.inner.key()
    }
    /// The value.
    #[inline]
    pub fn value(&self) -> &V {
        self.inner.value()
    }
    /// Key and value.
    #[inline]
    pub fn pair(&self) -> (&K, &V) {
        self.inner.pair()
    }
    /// A guard to a part of the value.
    #[inline]
    pub fn map<F, T>(self, f: F) -> MappedRef<'a, K, V, T>
    where
        F: FnOnce(&V) -> &T,
    {
        MappedRef {
            inner: self.inner.map(f),
            _held: self.held,
        }
    }
    /// A guard to a part of the value, if `f` finds one; the original guard otherwise.
    #[inline]
    pub fn try_map<F, T>(self, f: F) -> Result<MappedRef<'a, K, V, T>, Self>
    where
        F: FnOnce(&V) -> Option<&T>,
    {
        let held = self.held;
        match self.inner.try_map(f) {
            Ok(inner) => Ok(MappedRef { inner, _held: held }),
            Err(inner) => Err(Ref { inner, held }),
        }
    }
}

impl<K: Eq + Hash, V> Deref for Ref<'_, K, V> {
    type Target = V;
    #[inline]
    fn deref(&self) -> &V {
        self.inner.value()
    }
}

impl<K: Eq + Hash + fmt::Debug, V: fmt::Debug> fmt::Debug for Ref<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// A write guard to one value: dashmap's `RefMut`, tracked as held by this thread
/// until dropped. Holds the shard's write lock.
pub struct RefMut<'a, K, V> {
    inner: done::RefMut<'a, K, V>,
    held: HeldGuard,
}

impl<'a, K: Eq + Hash, V> RefMut<'a, K, V> {
    /// The key.
    #[inline]
    pub fn key(&self) -> &K {
        self.inner.key()
    }
    /// The value.
    #[inline]
    pub fn value(&self) -> &V {
        self.inner.value()
    }
    /// The value, mutably.
    #[inline]
    pub fn value_mut(&mut self) -> &mut V {
        self.inner.value_mut()
    }
    /// Key and value.
    #[inline]
    pub fn pair(&self) -> (&K, &V) {
        self.inner.pair()
    }
    /// Key and value, the value mutably.
    #[inline]
    pub fn pair_mut(&mut self) -> (&K, &mut V) {
        self.inner.pair_mut()
    }
    /// A read guard in place of this write guard: dashmap downgrades the shard's
    /// write lock to a read lock, so other readers get in. From here on the guard
    /// counts as a read guard (taken at this call, reported as `downgrade`): a read
    /// under it is no `reentrant_access`, a write still is.
    #[track_caller]
    #[inline]
    pub fn downgrade(self) -> Ref<'a, K, V> {
        Ref {
            inner: self.inner.downgrade(),
            held: self.held.downgraded(Location::caller()),
        }
    }
    /// A guard to a part of the value.
    #[inline]
    pub fn map<F, T>(self, f: F) -> MappedRefMut<'a, K, V, T>
    where
        F: FnOnce(&mut V) -> &mut T,
    {
        MappedRefMut {
            inner: self.inner.map(f),
            _held: self.held,
        }
    }
    /// A guard to a part of the value, if `f` finds one; the original guard otherwise.
    #[inline]
    pub fn try_map<F, T>(self, f: F) -> Result<MappedRefMut<'a, K, V, T>, Self>
    where
        F: FnOnce(&mut V) -> Option<&mut T>,
    {
        let held = self.held;
        match self.inner.try_map(f) {
            Ok(inner) => Ok(MappedRefMut { inner, _held: held }),
            Err(inner) => Err(RefMut { inner, held }),
        }
    }
}

impl<K: Eq + Hash, V> Deref for RefMut<'_, K, V> {
    type Target = V;
    #[inline]
    fn deref(&self) -> &V {
        self.inner.value()
    }
}

impl<K: Eq + Hash, V> DerefMut for RefMut<'_, K, V> {
    #[inline]
    fn deref_mut(&mut self) -> &mut V {
        self.inner.value_mut()
    }
}

impl<K: Eq + Hash + fmt::Debug, V: fmt::Debug> fmt::Debug for RefMut<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// A read guard to part of a value ([`Ref::map`]).
pub struct MappedRef<'a, K, V, T> {
    inner: done::MappedRef<'a, K, V, T>,
    _held: HeldGuard,
}

impl<'a, K: Eq + Hash, V, T> MappedRef<'a, K, V, T> {
    /// The key.
    #[inline]
    pub fn key(&self) -> &K {
        self.inner.key()
    }
    /// The mapped part.
    #[inline]
    pub fn value(&self) -> &T {
        self.inner.value()
    }
    /// Key and mapped part.
    #[inline]
    pub fn pair(&self) -> (&K, &T) {
        self.inner.pair()
    }
    /// A guard to a part of the mapped part.
    #[inline]
    pub fn map<F, T2>(self, f: F) -> MappedRef<'a, K, V, T2>
    where
        F: FnOnce(&T) -> &T2,
    {
        MappedRef {
            inner: self.inner.map(f),
            _held: self._held,
        }
    }
    /// A guard to a part of the mapped part, if `f` finds one; this guard otherwise.
    #[inline]
    pub fn try_map<F, T2>(self, f: F) -> Result<MappedRef<'a, K, V, T2>, Self>
    where
        F: FnOnce(&T) -> Option<&T2>,
    {
        let held = self._held;
        match self.inner.try_map(f) {
            Ok(inner) => Ok(MappedRef { inner, _held: held }),
            Err(inner) => Err(MappedRef { inner, _held: held }),
        }
    }
}

impl<K: Eq + Hash + fmt::Debug, V, T: fmt::Debug> fmt::Debug for MappedRef<'_, K, V, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<K: Eq + Hash, V, T: fmt::Display> fmt::Display for MappedRef<'_, K, V, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.value(), f)
    }
}

impl<K: Eq + Hash, V, T: AsRef<TDeref>, TDeref: ?Sized> AsRef<TDeref> for MappedRef<'_, K, V, T> {
    #[inline]
    fn as_ref(&self) -> &TDeref {
        self.value().as_ref()
    }
}

impl<K: Eq + Hash, V, T> Deref for MappedRef<'_, K, V, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        self.inner.value()
    }
}

/// A write guard to part of a value ([`RefMut::map`]).
pub struct MappedRefMut<'a, K, V, T> {
    inner: done::MappedRefMut<'a, K, V, T>,
    _held: HeldGuard,
}

impl<'a, K: Eq + Hash, V, T> MappedRefMut<'a, K, V, T> {
    /// The key.
    #[inline]
    pub fn key(&self) -> &K {
        self.inner.key()
    }
    /// The mapped part.
    #[inline]
    pub fn value(&self) -> &T {
        self.inner.value()
    }
    /// The mapped part, mutably.
    #[inline]
    pub fn value_mut(&mut self) -> &mut T {
        self.inner.value_mut()
    }
    /// Key and mapped part.
    #[inline]
    pub fn pair(&self) -> (&K, &T) {
        self.inner.pair()
    }
    /// Key and mapped part, the part mutably.
    #[inline]
    pub fn pair_mut(&mut self) -> (&K, &mut T) {
        self.inner.pair_mut()
    }
    /// A guard to a part of the mapped part.
    #[inline]
    pub fn map<F, T2>(self, f: F) -> MappedRefMut<'a, K, V, T2>
    where
        F: FnOnce(&mut T) -> &mut T2,
    {
        MappedRefMut {
            inner: self.inner.map(f),
            _held: self._held,
        }
    }
    /// A guard to a part of the mapped part, if `f` finds one; this guard otherwise.
    #[inline]
    pub fn try_map<F, T2>(self, f: F) -> Result<MappedRefMut<'a, K, V, T2>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut T2>,
    {
        let held = self._held;
        match self.inner.try_map(f) {
            Ok(inner) => Ok(MappedRefMut { inner, _held: held }),
            Err(inner) => Err(MappedRefMut { inner, _held: held }),
        }
    }
}

impl<K: Eq + Hash + fmt::Debug, V, T: fmt::Debug> fmt::Debug for MappedRefMut<'_, K, V, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl<K: Eq + Hash, V, T> Deref for MappedRefMut<'_, K, V, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        self.inner.value()
    }
}

impl<K: Eq + Hash, V, T> DerefMut for MappedRefMut<'_, K, V, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.inner.value_mut()
    }
}

/// An entry: dashmap's `Entry`, holding the shard's write lock until dropped.
pub enum Entry<'a, K, V> {
    /// The key is present.
    Occupied(OccupiedEntry<'a, K, V>),
    /// The key is absent.
    Vacant(VacantEntry<'a, K, V>),
}

impl<'a, K: Eq + Hash, V> Entry<'a, K, V> {
    fn wrap(e: dashmap::Entry<'a, K, V>, held: HeldGuard) -> Self {
        match e {
            dashmap::Entry::Occupied(inner) => Entry::Occupied(OccupiedEntry { inner, held }),
            dashmap::Entry::Vacant(inner) => Entry::Vacant(VacantEntry { inner, held }),
        }
    }

    /// Applies `f` to the value if the key is present.
    #[inline]
    pub fn and_modify(self, f: impl FnOnce(&mut V)) -> Self {
        match self {
            Entry::Occupied(mut e) => {
                f(e.get_mut());
                Entry::Occupied(e)
            }
            v => v,
        }
    }
    /// The key.
    #[inline]
    pub fn key(&self) -> &K {
        match self {
            Entry::Occupied(e) => e.key(),
            Entry::Vacant(e) => e.key(),
        }
    }
    /// The key, by value.
    #[inline]
    pub fn into_key(self) -> K {
        match self {
            Entry::Occupied(e) => e.into_key(),
            Entry::Vacant(e) => e.into_key(),
        }
    }
    /// The value, inserting `V::default()` if absent.
    #[inline]
    pub fn or_default(self) -> RefMut<'a, K, V>
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }
    /// The value, inserting `value` if absent.
    #[inline]
    pub fn or_insert(self, value: V) -> RefMut<'a, K, V> {
        self.or_insert_with(|| value)
    }
    /// The value, inserting `value()` if absent.
    #[inline]
    pub fn or_insert_with(self, value: impl FnOnce() -> V) -> RefMut<'a, K, V> {
        match self {
            Entry::Occupied(e) => e.into_ref(),
            Entry::Vacant(e) => e.insert(value()),
        }
    }
    /// The value, inserting `value()?` if absent.
    #[inline]
    pub fn or_try_insert_with<E>(
        self,
        value: impl FnOnce() -> Result<V, E>,
    ) -> Result<RefMut<'a, K, V>, E> {
        match self {
            Entry::Occupied(e) => Ok(e.into_ref()),
            Entry::Vacant(e) => Ok(e.insert(value()?)),
        }
    }
    /// Sets the value, returning a guard to it.
    #[inline]
    pub fn insert(self, value: V) -> RefMut<'a, K, V> {
        match self {
            Entry::Occupied(mut e) => {
                e.insert(value);
                e.into_ref()
            }
            Entry::Vacant(e) => e.insert(value),
        }
    }
    /// Sets the value, returning the occupied entry.
    #[inline]
    pub fn insert_entry(self, value: V) -> OccupiedEntry<'a, K, V>
    where
        K: Clone,
    {
        match self {
            Entry::Occupied(mut e) => {
                e.insert(value);
                e
            }
            Entry::Vacant(e) => e.insert_entry(value),
        }
    }
}

/// An entry whose key is present.
pub struct OccupiedEntry<'a, K, V> {
    inner: dashmap::OccupiedEntry<'a, K, V>,
    held: HeldGuard,
}

impl<'a, K: Eq + Hash, V> OccupiedEntry<'a, K, V> {
    /// The value.
    #[inline]
    pub fn get(&self) -> &V {
        self.inner.get()
    }
    /// The value, mutably.
    #[inline]
    pub fn get_mut(&mut self) -> &mut V {
        self.inner.get_mut()
    }
    /// Replaces the value, returning the old one.
    #[inline]
    pub fn insert(&mut self, value: V) -> V {
        self.inner.insert(value)
    }
    /// A write guard to the value.
    #[inline]
    pub fn into_ref(self) -> RefMut<'a, K, V> {
        RefMut {
            inner: self.inner.into_ref(),
            held: self.held,
        }
    }
    /// The key, by value.
    #[inline]
    pub fn into_key(self) -> K {
        self.inner.into_key()
    }
    /// The key.
    #[inline]
    pub fn key(&self) -> &K {
        self.inner.key()
    }
    /// Removes the pair, returning the value.
    #[inline]
    pub fn remove(self) -> V {
        self.inner.remove()
    }
    /// Removes the pair, returning it.
    #[inline]
    pub fn remove_entry(self) -> (K, V) {
        self.inner.remove_entry()
    }
    /// Replaces the pair with this entry's key and `value`, returning the old pair.
    #[inline]
    pub fn replace_entry(self, value: V) -> (K, V) {
        self.inner.replace_entry(value)
    }
}

/// An entry whose key is absent.
pub struct VacantEntry<'a, K, V> {
    inner: dashmap::VacantEntry<'a, K, V>,
    held: HeldGuard,
}

impl<'a, K: Eq + Hash, V> VacantEntry<'a, K, V> {
    /// Inserts `value`, returning a write guard to it.
    #[inline]
    pub fn insert(self, value: V) -> RefMut<'a, K, V> {
        RefMut {
            inner: self.inner.insert(value),
            held: self.held,
        }
    }
    /// Inserts `value`, returning the occupied entry.
    #[inline]
    pub fn insert_entry(self, value: V) -> OccupiedEntry<'a, K, V>
    where
        K: Clone,
    {
        OccupiedEntry {
            inner: self.inner.insert_entry(value),
            held: self.held,
        }
    }
    /// The key, by value.
    #[inline]
    pub fn into_key(self) -> K {
        self.inner.into_key()
    }
    /// The key.
    #[inline]
    pub fn key(&self) -> &K {
        self.inner.key()
    }
}

/// An iterator of read guards ([`RefMulti`]), tracked as a live iteration until
/// `next()` returns `None` or it is dropped, and as a held guard until dropped.
pub struct Iter<'a, K, V, S = RandomState> {
    inner: dashmap::iter::Iter<'a, K, V, S, dashmap::DashMap<K, V, S>>,
    _guard: IterGuard<'a>,
}

impl<'a, K: Eq + Hash, V, S: 'a + BuildHasher + Clone> Iterator for Iter<'a, K, V, S> {
    type Item = RefMulti<'a, K, V>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let next = self.inner.next();
        if next.is_none() {
            // Done: no longer a live iteration (the hold stays until the drop).
            self._guard.iteration_done();
        }
        next
    }
}

/// A new iterator over the whole map, from the start (as dashmap's `clone` does):
/// a second live iteration, checked as an `iter` at the line of the `clone`.
impl<'a, K: Clone + Eq + Hash, V: Clone, S: 'a + BuildHasher + Clone> Clone for Iter<'a, K, V, S> {
    #[track_caller]
    #[inline]
    fn clone(&self) -> Self {
        Iter {
            inner: self.inner.clone(),
            _guard: self._guard.again(Location::caller()),
        }
    }
}

/// An iterator of write guards ([`RefMutMulti`]), tracked as a live iteration until
/// `next()` returns `None` or it is dropped, and as a held guard until dropped.
pub struct IterMut<'a, K, V, S = RandomState> {
    inner: dashmap::iter::IterMut<'a, K, V, S, dashmap::DashMap<K, V, S>>,
    _guard: IterGuard<'a>,
}

impl<'a, K: Eq + Hash, V, S: 'a + BuildHasher + Clone> Iterator for IterMut<'a, K, V, S> {
    type Item = RefMutMulti<'a, K, V>;
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let next = self.inner.next();
        if next.is_none() {
            // Done: no longer a live iteration (the hold stays until the drop).
            self._guard.iteration_done();
        }
        next
    }
}
