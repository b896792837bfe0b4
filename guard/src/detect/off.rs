//! The detector with feature `compile-out`: zero-sized types whose methods are empty
//! and always inlined, so a guarded map compiles to the plain map.

use std::hash::Hash;
use std::marker::PhantomData;
use std::panic::Location;
use std::time::Duration;

use super::{KeyedOp, MapName};
use crate::clock::ManualClock;
use crate::config::{BacktraceMode, Mode, Reaction, Rules, Scope};
use crate::finding::Op;

type SiteRef = &'static Location<'static>;

/// Nothing: the map is not checked.
#[derive(Debug)]
pub(crate) struct MapState;

#[allow(clippy::unused_self)]
impl MapState {
    #[inline(always)]
    pub(crate) fn new(_name: Option<MapName>, _caller: SiteRef, _ty: &'static str) -> Self {
        MapState
    }
    #[inline(always)]
    #[allow(dead_code)]
    pub(crate) fn collected(_ty: &'static str) -> Self {
        MapState
    }
    #[inline(always)]
    pub(crate) fn fresh_copy(&self) -> Self {
        MapState
    }
    /// Compiled out, maps keep no name.
    #[inline(always)]
    pub(crate) fn name(&self) -> &str {
        ""
    }
    #[inline(always)]
    pub(crate) fn set_name(&mut self, _: MapName) {}
    #[inline(always)]
    pub(crate) fn set_scope(&mut self, _: Scope) {}
    #[inline(always)]
    pub(crate) fn set_mode(&mut self, _: Mode) {}
    #[inline(always)]
    pub(crate) fn set_rules(&mut self, _: Rules) {}
    #[inline(always)]
    pub(crate) fn set_backtrace(&mut self, _: BacktraceMode) {}
    #[inline(always)]
    pub(crate) fn set_reaction(&mut self, _: Reaction) {}
    #[inline(always)]
    pub(crate) fn set_window(&mut self, _: Duration) {}
    #[inline(always)]
    pub(crate) fn set_key_slots(&mut self, _: usize) {}
    #[inline(always)]
    pub(crate) fn set_clock(&mut self, _: ManualClock) {}
    #[inline(always)]
    pub(crate) fn keyed<O: KeyedOp, Q: Hash + ?Sized>(&self, _: O, _: &Q, _: SiteRef) {}
    #[inline(always)]
    pub(crate) fn write_then<O: KeyedOp, M, T, R>(
        &self,
        _: O,
        map: M,
        key: T,
        _: SiteRef,
        then: impl FnOnce(M, T) -> R,
    ) -> R {
        then(map, key)
    }
    #[inline(always)]
    pub(crate) fn read_all_unlocked(&self, _: Op, _: SiteRef) {}
    #[inline(always)]
    pub(crate) fn whole(&self, _: Op, _: SiteRef) {}
    #[inline(always)]
    pub(crate) fn keyed_hold<O: KeyedOp, Q: Hash + ?Sized>(
        &self,
        _: O,
        _: &Q,
        _: SiteRef,
    ) -> HeldGuard {
        HeldGuard
    }
    #[inline(always)]
    pub(crate) fn keyed_hold_owned<O: KeyedOp, K: Hash>(
        &self,
        _: O,
        key: K,
        _: SiteRef,
    ) -> (HeldGuard, K) {
        (HeldGuard, key)
    }
    #[inline(always)]
    pub(crate) fn hash_if_on<Q: Hash + ?Sized>(&self, _: &Q) -> u64 {
        0
    }
    #[inline(always)]
    pub(crate) fn try_hold<O: KeyedOp, G>(
        &self,
        _: O,
        _: u64,
        _: SiteRef,
        inner: G,
    ) -> (G, HeldGuard) {
        (inner, HeldGuard)
    }
    #[inline(always)]
    pub(crate) fn iterate(&self, _: Op, _: SiteRef, _: bool) -> IterGuard<'_> {
        IterGuard(PhantomData)
    }
}

/// Nothing held.
#[derive(Debug)]
pub(crate) struct HeldGuard;

impl HeldGuard {
    #[inline(always)]
    pub(crate) fn downgraded(self, _: SiteRef) -> Self {
        self
    }
}

/// Nothing live.
#[derive(Debug)]
pub(crate) struct IterGuard<'a>(PhantomData<&'a ()>);

impl<'a> IterGuard<'a> {
    #[inline(always)]
    pub(crate) fn iteration_done(&mut self) {}
    #[inline(always)]
    pub(crate) fn again(&self, _: SiteRef) -> IterGuard<'a> {
        IterGuard(PhantomData)
    }
}
