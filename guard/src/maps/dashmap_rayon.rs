//! dashmap's rayon support on the guarded [`DashMap`] (feature `rayon`): the same
//! parallel iterators, each a live iteration from the call until it is driven to the
//! end (or dropped), and the same `par_extend` and `collect`.

use std::hash::{BuildHasher, Hash};
use std::panic::Location;

use rayon::iter::plumbing::UnindexedConsumer;
use rayon::iter::{FromParallelIterator, IntoParallelIterator, ParallelExtend, ParallelIterator};

use super::dashmap::{DashMap, RefMulti, RefMutMulti};
use crate::Op;
use crate::detect::IterGuard;

/// A parallel iterator over a guarded map: dashmap's (`I`), tracked as a live
/// iteration until it has been driven (by `for_each`, `sum`, `collect`, ...) or
/// dropped. [`ParIter`] and [`ParIterMut`] name the two kinds.
///
/// The iteration belongs to the thread that called `par_iter`: a write to the map
/// while it runs is a `write_during_iteration` from any other thread (rayon's workers
/// included), a `reentrant_access` from that one. Each worker holds the lock of the
/// shard it visits while it runs the closure on its items, so a write from the
/// closure to a key of that shard deadlocks the worker on itself (reported first, as
/// `write_during_iteration`, or with reaction `panic` stopped before the lock).
pub struct LiveParIter<'a, I> {
    inner: I,
    guard: IterGuard<'a>,
}

/// Read guards ([`RefMulti`]) in parallel: [`DashMap::par_iter`].
pub type ParIter<'a, K, V> = LiveParIter<'a, dashmap::rayon::map::Iter<'a, K, V>>;

/// Write guards ([`RefMutMulti`]) in parallel, a map-wide write:
/// [`DashMap::par_iter_mut`].
pub type ParIterMut<'a, K, V> = LiveParIter<'a, dashmap::rayon::map::IterMut<'a, K, V>>;

impl<I: ParallelIterator> ParallelIterator for LiveParIter<'_, I> {
    type Item = I::Item;
    fn drive_unindexed<C: UnindexedConsumer<Self::Item>>(self, consumer: C) -> C::Result {
        // The iteration stays live until the drive returns.
        let LiveParIter {
            inner,
            guard: _live,
        } = self;
        inner.drive_unindexed(consumer)
    }
}

impl<K, V, S> DashMap<K, V, S>
where
    K: Send + Sync + Eq + Hash,
    V: Send + Sync,
    S: Send + Sync + Clone + BuildHasher,
{
    /// A parallel iterator of read guards (rayon), as dashmap's `par_iter`: checked
    /// as an `iter` at this call, live until driven or dropped. Costs what `iter`
    /// costs to check, once; each worker read-locks one shard at a time.
    #[track_caller]
    #[inline]
    pub fn par_iter(&self) -> ParIter<'_, K, V> {
        LiveParIter {
            guard: self.guard.iterate(Op::Iter, Location::caller(), true),
            inner: (&self.inner).into_par_iter(),
        }
    }

    /// A parallel iterator of write guards (rayon), as dashmap's `par_iter_mut`: a
    /// map-wide write, checked as an `iter_mut` at this call, live until driven or
    /// dropped. Each worker write-locks one shard at a time; deadlocks if this thread
    /// holds any guard into the map (reported as `reentrant_access`).
    #[track_caller]
    #[inline]
    pub fn par_iter_mut(&self) -> ParIterMut<'_, K, V> {
        LiveParIter {
            guard: self.guard.iterate(Op::IterMut, Location::caller(), true),
            inner: self.inner.par_iter_mut(),
        }
    }
}

/// `map.par_iter()` through rayon's traits (`(&map).into_par_iter()`): the same as
/// [`DashMap::par_iter`], checked at this call.
impl<'a, K, V, S> IntoParallelIterator for &'a DashMap<K, V, S>
where
    K: Send + Sync + Eq + Hash,
    V: Send + Sync,
    S: Send + Sync + Clone + BuildHasher,
{
    type Iter = ParIter<'a, K, V>;
    type Item = RefMulti<'a, K, V>;
    #[track_caller]
    #[inline]
    fn into_par_iter(self) -> Self::Iter {
        self.par_iter()
    }
}

/// `(&mut map).into_par_iter()`, as dashmap's (for the default hasher, as there):
/// `&mut`, so no other thread can be in the map; not checked, like [`Extend`].
impl<'a, K, V> IntoParallelIterator for &'a mut DashMap<K, V>
where
    K: Send + Sync + Eq + Hash,
    V: Send + Sync,
{
    type Iter = dashmap::rayon::map::IterMut<'a, K, V>;
    type Item = RefMutMulti<'a, K, V>;
    #[inline]
    fn into_par_iter(self) -> Self::Iter {
        (&mut self.inner).into_par_iter()
    }
}

/// The pairs, by value, in parallel, consuming the map (owned: nothing to check).
impl<K, V, S> IntoParallelIterator for DashMap<K, V, S>
where
    K: Send + Eq + Hash,
    V: Send,
    S: Send + Clone + BuildHasher,
{
    type Iter = dashmap::rayon::map::OwningIter<K, V>;
    type Item = (K, V);
    #[inline]
    fn into_par_iter(self) -> Self::Iter {
        self.inner.into_par_iter()
    }
}

/// Inserts every pair from rayon's workers, as dashmap does: one map-wide write at
/// this call (`extend`), then dashmap's own inserts, unchecked (the pairs are meant
/// to land concurrently).
impl<K, V, S> ParallelExtend<(K, V)> for &DashMap<K, V, S>
where
    K: Send + Sync + Eq + Hash,
    V: Send + Sync,
    S: Send + Sync + Clone + BuildHasher,
{
    #[track_caller]
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, par_iter: I) {
        self.guard.whole(Op::Extend, Location::caller());
        (&self.inner).par_extend(par_iter);
    }
}

/// As for `&DashMap`; `&mut self`, so no other thread can be in the map: not
/// checked, like [`Extend`].
impl<K, V, S> ParallelExtend<(K, V)> for DashMap<K, V, S>
where
    K: Send + Sync + Eq + Hash,
    V: Send + Sync,
    S: Send + Sync + Clone + BuildHasher,
{
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, par_iter: I) {
        self.inner.par_extend(par_iter);
    }
}

/// A map of the pairs, built in parallel. Its name is its type's (`unnamed DashMap<K,
/// V> built inside std or rayon ...`; rayon calls this, so the site is rayon's):
/// name it with `with_name`.
impl<K, V, S> FromParallelIterator<(K, V)> for DashMap<K, V, S>
where
    K: Send + Sync + Eq + Hash,
    V: Send + Sync,
    S: Send + Sync + Clone + Default + BuildHasher,
{
    fn from_par_iter<I: IntoParallelIterator<Item = (K, V)>>(par_iter: I) -> Self {
        DashMap::wrap_collected(dashmap::DashMap::from_par_iter(par_iter))
    }
}
