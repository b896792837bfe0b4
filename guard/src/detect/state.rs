//! Per-map detector state and the rules.

use once_cell::race::OnceBox;
use std::hash::Hash;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::local::{self, Mine, PerThread};
use super::record::{FunctionRef, Record, Seen, SiteRef, Stack, Stamp};
use super::{Callback, KeyedOp, MapName, key_hash};
use crate::clock::{Clock, Epoch, ManualClock};
use crate::config::{
    self, BacktraceMode, ENABLED, MODE_ACCESSES, Mode, REACT_MASK, REACT_SHIFT, RULES_MASK,
    RULES_SHIFT, Reaction, Rules, SCOPE_KEY, Scope, UNREAD,
};
use crate::finding::{Class, FindingKind, Op};
use crate::thread::{self, Accessor, Local};

/// Marks the branch it is in as unlikely: `std::hint::cold_path()` from Rust 1.95,
/// nothing before. A macro, not a function: the hint only works called directly in
/// the branch, and an inlined wrapper loses it.
#[rustversion::since(1.95)]
macro_rules! cold_path {
    () => {
        // Compiled only from 1.95 on (`rustversion`), whatever the MSRV says.
        #[allow(clippy::incompatible_msrv)]
        std::hint::cold_path();
    };
}

/// Marks the branch it is in as unlikely: `std::hint::cold_path()` from Rust 1.95,
/// nothing before.
#[rustversion::before(1.95)]
macro_rules! cold_path {
    () => {};
}

static NEXT_MAP_ID: AtomicU64 = AtomicU64::new(0);

/// A map id no live map has: 1 to 2^48 - 1, where a remembered read keeps it below
/// its function's number (they repeat after that many maps, never 0, which a
/// forgotten read holds).
fn next_map_id() -> u64 {
    const IDS: u64 = (1 << crate::function::FUNCTION_SHIFT) - 1;
    NEXT_MAP_ID.fetch_add(1, Relaxed) % IDS + 1
}

/// Set in the settings word handed to the rules when the op returns a guard (a bit
/// the global word never uses).
const HOLD: u32 = 1 << 31;
/// Set in a map's own settings bits when it has a [`ManualClock`], so the hot path
/// picks the clock with a bit test (a bit the global word never uses).
const MANUAL_CLOCK: u32 = 1 << 30;
const _: () = assert!((HOLD | MANUAL_CLOCK) & (config::ALL_BITS) == 0);

/// Settings the fast path leaves to the general one: first use, mode `accesses`,
/// stacks `always`.
const FAST_DECLINES: u32 = config::PLAIN_CLEAR;
/// Bits that must be clear in a map's settings for [`config::PLAIN`]: the global
/// word's, and a manual clock.
const MAP_PLAIN_CLEAR: u32 = config::PLAIN_CLEAR | MANUAL_CLOCK;
/// Every bit [`MapState::fast_with`] looks at in the settings it is given.
const FAST_READS: u32 = MAP_PLAIN_CLEAR | config::PLAIN_SET | SCOPE_KEY;
/// The settings [`MapState::fast_with`] is given for a [`config::PLAIN`] map in map
/// scope: every bit it looks at is known, so each of its tests is decided when it
/// is compiled.
const PLAIN_MAP: u32 = config::PLAIN_SET;
/// [`PLAIN_MAP`] in key scope.
const PLAIN_KEY: u32 = config::PLAIN_SET | SCOPE_KEY;

/// A map's own settings bits, over the global word. Set before the map is shared.
/// Kept as the global bits to keep and the map's bits, so applying is an and and an or.
#[derive(Clone, Copy)]
struct Overrides {
    keep: u32,
    value: u32,
    /// The global word's plain bits that send this map to the fast path's copy for
    /// map scope ([`PLAIN_MAP`]): [`config::PLAIN_SCOPE_MAP`] if the map keeps the
    /// global scope, both if it overrides it to `map`, none if to `key` or if its
    /// overrides make it not plain. 16 bits: they fit where the map had padding.
    to_map: u16,
    /// [`Overrides::to_map`] for the copy for key scope ([`PLAIN_KEY`]).
    to_key: u16,
}

const _: () = assert!(config::PLAIN <= u16::MAX as u32);

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            keep: !0,
            value: 0,
            to_map: config::PLAIN_SCOPE_MAP as u16,
            to_key: config::PLAIN_SCOPE_KEY as u16,
        }
    }
}

impl Overrides {
    #[inline]
    fn apply(&self, global: u32) -> u32 {
        (global & self.keep) | self.value
    }
    /// Whether the global word `global` sends this map to the fast path's plain copy
    /// for map scope: one test of memory against the word, before applying anything.
    #[inline(always)]
    fn plain_in_map_scope(&self, global: u32) -> bool {
        global as u16 & self.to_map != 0
    }
    /// [`Overrides::plain_in_map_scope`] for key scope.
    #[inline(always)]
    fn plain_in_key_scope(&self, global: u32) -> bool {
        global as u16 & self.to_key != 0
    }
    /// Overrides the settings bits in `mask` with `value`'s. The map takes a plain
    /// copy of the fast path when the global word is [`config::PLAIN`], unless an
    /// override makes it not (one that keeps it so changes nothing there); the copy
    /// is that of its own scope if it overrides the scope, else of the global one.
    fn set(&mut self, mask: u32, value: u32) {
        debug_assert!(mask & config::PLAIN == 0);
        self.keep &= !mask;
        self.value = (self.value & !mask) | (value & mask);
        let overridden = !self.keep;
        let plain = self.value & overridden & MAP_PLAIN_CLEAR == 0
            && overridden & config::PLAIN_SET & !self.value == 0;
        let (to_map, to_key) = if !plain {
            (0, 0)
        } else if overridden & SCOPE_KEY == 0 {
            (config::PLAIN_SCOPE_MAP, config::PLAIN_SCOPE_KEY)
        } else if self.value & SCOPE_KEY != 0 {
            (0, config::PLAIN)
        } else {
            (config::PLAIN, 0)
        };
        (self.to_map, self.to_key) = (to_map as u16, to_key as u16);
    }
}

/// Settings few maps change, boxed so that the maps that don't pay 8 bytes.
#[derive(Clone, Default)]
struct Rare {
    window_ms: u64,
    key_slots: usize,
    callback: Option<Callback>,
    clock: Clock,
}

/// State only some maps need, allocated the first time it is: the last read (mode
/// `accesses`) and the iterator that is live (on the first `iter`/`iter_mut`).
#[derive(Default)]
struct Extras {
    last_read: Record,
    iter_holder: Record,
}

/// A map's key slots (key scope), a power of two of them.
struct KeySlots {
    slots: Box<[Slot]>,
    /// The stamp of the write of every key the table was built from, until that
    /// write's own pass takes it (0: none, or taken). Taken, not only compared: a
    /// later write of every key with the same stamp (its write number wrapped) must
    /// still fill the table.
    from: AtomicU64,
}

/// A key slot: one record (40 bytes).
#[derive(Default)]
struct Slot(Record);

/// The record of `key`'s slot among `slots` (a power of two of them).
#[inline(always)]
fn slot_of(slots: &[Slot], key: u64) -> &Record {
    &slots[(key as usize) & (slots.len() - 1)].0
}

/// One access as the detector saw it, before names and stacks are resolved.
#[derive(Clone, Debug)]
pub(crate) struct RawAccess {
    pub(crate) who: Accessor,
    pub(crate) op: Op,
    pub(crate) site: Option<SiteRef>,
    /// The `#[guarded]` function the access was made in.
    pub(crate) function: Option<FunctionRef>,
    pub(crate) ms: u64,
    pub(crate) stack: Option<Arc<Stack>>,
    /// Its stack would have been captured (backtrace `on_finding`) but was not: too
    /// many new findings were already waiting for the reporter ([`crate::report::stack_room`]).
    pub(crate) stack_skipped: bool,
}

impl RawAccess {
    /// An access this thread remembers.
    fn mine(m: &Mine) -> Self {
        RawAccess {
            who: m.stamp.who(),
            op: m.stamp.op(),
            site: m.site,
            function: m.function,
            ms: m.stamp.ms(),
            stack: None,
            stack_skipped: false,
        }
    }
}

/// An earlier access of a finding, and the record its stack (if any) is kept in.
/// Stacks are fetched only for a new finding, so a duplicate costs no refcount.
struct Earlier<'a> {
    access: RawAccess,
    record: Option<&'a Record>,
}

impl<'a> Earlier<'a> {
    fn from_seen(seen: &Seen, record: &'a Record) -> Self {
        Earlier {
            access: RawAccess {
                who: seen.stamp.who(),
                op: seen.stamp.op(),
                site: seen.site,
                function: seen.function,
                ms: seen.stamp.ms(),
                stack: None,
                stack_skipped: false,
            },
            record: Some(record),
        }
    }

    fn local(access: RawAccess) -> Self {
        Earlier {
            access,
            record: None,
        }
    }
}

/// A finding as the user's thread hands it to the reporter.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub(crate) kind: FindingKind,
    pub(crate) map: Arc<str>,
    pub(crate) scope: Scope,
    pub(crate) key: u64,
    pub(crate) same_key: bool,
    pub(crate) window_ms: u64,
    pub(crate) gap_ms: u64,
    pub(crate) accesses: Vec<RawAccess>,
    pub(crate) epoch: Epoch,
    /// Identifies the finding within this process (kind, map, site addresses).
    pub(crate) local_key: u64,
    /// With feature `otel`, the span current where a new finding was made.
    pub(crate) origin: crate::sink::Origin,
}

impl Candidate {
    /// One line for a panic message, without names or stacks.
    pub(crate) fn summary(&self) -> String {
        let mut s = format!("mapguard: {} on map \"{}\"", self.kind, self.map);
        for (i, a) in self.accesses.iter().rev().enumerate() {
            s.push_str(if i == 0 { ": " } else { " after " });
            match a.site {
                Some(l) => s.push_str(&format!(
                    "{} at {}:{}:{} (thread {})",
                    a.op,
                    l.file(),
                    l.line(),
                    l.column(),
                    a.who.bits()
                )),
                None => s.push_str(&format!("{} (thread {})", a.op, a.who.bits())),
            }
        }
        s
    }
}

/// Everything one access needs, computed once at its start. The window is not in
/// it: only an access by another thread needs it ([`MapState::conflicts`]).
struct Ctx {
    eff: u32,
    me: Accessor,
    counters: &'static thread::ThreadCounters,
    now: u64,
    op: Op,
    key: u64,
    site: SiteRef,
    function: Option<FunctionRef>,
}

impl Ctx {
    #[inline(always)]
    fn has(&self, kind: FindingKind) -> bool {
        rule_on(self.eff, kind)
    }
    #[inline(always)]
    fn stamp(&self) -> Stamp {
        Stamp::new(self.me, self.op, self.now)
    }
    /// This access, as the thread remembers it.
    #[inline(always)]
    fn mine(&self, map: u64) -> Mine {
        Mine {
            map,
            key: self.key,
            stamp: self.stamp(),
            site: Some(self.site),
            function: self.function,
        }
    }
    fn access(&self) -> RawAccess {
        RawAccess {
            who: self.me,
            op: self.op,
            site: Some(self.site),
            function: self.function,
            ms: self.now,
            stack: None,
            stack_skipped: false,
        }
    }
    fn backtrace(&self) -> BacktraceMode {
        match (self.eff & config::BT_MASK) >> config::BT_SHIFT {
            0 => BacktraceMode::Off,
            1 => BacktraceMode::OnFinding,
            _ => BacktraceMode::Always,
        }
    }
}

/// The detector's state for one map instance.
///
/// Map scope: the fields below (120 bytes) and no heap unless the name is a
/// `String` or the construction site. Mode `accesses` and iteration add [`Extras`]
/// (80 bytes, once); key scope adds its key slots (40 bytes each, and 24 for the
/// table's pointer and length and the write of every key it was built from),
/// allocated on the map's first keyed access or write of every key in key scope.
/// Both hang off the map by a `OnceBox`, one pointer tested for null. The slots
/// used to sit in a `OnceLock` inside `Extras`, itself behind another: a keyed
/// access tested two `Once` states on the way, 4 to 9 instructions more per
/// key-scope access for the same two hops. Neither is waited on: threads that find
/// one missing at once each build it, one is kept and the others are dropped.
pub(crate) struct MapState {
    id: u64,
    name_hash: u64,
    name: MapName,
    over: Overrides,
    rare: Option<Box<Rare>>,
    last_write: Record,
    iter_live: AtomicU32,
    extras: OnceBox<Extras>,
    slots: OnceBox<KeySlots>,
}

/// The name of a map built without one: its construction site, `file:line`. A map
/// built inside std (`collect()`, whose `from_iter` call std makes) or rayon would get
/// a line of their source; it is named by its type instead (`ty`, the wrapper's
/// `type_name`), with a word on how to name it: stable across runs, as a site is,
/// and shared by the maps of one type built that way, as a site is by the maps built
/// at one line.
fn default_name(caller: Option<&Location<'_>>, ty: &str) -> String {
    let in_std = |file: &str| {
        file.starts_with("/rustc/")
            || [
                "/library/core/src/",
                "/library/alloc/src/",
                "/library/std/src/",
            ]
            .iter()
            .any(|lib| file.contains(lib))
    };
    match caller {
        Some(c) if !in_std(c.file()) => format!("{}:{}", c.file(), c.line()),
        _ => format!(
            "unnamed {} built inside std or rayon (name it with with_name)",
            short_type(ty)
        ),
    }
}

/// `a::b::C<d::E, u64>` as `C<E, u64>`.
fn short_type(ty: &str) -> String {
    let mut out = String::with_capacity(ty.len());
    let mut path = String::new();
    for c in ty.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            out.push_str(path.rsplit("::").next().unwrap_or_default());
            path.clear();
            out.push(c);
        }
    }
    out.push_str(path.rsplit("::").next().unwrap_or_default());
    out
}

// Unwind safety, as std's maps have it: a panic out of a checked call (a callback's
// is caught; reaction `panic`'s comes before the map is touched, or for a `try_*`
// call right after the lock it took is released) leaves the state as
// consistent as any other moment does: atomics and records stored whole. Only the
// reaction's `Arc<dyn Fn>` lacks the marker.
impl std::panic::UnwindSafe for MapState {}
impl std::panic::RefUnwindSafe for MapState {}

impl MapState {
    /// `ty`: the wrapper's type name, for a map built inside std ([`default_name`]).
    pub(crate) fn new(
        name: Option<MapName>,
        caller: &'static Location<'static>,
        ty: &'static str,
    ) -> Self {
        Self::build(name, Some(caller), ty)
    }

    /// The state of a map collected by code other than the user's (rayon), whose
    /// construction site says nothing: named by its type.
    #[cfg_attr(not(feature = "rayon"), allow(dead_code))]
    pub(crate) fn collected(ty: &'static str) -> Self {
        Self::build(None, None, ty)
    }

    fn build(
        name: Option<MapName>,
        caller: Option<&'static Location<'static>>,
        ty: &'static str,
    ) -> Self {
        let id = next_map_id();
        let name = name.unwrap_or_else(|| default_name(caller, ty).into());
        MapState {
            id,
            name_hash: crate::finding::fnv1a(&[name.as_bytes()]),
            name,
            over: Overrides::default(),
            rare: None,
            last_write: Record::default(),
            iter_live: AtomicU32::new(0),
            extras: OnceBox::new(),
            slots: OnceBox::new(),
        }
    }

    /// A fresh state for a clone of the map: same name and settings, no history.
    pub(crate) fn fresh_copy(&self) -> Self {
        MapState {
            id: next_map_id(),
            name_hash: self.name_hash,
            name: self.name.clone(),
            over: self.over,
            rare: self.rare.clone(),
            last_write: Record::default(),
            iter_live: AtomicU32::new(0),
            extras: OnceBox::new(),
            slots: OnceBox::new(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn set_name(&mut self, name: MapName) {
        self.name_hash = crate::finding::fnv1a(&[name.as_bytes()]);
        self.name = name;
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    fn extras(&self) -> &Extras {
        self.extras.get_or_init(Box::default)
    }

    #[inline]
    fn clock(&self) -> &Clock {
        const TICKED: Clock = Clock::Ticked;
        self.rare.as_ref().map_or(&TICKED, |r| &r.clock)
    }

    /// The map's clock, now; `eff` is the map's settings word (it says whether the
    /// map has a manual clock).
    #[inline(always)]
    fn now_ms(&self, eff: u32) -> u64 {
        if eff & MANUAL_CLOCK != 0 {
            self.clock().now_ms()
        } else {
            crate::clock::ticked_ms()
        }
    }

    /// [`MapState::now_ms`] shifted where a stamp keeps it ([`Stamp::at`]): for the
    /// ticked clock, the reading as it is kept.
    #[inline(always)]
    fn now_ms_shifted(&self, eff: u32) -> u64 {
        if eff & MANUAL_CLOCK != 0 {
            self.clock().now_ms() << crate::clock::MS_SHIFT
        } else {
            crate::clock::ticked_ms_shifted()
        }
    }

    /// The window of this map, in ms.
    fn window(&self) -> u64 {
        match &self.rare {
            Some(r) if r.window_ms != 0 => r.window_ms,
            _ => config::window_ms(),
        }
    }

    /// An access by another accessor, within the window. Never once the clock has
    /// stopped at [`crate::clock::MAX_MS`]: a stopped clock cannot tell accesses
    /// apart, and a missed finding is better than an invented one.
    #[inline]
    fn conflicts(&self, ctx: &Ctx, seen: &Seen) -> bool {
        !seen.stamp.is_empty()
            && seen.stamp.who() != ctx.me
            && ctx.now < crate::clock::MAX_MS
            && ctx.now.saturating_sub(seen.stamp.ms()) <= self.window()
    }

    pub(crate) fn set_scope(&mut self, scope: Scope) {
        let v = if scope == Scope::Key { SCOPE_KEY } else { 0 };
        self.over.set(SCOPE_KEY, v);
    }
    pub(crate) fn set_mode(&mut self, mode: Mode) {
        let v = if mode == Mode::Accesses {
            MODE_ACCESSES
        } else {
            0
        };
        self.over.set(MODE_ACCESSES, v);
    }
    pub(crate) fn set_rules(&mut self, rules: Rules) {
        self.over.set(RULES_MASK, rules.bits() << RULES_SHIFT);
    }
    pub(crate) fn set_backtrace(&mut self, mode: BacktraceMode) {
        self.over.set(config::BT_MASK, config::backtrace_bits(mode));
    }
    pub(crate) fn set_reaction(&mut self, reaction: Reaction) {
        self.over.set(REACT_MASK, config::reaction_bits(&reaction));
        self.rare_mut().callback = match reaction {
            Reaction::Call(f) => Some(f),
            _ => None,
        };
    }
    pub(crate) fn set_window(&mut self, window: Duration) {
        // As Config::window accepts: 1 ms to an hour, saturating (a cast truncated).
        let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self.rare_mut().window_ms = ms.clamp(1, config::MAX_WINDOW_MS);
    }
    pub(crate) fn set_key_slots(&mut self, n: usize) {
        self.rare_mut().key_slots = n.clamp(1, config::MAX_KEY_SLOTS).next_power_of_two();
    }
    /// Also forgets what the map remembers (as [`MapState::fresh_copy`]): its
    /// records' times are on the other clock, and a remembered read compares its
    /// time with theirs ([`super::local::Read::written_since`]).
    pub(crate) fn set_clock(&mut self, clock: ManualClock) {
        self.rare_mut().clock = Clock::Manual(clock);
        self.over.set(MANUAL_CLOCK, MANUAL_CLOCK);
        self.id = next_map_id();
        self.last_write = Record::default();
        self.extras = OnceBox::new();
        self.slots = OnceBox::new();
    }

    // ---- the hot path ----------------------------------------------------------

    /// Checks and records an access to one key. With the guard off this is one
    /// relaxed load and a branch. A read that finds nothing is booked in the
    /// caller's code, as [`MapState::keyed_hold`] books a `get`.
    #[inline(always)]
    pub(crate) fn keyed<O: KeyedOp, Q: Hash + ?Sized>(&self, _: O, key: &Q, site: SiteRef) {
        let op = O::OP;
        let s = config::word();
        if s & ENABLED != 0 {
            // The word never has HOLD; saying so lets the compiler drop the fast
            // path's guard branch (and the guard's release) from this inlined read.
            let s = s & !HOLD;
            let key = key_hash(key);
            if matches!(op.class(), Class::Read)
                && thread::with_local(|t| self.fast(t, s, op, key, site))
                    .flatten()
                    .is_some()
            {
                return;
            }
            let held = self.on_keyed_access::<O, false>(key, site);
            if O::OP.may_block() && !matches!(op.class(), Class::Read) {
                // Asked for no guard (`HELD` false), `on_keyed` makes no token, so
                // there is nothing to release. Not dropping it keeps the release's
                // code, and the thread-local address it needs, out of a write's
                // caller: hoisted out of the caller's loop, that address took a
                // register from the off side (std `entry` read its loop count from
                // the stack). A read's inline fast path needs the address anyway,
                // and its loop measured one instruction more without the drop.
                debug_assert!(!held.live());
                std::mem::forget(held);
            }
            // Otherwise dropped here: a read's token, always none (see above), or
            // the token of an op that does not block, which may carry callbacks
            // ([`HeldGuard::after_try`]; no such op goes through `keyed` today).
        }
    }

    /// [`MapState::keyed`] for a write, around the map's own call: `then` gets `map`
    /// and the key back and does the op. With the guard off this is one relaxed load, a
    /// branch and `then`. With it on, the write (a keyed one that may block: not
    /// `try_*`) is checked, recorded and made in one function of its own, so the caller
    /// keeps nothing of ours alive across a call of ours: where the op is itself a call
    /// (`HashMap`'s `insert`, `remove`), the off side moves no registers. Like
    /// [`MapState::keyed`]'s writes, the on side is one out-of-line call; reads stay
    /// with [`MapState::keyed`], which books them inline.
    #[inline(always)]
    pub(crate) fn write_then<O: KeyedOp, M, T: Hash, R>(
        &self,
        _: O,
        map: M,
        key: T,
        site: SiteRef,
        then: impl FnOnce(M, T) -> R,
    ) -> R {
        // A keyed write that may block: `write_then_on` books it as one.
        debug_assert!(
            matches!(O::OP.class(), Class::Write) && O::OP.may_block(),
            "{:?}",
            O::OP
        );
        if config::word() & ENABLED != 0 {
            cold_path!();
            return Self::write_then_on::<O, M, T, R>(map, key, then, self, site);
        }
        then(map, key)
    }

    /// [`MapState::write_then`]'s on side: a keyed write, then the op. `map`, the
    /// key and `then` come first, in the registers the op's own call takes them in,
    /// so the caller's off side needs no moves. It loads the settings word again
    /// rather than take it: one argument fewer to keep (a switch turned off between
    /// the caller's load and this one finds the op already begun, as it would a
    /// moment later).
    #[inline(never)]
    fn write_then_on<O: KeyedOp, M, T: Hash, R>(
        map: M,
        key: T,
        then: impl FnOnce(M, T) -> R,
        this: &Self,
        site: SiteRef,
    ) -> R {
        let op = O::OP;
        // The word never has HOLD: no guard to build or release.
        let s = config::word() & !HOLD;
        let hash = key_hash(&key);
        if thread::with_local(|t| this.fast(t, s, op, hash, site))
            .flatten()
            .is_none()
        {
            return Self::write_then_general::<O, M, T, R>(map, key, then, this, site, hash);
        }
        then(map, key)
    }

    /// [`MapState::write_then_on`] where the fast path declined: the general path,
    /// then the op. Its own function, so that `write_then_on` makes no call before
    /// the op's and keeps nothing in saved registers.
    #[cold]
    #[inline(never)]
    fn write_then_general<O: KeyedOp, M, T: Hash, R>(
        map: M,
        key: T,
        then: impl FnOnce(M, T) -> R,
        this: &Self,
        site: SiteRef,
        hash: u64,
    ) -> R {
        this.general(config::word() & !HOLD, O::OP, hash, site);
        then(map, key)
    }

    /// [`MapState::whole`] for a map-wide read of a map that takes no lock (a std
    /// map's `len`, `is_empty`): it can neither deadlock nor conflict, so only mode
    /// `accesses` (rule `read_write`) records it. In any other mode it costs the
    /// settings test and the map's mode bit, not a call to the general path.
    #[inline(always)]
    pub(crate) fn read_all_unlocked(&self, op: Op, site: SiteRef) {
        let s = config::word();
        if s & ENABLED != 0 && (self.over.apply(s) & MODE_ACCESSES != 0 || s & UNREAD != 0) {
            self.on_whole(s, op, site);
        }
    }

    /// Checks and records a map-wide access (retain, clear, len, ...).
    #[inline(always)]
    pub(crate) fn whole(&self, op: Op, site: SiteRef) {
        let s = config::word();
        if s & ENABLED != 0 {
            self.on_whole(s, op, site);
        }
    }

    /// Like [`MapState::keyed`], for an op that returns a guard holding a shard lock:
    /// the returned token marks the guard as held by this thread until dropped.
    #[inline(always)]
    pub(crate) fn keyed_hold<O: KeyedOp, Q: Hash + ?Sized>(
        &self,
        _: O,
        key: &Q,
        site: SiteRef,
    ) -> HeldGuard {
        let op = O::OP;
        let s = config::word();
        if s & ENABLED != 0 {
            let key = key_hash(key);
            if matches!(op.class(), Class::Read) {
                if let Some(held) = self.read_hold_inline(s, op, key, site) {
                    return held;
                }
            }
            self.on_keyed_access::<O, true>(key, site)
        } else {
            HeldGuard::off(s)
        }
    }

    /// [`MapState::keyed_hold`] for a keyed write that takes its key by value and may
    /// block (`entry`, `compute`): the key goes through the on side and comes back.
    /// So the caller keeps no key alive across a call of ours, and on the off side
    /// the key stays in the register the map's own call takes it in. With the guard
    /// off this is one relaxed load and a branch; the token comes back second, in
    /// the register that follows the key's.
    #[inline(always)]
    pub(crate) fn keyed_hold_owned<O: KeyedOp, K: Hash>(
        &self,
        _: O,
        key: K,
        site: SiteRef,
    ) -> (HeldGuard, K) {
        let op = O::OP;
        debug_assert!(
            matches!(op.class(), Class::Write) && op.may_block() && !matches!(op, Op::Alter),
            "{op:?}"
        );
        let s = config::word();
        if s & ENABLED != 0 {
            cold_path!();
            return self.keyed_hold_owned_on::<O, K>(site, key);
        }
        (HeldGuard::off(s), key)
    }

    /// [`MapState::keyed_hold_owned`]'s on side: [`MapState::on_keyed`] for a write
    /// that may block, with the key handed back. The key comes third, where
    /// dashmap's `entry` takes it, and goes back second. It repeats `on_keyed`'s
    /// body instead of calling it: the call measured 9 instructions more on
    /// `entry`'s on side, and a body shared through an `#[inline(always)]` helper
    /// 50 more (it changed what the compiler inlined into both). Like `on_keyed`,
    /// it loads the settings word again rather than take it.
    #[inline(never)]
    fn keyed_hold_owned_on<O: KeyedOp, K: Hash>(&self, site: SiteRef, key: K) -> (HeldGuard, K) {
        let op = O::OP;
        let s = config::word() | HOLD;
        let hash = key_hash(&key);
        let held = match thread::with_local(|t| self.fast(t, s, op, hash, site)) {
            Some(Some(held)) => held,
            _ => self.general(s, op, hash, site),
        };
        (held, key)
    }

    /// A read that returns a guard, recorded in the caller's code: [`MapState::fast`]
    /// without a call. `None` (nothing changed) when it does not apply.
    #[inline(always)]
    fn read_hold_inline(&self, s: u32, op: Op, key: u64, site: SiteRef) -> Option<HeldGuard> {
        thread::with_local(|t| self.fast(t, s | HOLD, op, key, site)).flatten()
    }

    /// The key's hash if the guard is on, 0 otherwise: for an op whose key moves into
    /// the map before the op is recorded ([`MapState::try_hold`]).
    #[inline(always)]
    pub(crate) fn hash_if_on<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        if config::word() & ENABLED != 0 {
            key_hash(key)
        } else {
            0
        }
    }

    /// [`MapState::keyed_hold`] for a `try_*` call that got the map's guard `inner`
    /// (the key hashed by [`MapState::hash_if_on`] before the call, so the key's
    /// `Hash` never runs under the lock). The record is made under the shard lock
    /// `inner` holds. With reaction `panic`, a finding unwinds out of the record
    /// without the panic hook (nothing after it is recorded, as when a blocking
    /// call panics) and this drops `inner` first and panics then, so that the panic
    /// hook and the unwinding run with the lock free, as for a call recorded before
    /// it locks. Otherwise `inner` comes back with the token.
    #[inline(always)]
    pub(crate) fn try_hold<O: KeyedOp, G>(
        &self,
        _: O,
        hash: u64,
        site: SiteRef,
        inner: G,
    ) -> (G, HeldGuard) {
        // Off then: nothing to record, and no second load of the settings.
        if hash == 0 {
            return (inner, HeldGuard::NONE);
        }
        let s = config::word();
        if s & ENABLED == 0 {
            return (inner, HeldGuard::NONE);
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.on_keyed_access::<O, true>(hash, site)
        })) {
            Ok(held) => (inner, held),
            Err(payload) => panic_after_try(inner, payload),
        }
    }

    /// Starts an iteration: checks and records it, and returns what must live as long
    /// as the iterator (the held-guard token and the live-iterator count).
    #[inline(always)]
    pub(crate) fn iterate(&self, op: Op, site: SiteRef, hold: bool) -> IterGuard<'_> {
        let s = config::word();
        if s & ENABLED != 0 {
            self.on_iterate(s, op, site, hold)
        } else {
            IterGuard {
                held: HeldGuard::off(s),
                live: None,
                map: self,
            }
        }
    }

    /// Checks and records a map-wide access (every op that is not a [`KeyedOp`]): no
    /// key, no guard, so the general path.
    #[inline(always)]
    fn on_whole(&self, s: u32, op: Op, site: SiteRef) {
        debug_assert!(
            !matches!(op.class(), Class::Read | Class::Write) && op.may_block(),
            "{op:?}"
        );
        self.general(s, op, 0, site);
    }

    /// Checks and records one keyed access out of line; `HELD` if the op returns a
    /// guard. A `try_*` call records under the shard lock it took, so its guard may
    /// carry callbacks to its drop ([`HeldGuard::after_try`]).
    #[inline(always)]
    fn on_keyed_access<O: KeyedOp, const HELD: bool>(&self, key: u64, site: SiteRef) -> HeldGuard {
        let held = self.on_keyed::<O, HELD>(key, site);
        if O::OP.may_block() {
            held
        } else {
            held.after_try()
        }
    }

    /// One keyed access of op `O`: an out-of-line function per op, so each needs few
    /// registers. It has the op as a constant and loads the settings word itself
    /// (and again for the general path) rather than take it: two values fewer to keep
    /// in saved registers for the general path (taking them as arguments measured 16
    /// instructions more per `DashMap` `insert`, in callgrind). A switch turned off
    /// between the caller's load and these finds the op already begun, as it would a
    /// moment later. `HELD`: the op returns a guard.
    #[inline(never)]
    fn on_keyed<O: KeyedOp, const HELD: bool>(&self, key: u64, site: SiteRef) -> HeldGuard {
        let op = O::OP;
        let word = || (config::word() & !HOLD) | if HELD { HOLD } else { 0 };
        match thread::with_local(|t| self.fast(t, word(), op, key, site)) {
            Some(Some(held)) => held,
            _ => self.general(word(), op, key, site),
        }
    }

    /// The common case, decided in a few loads: a keyed read, or a keyed write whose
    /// record last saw this thread, by a thread that holds no guard, with settings
    /// that need nothing more. Records exactly what [`MapState::general`] would and
    /// returns `Some`; returns `None` having changed nothing when anything else may
    /// be needed (a possible finding, guards held, mode `accesses`, stacks `always`,
    /// key slots not yet allocated, first use, mapguard's own code running).
    ///
    /// Inlined where `op` is a constant, so its class and whether it is `alter` (held
    /// whatever the rules, as in [`MapState::hold`]) cost no test.
    #[inline(always)]
    fn fast(&self, t: &Local, s: u32, op: Op, key: u64, site: SiteRef) -> Option<HeldGuard> {
        #[cfg(test)]
        if super::fast_tests::GENERAL_ONLY.with(std::cell::Cell::get) {
            return None;
        }
        // The gate: registered, not busy, no guard held.
        if !t.detect.gate_open() {
            return None;
        }
        let hold = s & HOLD != 0;
        // The settings almost every map runs with: one test per scope instead of one
        // per rule, per clock and per declined setting, made on the global word
        // before the map's overrides are applied, and a body with those tests
        // decided.
        if self.over.plain_in_map_scope(s) {
            #[cfg(test)]
            super::fast_tests::PLAIN_TAKEN.with(|f| f.set(f.get() + 1));
            debug_assert_eq!(self.over.apply(s) & FAST_READS, PLAIN_MAP, "{s:#x}");
            return self.fast_with(t, PLAIN_MAP, hold, op, key, site);
        }
        if self.over.plain_in_key_scope(s) {
            #[cfg(test)]
            super::fast_tests::PLAIN_TAKEN.with(|f| f.set(f.get() + 1));
            debug_assert_eq!(self.over.apply(s) & FAST_READS, PLAIN_KEY, "{s:#x}");
            return self.fast_with(t, PLAIN_KEY, hold, op, key, site);
        }
        let eff = self.over.apply(s);
        // UNREAD is never a map's own bit: `eff` has the global word's.
        if eff & FAST_DECLINES != 0 {
            return None;
        }
        self.fast_with(t, eff, hold, op, key, site)
    }

    /// [`MapState::fast`] under the map's settings `eff`, which it accepts; `hold`:
    /// the op returns a guard. Looks at no bit of `eff` outside [`FAST_READS`].
    #[inline(always)]
    fn fast_with(
        &self,
        t: &Local,
        eff: u32,
        hold: bool,
        op: Op,
        key: u64,
        site: SiteRef,
    ) -> Option<HeldGuard> {
        debug_assert_eq!(eff & FAST_DECLINES, 0);
        let l = &t.detect;
        debug_assert!(l.gate_open());
        let (me, counters) = t.registered_unchecked();
        // Every caller hands a key hash, never 0 (`key_hash` gives at least 1).
        debug_assert_ne!(key, 0);
        // The record (as `record_for`, without allocating the slots) and the access
        // are made only where a rule keeps them: a read that no rule books (neither
        // `lost_update` nor a tracked guard) loads no clock and no record. Through
        // functions, not closures: whether the compiler inlined a closure moved with
        // unrelated code (one left out of line cost 50 instructions per `insert`).
        //
        // The read slot the access was remembered in, if it was.
        let mut read_slot = None;
        // The write booked, if it was.
        let mut written = None;
        match op.class() {
            Class::Read => {
                if rule_on(eff, FindingKind::LostUpdate) {
                    // Loaded before the clock is read (see `remember_read`).
                    let snapshot = self.fast_snapshot(eff, key)?;
                    let read = self.fast_access(t, eff, me, op, key, site);
                    read_slot = Some(l.remember_read(&read, t.function_bits(), snapshot));
                }
            }
            Class::Write if !op.reads_back() => {
                let record = self.fast_record(eff, key)?;
                // An empty record's stamp (0) is the only stored stamp without a
                // thread (ids start at 1, and `Record::write` asserts it), so the
                // thread alone says both (one test fewer per write).
                let prev_stamp = record.stamp();
                let prev = prev_stamp.who();
                if (prev != Accessor::NONE
                    && prev != me
                    // In key scope a slot is shared by keys: another thread's
                    // write of another key there is no rule's business (the general
                    // path would only store over it), so it stays on this path.
                    && (eff & SCOPE_KEY == 0 || !record.holds_other_key(prev_stamp, key)))
                    || (rule_on(eff, FindingKind::LostUpdate) && l.has_read(self.id, key))
                    // Not tested with the rule: only an iteration started under it
                    // counts, so a live one declines, and the general path asks
                    // the rule (two instructions fewer per write).
                    || self.iter_live.load(Relaxed) != 0
                {
                    return None;
                }
                let mine = self.fast_access(t, eff, me, op, key, site);
                let stamp = mine.stamp.with_seq(prev_stamp.next_seq());
                record.store_over(stamp, key, site, mine.function);
                written = Some(mine);
            }
            _ => return None,
        }
        let ops = &counters.operations;
        ops.store(ops.load(Relaxed) + 1, Relaxed);
        #[cfg(test)]
        super::fast_tests::FAST_TAKEN.with(|f| f.set(f.get() + 1));
        Some(
            if hold && (matches!(op, Op::Alter) || rule_on(eff, FindingKind::ReentrantAccess)) {
                let token = match read_slot {
                    // The read remembered above describes this guard too.
                    Some(r) => l.hold_borrowing(r),
                    None => l.hold_first(
                        &match written {
                            Some(w) => w,
                            None => self.fast_access(t, eff, me, op, key, site),
                        },
                        t.function_bits(),
                    ),
                };
                // Slot 0's, always: the fast path runs only while no guard is held.
                debug_assert_eq!(token, u64::from(local::SLOT0));
                HeldGuard(l.first_token())
            } else {
                HeldGuard::NONE
            },
        )
    }

    /// [`MapState::fast`]'s record for `key` under the map's settings `eff`, as
    /// [`MapState::record_for`] without allocating the key slots (`None` if they are
    /// not yet).
    #[inline(always)]
    fn fast_record(&self, eff: u32, key: u64) -> Option<&Record> {
        if eff & SCOPE_KEY != 0 {
            let slots = self.slots_if_allocated()?;
            Some(slot_of(slots, key))
        } else {
            Some(&self.last_write)
        }
    }

    /// The stamp of [`MapState::fast_record`]: loaded in each branch (through the
    /// record's address, chosen first, it measured three instructions more).
    #[inline(always)]
    fn fast_snapshot(&self, eff: u32, key: u64) -> Option<u64> {
        if eff & SCOPE_KEY != 0 {
            let slots = self.slots_if_allocated()?;
            Some(slot_of(slots, key).snapshot().0)
        } else {
            Some(self.last_write.snapshot().0)
        }
    }

    /// [`MapState::fast`]'s access: this thread's op on `key`, now.
    #[inline(always)]
    fn fast_access(
        &self,
        t: &Local,
        eff: u32,
        me: Accessor,
        op: Op,
        key: u64,
        site: SiteRef,
    ) -> Mine {
        Mine {
            map: self.id,
            key,
            // A read's stamp without the accessor: it is kept only in this thread's
            // tables, which put it back when read (two instructions fewer). A write
            // is stored in the map's record, for other threads to compare.
            stamp: Stamp::at(
                if matches!(op.class(), Class::Read) {
                    0
                } else {
                    Stamp::who_bits(me)
                },
                op,
                self.now_ms_shifted(eff),
            ),
            site: Some(site),
            function: t.function(),
        }
    }

    /// Every access the fast path declines: the rules in full.
    #[inline(never)]
    fn general(&self, s: u32, op: Op, key: u64, site: SiteRef) -> HeldGuard {
        let hold = s & HOLD != 0;
        let s = s & !HOLD;
        thread::with_local(|t| {
            let Some(ctx) = self.begin(t, s, op, key, site) else {
                return HeldGuard::NONE;
            };
            let l = &t.detect;
            self.guards_held(l, &ctx);
            match op.class() {
                Class::Read => self.on_read(l, &ctx),
                Class::Write => {
                    self.on_write(l, &ctx, key);
                    if op.reads_back() {
                        // The caller now holds the value this write left: a read.
                        self.remember_read(l, &ctx);
                    }
                }
                Class::WriteAll | Class::IterateMut => self.on_write(l, &ctx, 0),
                Class::Iterate => self.on_read_all(&ctx),
                // `len` and `is_empty` read every shard: map-wide reads.
                Class::Lock if matches!(op, Op::Len | Op::IsEmpty) => self.on_read_all(&ctx),
                Class::Lock => {}
            }
            if hold {
                self.hold(l, &ctx)
            } else {
                HeldGuard::NONE
            }
        })
        .unwrap_or(HeldGuard::NONE)
    }

    #[inline(never)]
    fn on_iterate(&self, s: u32, op: Op, site: SiteRef, hold: bool) -> IterGuard<'_> {
        let none = || IterGuard {
            held: HeldGuard::NONE,
            live: None,
            map: self,
        };
        thread::with_local(|t| {
            let Some(ctx) = self.begin(t, s, op, 0, site) else {
                return none();
            };
            let l = &t.detect;
            self.guards_held(l, &ctx);
            if op.is_write() {
                self.on_write(l, &ctx, 0);
            } else {
                self.on_read_all(&ctx);
            }
            // Only an iterator handed to the caller is a live iteration; retain and
            // alter_all visit every shard under its own lock and give no view out.
            let handed_out = matches!(op, Op::Iter | Op::IterMut);
            let live = if handed_out && ctx.has(FindingKind::WriteDuringIteration) {
                if self.iter_live.fetch_add(1, Relaxed) == 0 {
                    let holder = &self.extras().iter_holder;
                    let seen = holder.load();
                    holder.store(
                        &seen,
                        Stamp::new(ctx.me, op, ctx.now),
                        0,
                        site,
                        ctx.function,
                    );
                }
                Some(&self.iter_live)
            } else {
                None
            };
            IterGuard {
                held: if hold {
                    self.hold(l, &ctx)
                } else {
                    HeldGuard::NONE
                },
                live,
                map: self,
            }
        })
        .unwrap_or_else(none)
    }

    /// What every access computes first. `None` if nothing is to be recorded: the
    /// guard turned out to be off on first use, or mapguard itself is running on
    /// this thread (a sink, the reporter, a callback).
    #[inline]
    fn begin(&self, t: &Local, s: u32, op: Op, key: u64, site: SiteRef) -> Option<Ctx> {
        let s = if s & UNREAD != 0 {
            let s = config::settings();
            if s & ENABLED == 0 {
                return None;
            }
            s
        } else {
            s
        };
        if t.is_busy() {
            return None;
        }
        let id = t.identity()?;
        let ops = &id.counters.operations;
        ops.store(ops.load(Relaxed) + 1, Relaxed);
        let eff = self.over.apply(s);
        Some(Ctx {
            eff,
            me: id.id,
            counters: id.counters,
            now: self.now_ms(eff),
            op,
            key,
            site,
            function: t.function(),
        })
    }

    fn slots(&self) -> &[Slot] {
        &self.key_slots().slots
    }

    /// The key slots, allocated if they are not yet.
    fn key_slots(&self) -> &KeySlots {
        self.slots.get_or_init(|| {
            let n = match &self.rare {
                Some(r) if r.key_slots != 0 => r.key_slots,
                _ => config::key_slots(),
            };
            let slots: Box<[Slot]> = (0..n).map(|_| Slot::default()).collect();
            // A write of every key made before the slots existed (it is in
            // `last_write`) is the last write of each key.
            let last = self.last_write.load();
            #[cfg(test)]
            super::fast_tests::run_slots_hook();
            let mut from = 0;
            if let (0, Some(site), true) = (last.key, last.site, last.stamp.op().writes_every_key())
            {
                fill_slots(&slots, last.stamp, site, last.function);
                from = last.stamp.0;
            }
            Box::new(KeySlots {
                slots,
                from: AtomicU64::new(from),
            })
        })
    }

    /// The key slots, if they have been allocated.
    #[inline(always)]
    fn slots_if_allocated(&self) -> Option<&[Slot]> {
        self.slots.get().map(|t| &*t.slots)
    }

    /// The record a write to `key` goes to under these settings.
    #[inline]
    fn record_for(&self, eff: u32, key: u64) -> &Record {
        if eff & SCOPE_KEY != 0 && key != 0 {
            let slots = self.slots();
            slot_of(slots, key)
        } else {
            &self.last_write
        }
    }

    /// Books a guard as held: for `reentrant_access`, and for `alter`/`alter_all`
    /// whatever the rules (see [`in_alter`]).
    #[inline]
    fn hold(&self, l: &PerThread, ctx: &Ctx) -> HeldGuard {
        if !ctx.has(FindingKind::ReentrantAccess) && !matches!(ctx.op, Op::Alter | Op::AlterAll) {
            return HeldGuard::NONE;
        }
        HeldGuard::new(ctx.me, l.hold(&ctx.mine(self.id)))
    }

    /// Before the rules, if this thread holds guards: settles the held table (the
    /// rules read it and change the reads: nothing may be borrowed, and only a guard
    /// still held can be), forgets the guards another thread dropped (so that the
    /// thread gets back to the fast path), and checks rule 5. (Whether it is inside
    /// `alter` is asked only where it matters, by [`in_alter`].)
    fn guards_held(&self, l: &PerThread, ctx: &Ctx) {
        if !l.holds_any() {
            return;
        }
        l.settle();
        local::reconcile(l, ctx.counters);
        self.reentrant(l, ctx);
    }

    /// Rule 5: a locking call while this thread holds a guard into the same map, where
    /// one of the two takes a write lock. A read under a read guard is not reported:
    /// dashmap's shard lock lets a reader in while readers hold it, even with a
    /// writer waiting, so it cannot deadlock. Called only when the thread holds some
    /// guard.
    fn reentrant(&self, l: &PerThread, ctx: &Ctx) {
        if !ctx.op.may_block() || !ctx.has(FindingKind::ReentrantAccess) {
            return;
        }
        if let Some(h) = l.held_in(self.id, !ctx.op.locks_exclusive(), ctx.me) {
            let held = Earlier::local(RawAccess::mine(&h));
            let same = h.key != 0 && h.key == ctx.key;
            let key = if ctx.key != 0 { ctx.key } else { h.key };
            self.found(ctx, FindingKind::ReentrantAccess, key, same, &[held]);
        }
    }

    #[inline]
    fn on_read(&self, l: &PerThread, ctx: &Ctx) {
        self.remember_read(l, ctx);
        if ctx.eff & MODE_ACCESSES != 0 {
            self.read_write_on_read(ctx);
        }
    }

    /// Rule 3, read side: remembers this thread's read of the key, with the stamp its
    /// writes' record holds now, so a later blind write can tell whether another
    /// thread wrote in between.
    #[inline]
    fn remember_read(&self, l: &PerThread, ctx: &Ctx) {
        if ctx.has(FindingKind::LostUpdate) {
            let snapshot = self.record_for(ctx.eff, ctx.key).snapshot();
            // As the fast path keeps a read: no accessor. The time was read before
            // the snapshot was: a write stamped after it may be in the snapshot.
            let read = Mine {
                stamp: Stamp::new(Accessor::NONE, ctx.op, ctx.now.max(snapshot.ms())),
                ..ctx.mine(self.id)
            };
            let function_bits = ctx.function.map_or(0, |f| f.bits());
            l.remember_read(&read, function_bits, snapshot.0);
        }
    }

    #[inline]
    fn on_read_all(&self, ctx: &Ctx) {
        if ctx.eff & MODE_ACCESSES != 0 {
            self.read_write_on_read(ctx);
        }
    }

    /// Rule 2, read side (mode `accesses` only): this read against the last write.
    fn read_write_on_read(&self, ctx: &Ctx) {
        if !ctx.has(FindingKind::ReadWrite) {
            return;
        }
        // In key scope a keyed write lives in its key's slot (which must hold this
        // key), a map-wide write in last_write; in map scope every write is there.
        let mut earlier = None;
        if ctx.eff & SCOPE_KEY != 0 && ctx.key != 0 {
            let slot = self.record_for(ctx.eff, ctx.key);
            let w = slot.load();
            if self.conflicts(ctx, &w) && w.key == ctx.key {
                earlier = Some((w, slot));
            }
        }
        if earlier.is_none() {
            let w = self.last_write.load();
            if self.conflicts(ctx, &w) {
                earlier = Some((w, &self.last_write));
            }
        }
        if earlier.is_none() && ctx.eff & SCOPE_KEY != 0 && ctx.key == 0 {
            // A map-wide read in key scope against the keyed writes, in their slots.
            earlier = self.latest_keyed_conflict(ctx);
        }
        if let Some((w, record)) = earlier {
            let same = w.key != 0 && w.key == ctx.key;
            let prev = Earlier::from_seen(&w, record);
            self.found(ctx, FindingKind::ReadWrite, ctx.key, same, &[prev]);
        }
        let last_read = &self.extras().last_read;
        let r = last_read.load();
        last_read.store(
            &r,
            Stamp::new(ctx.me, ctx.op, ctx.now),
            ctx.key,
            ctx.site,
            ctx.function,
        );
    }

    #[inline]
    fn on_write(&self, l: &PerThread, ctx: &Ctx, key: u64) {
        let record = self.record_for(ctx.eff, key);
        let prev = record.load();
        // Where `prev` was first stored, for its stack: a map-wide write copied into
        // the key slots (key scope) keeps its stack in `last_write`.
        let prev_record = if prev.key == 0 {
            &self.last_write
        } else {
            record
        };
        let mut reported = false;

        // Rule 3: this thread read the key, another wrote it since (the key itself,
        // or the whole map: `alter_all`, `retain`, `clear`), and now this thread
        // writes it without looking again.
        if key != 0 && ctx.has(FindingKind::LostUpdate) {
            if let Some(read) = l.take_read(self.id, key, ctx.me) {
                if blind_write(ctx.op)
                    && ctx.now.saturating_sub(read.access.stamp.ms()) <= self.window()
                    && (prev.key == key || (prev.key == 0 && prev.stamp.op().writes_every_key()))
                    && read.written_since(prev.stamp)
                    && self.conflicts(ctx, &prev)
                {
                    let r = Earlier::local(RawAccess::mine(&read.access));
                    let w = Earlier::from_seen(&prev, prev_record);
                    self.found(ctx, FindingKind::LostUpdate, key, true, &[r, w]);
                    reported = true;
                }
            }
        }

        // Rule 1: two writes from different threads within the window (in key
        // scope, to the same key; a map-wide write writes every key).
        let key_scope = ctx.eff & SCOPE_KEY != 0 && key != 0;
        let every_key = ctx.eff & SCOPE_KEY != 0 && key == 0 && ctx.op.writes_every_key();
        if !reported && ctx.has(FindingKind::ConcurrentWrite) {
            let earlier =
                if self.conflicts(ctx, &prev) && (!key_scope || prev.key == key || prev.key == 0) {
                    Some((prev, prev_record))
                } else if every_key {
                    // A map-wide write in key scope against the keyed writes.
                    self.latest_keyed_conflict(ctx)
                } else {
                    None
                };
            if let Some((w, from)) = earlier {
                let same = key != 0 && w.key == key;
                let k = if key != 0 { key } else { w.key };
                let w = Earlier::from_seen(&w, from);
                self.found(ctx, FindingKind::ConcurrentWrite, k, same, &[w]);
            }
        }

        // Rule 2, write side: this write against the last read.
        if ctx.eff & MODE_ACCESSES != 0 && ctx.has(FindingKind::ReadWrite) {
            let last_read = &self.extras().last_read;
            let r = last_read.load();
            // In key scope, as on the read side: the same key, or a map-wide access
            // on either side.
            let related = !key_scope || r.key == 0 || r.key == key;
            if related && self.conflicts(ctx, &r) {
                let same = key != 0 && r.key == key;
                let prev = Earlier::from_seen(&r, last_read);
                self.found(ctx, FindingKind::ReadWrite, key, same, &[prev]);
            }
        }

        // Rule 4: another thread holds a live iterator over this map.
        if ctx.has(FindingKind::WriteDuringIteration) && self.iter_live.load(Relaxed) != 0 {
            let holder = &self.extras().iter_holder;
            let it = holder.load();
            if !it.stamp.is_empty() && it.stamp.who() != ctx.me {
                let prev = Earlier::from_seen(&it, holder);
                self.found(ctx, FindingKind::WriteDuringIteration, key, false, &[prev]);
            }
        }

        let stamp = Stamp::new(ctx.me, ctx.op, ctx.now).with_seq(prev.stamp.next_seq());
        // One stack per thread, op and millisecond (findings match it the same way).
        if stamp.without_seq() != prev.stamp.without_seq()
            && ctx.backtrace() == BacktraceMode::Always
        {
            record.set_stack(Some(Arc::new(Stack {
                stamp,
                trace: super::unwind::capture(),
            })));
        }
        record.store(&prev, stamp, key, ctx.site, ctx.function);
        if every_key {
            // In key scope a write of every key (`clear`, `retain`, ...) is the last
            // write of each: each key's slot gets it, so that a keyed write or a lost
            // update sees it as it sees a write to its key (one pass over the slots,
            // 1024 by default). The slots are allocated here if no keyed access has
            // yet: a table being built at this moment may have read the map-wide
            // write before this one, and only this pass, over the table that is
            // kept, can reach it. A table built from this very write (by this call
            // or by a keyed access that read it) has it already: filling it again
            // would count a second write in each slot after readers may have seen
            // the first, and make their writes look like lost updates.
            let table = self.key_slots();
            if table
                .from
                .compare_exchange(stamp.0, 0, Relaxed, Relaxed)
                .is_err()
            {
                fill_slots(&table.slots, stamp, ctx.site, ctx.function);
            }
        }
    }

    /// The latest keyed write in the key slots (key scope) that conflicts with this
    /// map-wide access, with its slot. One pass over the slots' stamps; before a
    /// keyed access or a write of every key in key scope allocates them, there is
    /// none.
    fn latest_keyed_conflict(&self, ctx: &Ctx) -> Option<(Seen, &Record)> {
        let slots = self.slots_if_allocated()?;
        let mut best: Option<(Seen, &Record)> = None;
        for slot in slots {
            let st = slot.0.stamp();
            if st.is_empty() || st.who() == ctx.me {
                continue;
            }
            if best.is_some_and(|(b, _)| b.stamp.ms() >= st.ms()) {
                continue;
            }
            let seen = slot.0.load();
            if seen.key != 0 && self.conflicts(ctx, &seen) {
                best = Some((seen, &slot.0));
            }
        }
        best
    }

    /// A finding: dedup on this thread, capture a stack for a new one, queue it,
    /// then react. Runs only when a rule fired. A repeat of a known finding with
    /// reaction `report` costs one counter increment: no allocation, no stack.
    #[cold]
    #[inline(never)]
    fn found(
        &self,
        ctx: &Ctx,
        kind: FindingKind,
        key: u64,
        same_key: bool,
        earlier: &[Earlier<'_>],
    ) {
        let mut reaction = (ctx.eff & REACT_MASK) >> REACT_SHIFT;
        if reaction == 1 && std::thread::panicking() {
            // A finding made while unwinding (a Drop touching a map): a second panic
            // would abort the process before anything is reported. Report instead.
            reaction = 0;
        }
        let local_key = local_key(
            kind,
            self.name_hash,
            earlier
                .iter()
                .map(|e| identity(e.access.site, e.access.function))
                .chain([identity(Some(ctx.site), ctx.function)]),
        );
        let new = crate::report::observe(local_key);
        if !new && reaction == 0 {
            return;
        }
        if !crate::clock::running_here() {
            // A child forked from a process whose guard was on: the clock that
            // stamped these accesses stopped at the fork, so the finding may be
            // invented, and no reporter runs here. Switch off instead; a new one
            // waits in the dedup table, offered again if it happens once the guard
            // is on again here.
            if new {
                crate::report::defer(local_key);
            }
            return config::switch_off_in_fork();
        }
        let _busy = thread::busy();
        let mut accesses: Vec<RawAccess> = earlier
            .iter()
            .map(|e| RawAccess {
                stack: match (new, e.record) {
                    (true, Some(r)) => {
                        r.stack_for(Stamp::new(e.access.who, e.access.op, e.access.ms))
                    }
                    _ => None,
                },
                ..e.access.clone()
            })
            .collect();
        accesses.push(ctx.access());
        if new && ctx.backtrace() != BacktraceMode::Off {
            if let Some(last) = accesses.last_mut() {
                // In a burst of new findings the stacks wait for the reporter: past
                // a few hundred, each costs the user's thread microseconds for a
                // report seconds away. In mode `always` the user pays for stacks
                // everywhere already.
                if ctx.backtrace() == BacktraceMode::Always || crate::report::stack_room() {
                    last.stack = Some(Arc::new(Stack {
                        stamp: Stamp::new(ctx.me, ctx.op, ctx.now),
                        trace: super::unwind::capture(),
                    }));
                } else {
                    last.stack_skipped = true;
                    crate::report::stack_skipped();
                }
            }
        }
        let first = accesses.first().map_or(ctx.now, |a| a.ms);
        let candidate = Candidate {
            kind,
            map: Arc::from(&*self.name),
            scope: if ctx.eff & SCOPE_KEY != 0 {
                Scope::Key
            } else {
                Scope::Map
            },
            key,
            same_key,
            window_ms: self.window(),
            gap_ms: ctx.now.saturating_sub(first),
            accesses,
            epoch: self.clock().epoch(),
            local_key,
            origin: if new {
                crate::sink::Origin::capture()
            } else {
                Default::default()
            },
        };
        match reaction {
            1 => {
                let msg = candidate.summary();
                if new {
                    crate::report::submit(candidate);
                }
                if in_alter() {
                    // dashmap aborts the process on a panic in alter's closure: the
                    // finding would die queued. Deliver it first (at most 5 s).
                    crate::report::flush_before_abort();
                    crate::report::say(format_args!(
                        "the panic below is raised inside the closure of alter or alter_all, where dashmap aborts the process"
                    ));
                }
                // A try_* call records under the shard lock it took: unwind out of
                // the record without the hook, for [`MapState::try_hold`] to panic
                // once the lock is released. With panic = "abort" nothing could
                // catch the unwinding: panic here. (The cfg is mapguard's own
                // build's; cargo builds every crate of a binary with one strategy.)
                if !ctx.op.may_block() && cfg!(panic = "unwind") {
                    std::panic::resume_unwind(Box::new(PanicAfterTry(msg)));
                }
                panic!("{msg}");
            }
            2 => {
                let f = self
                    .rare
                    .as_ref()
                    .and_then(|r| r.callback.clone())
                    .or_else(super::callback);
                let finding = crate::report::finding_now(&candidate);
                if new {
                    crate::report::submit(candidate);
                }
                if let Some(f) = f {
                    if ctx.op.may_block() {
                        call_back(&f, &finding);
                    } else {
                        // A try_* call records under the shard lock it took: a
                        // callback that used the map would wait on its own thread.
                        wait_for_unlock(f, finding);
                    }
                }
            }
            _ => {
                if new {
                    crate::report::submit(candidate);
                }
            }
        }
    }
}

/// Writes that set a value without looking at the current one: only these can be
/// the stale write of a `lost_update`. `alter`, `entry`, `remove_if` and the atomic
/// operations (`update`, `compute`, `get_or_insert_with`, `insert_if_absent`,
/// `remove_if_eq`) see the current value under the lock, so they are the fix for a
/// lost update, not a cause. The list is [`Op::is_blind_write`], decided per op.
fn blind_write(op: Op) -> bool {
    op.is_blind_write()
}

/// What places an access in the user's code for deduplication: its `#[guarded]`
/// function if it was made in one (so findings group by function, as their
/// fingerprints do), else its call site. An address, never dereferenced.
fn identity(site: Option<SiteRef>, function: Option<FunctionRef>) -> usize {
    match (function, site) {
        (Some(f), _) => f as *const crate::function::Function as usize,
        (None, Some(s)) => s as *const Location<'static> as usize,
        (None, None) => 0,
    }
}

/// Identifies a finding within this process: kind, map name, and the identities of
/// its accesses ([`identity`], in any order). Equal keys are duplicates.
/// Allocation-free: at most three, sorted in place.
fn local_key(kind: FindingKind, name_hash: u64, sites: impl Iterator<Item = usize>) -> u64 {
    let mut addrs = [0usize; 3];
    let mut n = 0;
    for s in sites.take(3) {
        addrs[n] = s;
        n += 1;
    }
    let addrs = &mut addrs[..n];
    addrs.sort_unstable();
    let mut h = name_hash ^ ((kind as u64 + 1) << 56);
    let mut last = None;
    for &s in addrs.iter() {
        if last == Some(s) {
            continue;
        }
        last = Some(s);
        h = (h ^ s as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
    h.max(1)
}

/// Whether the settings word `w` has rule `kind` on: one test of the word itself
/// (through a shifted [`Rules`] the compiler keeps a shifted copy of the word, one
/// more instruction on the fast path).
#[inline(always)]
fn rule_on(w: u32, kind: FindingKind) -> bool {
    w & (u32::from(kind.bit()) << RULES_SHIFT) != 0
}

/// Marks a guard (Ref, RefMut, Entry, iterator) as held by the thread that took it;
/// dropping it forgets that. A guard dropped on another thread is handed to its owner
/// as an orphan. With the guard off it costs the op no instruction and its drop one
/// test.
///
/// One word: the owner's accessor id in the low 16 bits, bit 31 ([`LIVE`]) set, and
/// between them the bit of the owner's held slot, inverted ([`pack`]); or, owned by
/// [`thread::NO_THREAD`], a `try_*` call's ticket in the high 32 bits
/// ([`pack_ticket`]). A word with bit 31 clear is "not tracked": with the guard
/// off a `Ref` carries the settings word just tested (bit 31 is never set in it), so
/// the off path spends no instruction on the token, and its drop one test. A slot
/// stays taken until its guard is released (or, for a guard dropped on another
/// thread, reconciled), so a token cannot release a later guard that reused the
/// slot; and the orphan of a guard whose thread has exited is dropped while its id is
/// unused. One case remains: a guard that outlives its thread and is dropped (on any
/// thread) after its id was given to a later thread (an exited thread's id is reused
/// after an hour, sooner only past 65534 threads within it) clears that thread's
/// slot of the same bit: a missed finding at worst.
#[derive(Debug)]
pub(crate) struct HeldGuard(u64);

/// The bits of a token that hold its owner's accessor id: the low 16, which the
/// drop compares with the thread's id in one instruction.
const OWNER_MASK: u64 = (1 << crate::thread::ID_BITS) - 1;
/// The bit set in every tracked token, and never in the settings word, whose bits
/// all sit below it: so clear in the word an untracked guard carries
/// ([`HeldGuard::off`]). Bit 31, which a 32-bit test reaches with an immediate.
const LIVE: u64 = 1 << 31;
/// Where a token keeps its slot's bit, inverted: between the owner and [`LIVE`],
/// at the bit the slot has in the thread's `held_live`.
const PAYLOAD_MASK: u64 = LIVE - 1 - OWNER_MASK;
/// Where a ticket token keeps its ticket: the high 32 bits.
const TICKET_SHIFT: u32 = 32;
const TICKET_MASK: u64 = u32::MAX as u64;
const _: () = assert!(
    (config::ALL_BITS as u64) < LIVE
        && local::HELD_BITS as u64 & !PAYLOAD_MASK == 0
        && crate::thread::NO_THREAD <= OWNER_MASK
);

/// A tracked token for a guard in the held slots `payload` (their bits in the
/// thread's `held_live`) of `owner` (accessor bits): the owner in the low 16
/// bits, [`LIVE`], and the slot bits inverted. So the token's low word has every
/// bit above the owner set but its slot's: the mask its drop ands into the thread's
/// `held_live`, whose low 16 bits are clear, in one instruction
/// ([`local::PerThread::release_own`]), after comparing the owner with the
/// thread's id as 16 bits in one more.
pub(crate) fn pack(owner: u64, payload: u64) -> u64 {
    debug_assert!(
        owner <= OWNER_MASK && payload & !PAYLOAD_MASK == 0,
        "{owner:#x} {payload:#x}"
    );
    owner | LIVE | (!payload & PAYLOAD_MASK)
}

/// A tracked token owned by no thread, for a `try_*` call's `ticket` (1 to
/// [`TICKET_MASK`]): its drop always takes the cold path, which finds the ticket.
fn pack_ticket(ticket: u64) -> u64 {
    debug_assert!((1..=TICKET_MASK).contains(&ticket), "{ticket:#x}");
    pack(thread::NO_THREAD, 0) | ticket << TICKET_SHIFT
}

/// The accessor bits of a tracked token's owner.
#[inline(always)]
fn owner_of(packed: u64) -> u64 {
    packed & OWNER_MASK
}

/// A tracked token's held slots (their bits in the owner's `held_live`).
#[inline(always)]
fn payload_of(packed: u64) -> u64 {
    !packed & PAYLOAD_MASK
}

/// A ticket token's ticket ([`pack_ticket`]).
fn ticket_of(packed: u64) -> u64 {
    packed >> TICKET_SHIFT
}

impl HeldGuard {
    pub(crate) const NONE: HeldGuard = HeldGuard(0);

    /// Not tracked, for an op made with the guard off: the settings word `s` it
    /// tested, kept as it is (a register the off path already has). The settings
    /// word never has [`LIVE`] set, and that is all the drop looks at; so the off
    /// path moves no constant into the token.
    #[inline(always)]
    fn off(s: u32) -> Self {
        debug_assert!(s & !config::ALL_BITS == 0, "{s:#x}");
        HeldGuard(u64::from(s))
    }

    /// Whether this guard is tracked (holds a slot, or carries a ticket).
    #[inline(always)]
    fn live(&self) -> bool {
        self.0 & LIVE != 0
    }

    /// For a `try_*` call, recorded under the shard lock it took: if its record left
    /// callbacks waiting ([`wait_for_unlock`]), a guard that calls them at its drop,
    /// after the lock is released (its owner is [`thread::NO_THREAD`], so the drop
    /// takes the cold path), and releases this guard's own hold then.
    #[inline]
    fn after_try(mut self) -> Self {
        let ticket = TICKET.try_with(|t| t.replace(0)).unwrap_or(0);
        if ticket == 0 {
            return self;
        }
        // From the on path: 0 or a tracked token, never an off word.
        let own = std::mem::replace(&mut self.0, 0);
        if let Some(w) = lock_waiting().iter_mut().find(|w| w.ticket == ticket) {
            w.own = own;
        }
        HeldGuard(pack_ticket(ticket))
    }

    /// This guard, downgraded at `site` from a write guard to a read guard: from now
    /// on a read under it is no `reentrant_access` (readers share the lock). A guard
    /// moved to another thread keeps what it was: at worst a read under it is
    /// reported.
    pub(crate) fn downgraded(self, site: SiteRef) -> Self {
        if !self.live() {
            return self;
        }
        // A try_* guard whose callbacks wait for its drop keeps its own hold with
        // them ([`HeldGuard::after_try`]).
        let own = if owner_of(self.0) == thread::NO_THREAD {
            let ticket = ticket_of(self.0);
            lock_waiting()
                .iter()
                .find(|w| w.ticket == ticket)
                .map_or(0, |w| w.own)
        } else {
            self.0
        };
        if own != 0 {
            thread::with_local(|t| {
                if t.me_bits() == owner_of(own) {
                    t.detect
                        .rewrite_held(payload_of(own), Op::Downgrade, site, t.function());
                }
            });
        }
        self
    }

    fn new(owner: Accessor, token: u64) -> Self {
        if token == 0 {
            return HeldGuard::NONE;
        }
        HeldGuard(pack(owner.bits(), token))
    }
}

impl Drop for HeldGuard {
    #[inline]
    fn drop(&mut self) {
        if self.live() {
            cold_path!();
            release(self.0);
        }
    }
}

/// Whether this thread is inside the closure of dashmap's `alter`/`alter_all` (it
/// holds their guard), where a panic aborts the process: reaction `panic` then
/// delivers its finding first. The held table was settled before the rules ran.
fn in_alter() -> bool {
    thread::with_local(|t| {
        t.detect.holds_any() && t.detect.holds_op(|o| matches!(o, Op::Alter | Op::AlterAll))
    })
    .unwrap_or(false)
}

/// Stores a write of every key (`key` 0) as the last write of each key slot.
fn fill_slots(slots: &[Slot], stamp: Stamp, site: SiteRef, function: Option<FunctionRef>) {
    let stamp = stamp.without_seq();
    for slot in slots {
        let seen = slot.0.load();
        // Each slot's write number follows its own, as a keyed write's does.
        let stamp = stamp.with_seq(seen.stamp.next_seq());
        slot.0.store(&seen, stamp, 0, site, function);
    }
}

/// Releases a held guard on the thread that took it; hands it to its owner as an
/// orphan when dropped on another thread.
#[inline(always)]
fn release(packed: u64) {
    let released = thread::with_local(|t| {
        // As 16 bits: one compare of memory with the token's low half-word.
        let mine = t.me_bits() as u16 == packed as u16;
        if mine {
            // The token's low word: the owner's id in its low 16 bits (where
            // `held_live` keeps nothing), then every bit set but its slot's.
            t.detect.release_own(packed as u32);
        }
        mine
    });
    if released != Some(true) {
        orphan(packed);
    }
}

#[cold]
#[inline(never)]
fn orphan(packed: u64) {
    if owner_of(packed) == thread::NO_THREAD {
        return call_back_after_unlock(ticket_of(packed));
    }
    local::orphan(Accessor::from_bits(owner_of(packed)), payload_of(packed));
}

/// Calls a finding's callback, catching (and noting once) a panic in it.
fn call_back(f: &Callback, finding: &crate::Finding) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(finding))).is_err() {
        crate::report::note_once(
            "the finding callback panicked; it is called again for the next finding",
        );
    }
}

/// Callbacks that wait for a `try_*` call's guard to be dropped, by ticket, with
/// the hold of that guard to release then (`own`, 0 for none).
struct Waiting {
    ticket: u64,
    own: u64,
    calls: Vec<(Callback, crate::Finding)>,
}

static WAITING: Mutex<Vec<Waiting>> = Mutex::new(Vec::new());
static NEXT_TICKET: AtomicU64 = AtomicU64::new(1);

/// Reaction `panic`'s message for a finding of a `try_*` call, unwound out of the
/// record without the panic hook ([`std::panic::resume_unwind`]) for
/// [`MapState::try_hold`] to catch.
struct PanicAfterTry(String);

/// [`MapState::try_hold`]'s record unwound: releases the map's guard `inner`, then
/// panics with reaction `panic`'s message (the hook runs now, with the lock free),
/// or goes on unwinding whatever else unwound.
#[cold]
#[inline(never)]
fn panic_after_try<G>(inner: G, payload: Box<dyn std::any::Any + Send>) -> ! {
    drop(inner);
    match payload.downcast::<PanicAfterTry>() {
        Ok(p) => panic!("{}", p.0),
        Err(other) => std::panic::resume_unwind(other),
    }
}

thread_local! {
    /// The ticket of the `try_*` call being recorded on this thread, 0 for none.
    static TICKET: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The ticket for the `n`th `try_*` call that leaves callbacks waiting: 1 to
/// [`TICKET_MASK`], so that it fits a token and is never 0 ("no ticket") when the
/// counter wraps past it.
fn ticket_from(n: u64) -> u64 {
    n % TICKET_MASK + 1
}

fn lock_waiting() -> std::sync::MutexGuard<'static, Vec<Waiting>> {
    WAITING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps the callback of a finding made by a `try_*` call for the drop of the
/// guard the call returns ([`HeldGuard::after_try`]). Runs only when a finding
/// with reaction `call` is made by such a call.
#[cold]
fn wait_for_unlock(f: Callback, finding: crate::Finding) {
    let ticket = TICKET
        .try_with(|t| {
            if t.get() == 0 {
                t.set(ticket_from(NEXT_TICKET.fetch_add(1, Relaxed)));
            }
            t.get()
        })
        .unwrap_or(0);
    if ticket == 0 {
        // Thread-locals gone (the thread is exiting): call back now.
        return call_back(&f, &finding);
    }
    let mut waiting = lock_waiting();
    match waiting.iter_mut().find(|w| w.ticket == ticket) {
        Some(w) => w.calls.push((f, finding)),
        None => waiting.push(Waiting {
            ticket,
            own: 0,
            calls: vec![(f, finding)],
        }),
    }
}

/// The drop of a `try_*` call's guard whose record left callbacks waiting: the
/// shard lock is released by now. Releases the guard's own hold, then calls back
/// on this thread (accesses the callbacks make are not checked).
#[cold]
#[inline(never)]
fn call_back_after_unlock(ticket: u64) {
    let w = {
        let mut waiting = lock_waiting();
        let i = waiting.iter().position(|w| w.ticket == ticket);
        i.map(|i| waiting.swap_remove(i))
    };
    let Some(w) = w else { return };
    if w.own != 0 {
        release(w.own);
    }
    let _busy = thread::busy();
    for (f, finding) in &w.calls {
        call_back(f, finding);
    }
}

/// Lives as long as an iterator: its held-guard token and its share of the map's
/// live-iterator count.
pub(crate) struct IterGuard<'a> {
    #[allow(dead_code)]
    held: HeldGuard,
    live: Option<&'a AtomicU32>,
    map: &'a MapState,
}

impl std::fmt::Debug for IterGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IterGuard")
            .field("held", &self.held)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl<'a> IterGuard<'a> {
    /// The iterator returned its last item: it can no longer see or miss a write,
    /// so it stops counting as a live iteration. Its hold stays until it is dropped
    /// (dashmap's iterator keeps the last shard's read lock until then).
    #[inline]
    pub(crate) fn iteration_done(&mut self) {
        if let Some(live) = self.live.take() {
            live.fetch_sub(1, Relaxed);
        }
    }

    /// The guard of a new iteration of the same map (`Iter::clone`, which starts
    /// over), checked and recorded as an `iter` at `site`.
    pub(crate) fn again(&self, site: SiteRef) -> IterGuard<'a> {
        self.map.iterate(Op::Iter, site, true)
    }
}

impl Drop for IterGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(live) = self.live {
            live.fetch_sub(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_drops_paths_inside_and_out() {
        assert_eq!(
            short_type("mapguard::maps::dashmap::DashMap<u64, alloc::string::String>"),
            "DashMap<u64, String>"
        );
        assert_eq!(short_type("u64"), "u64");
        assert_eq!(short_type("a::B<c::D<e::F>, [g::H; 2]>"), "B<D<F>, [H; 2]>");
    }

    #[test]
    fn local_key_ignores_order_and_separates_kinds() {
        let a = identity(Some(Location::caller()), None);
        let b = identity(Some(site_b()), None);
        let key = |kind, name, sites: [usize; 2]| local_key(kind, name, sites.into_iter());
        let k1 = key(FindingKind::ConcurrentWrite, 7, [a, b]);
        assert_eq!(k1, key(FindingKind::ConcurrentWrite, 7, [b, a]));
        assert_ne!(k1, key(FindingKind::LostUpdate, 7, [a, b]));
        assert_ne!(k1, key(FindingKind::ConcurrentWrite, 8, [a, b]));
        // The same site twice counts once: (a, a, b) is the pair (a, b).
        assert_eq!(
            local_key(FindingKind::ConcurrentWrite, 7, [a, a, b].into_iter()),
            k1
        );
    }

    #[track_caller]
    fn site_b() -> SiteRef {
        Location::caller()
    }

    #[test]
    fn a_map_window_is_brought_into_the_accepted_range() {
        let window = |d| {
            let mut m = MapState::new(None, Location::caller(), "test");
            m.set_window(d);
            m.window()
        };
        assert_eq!(window(Duration::ZERO), 1);
        assert_eq!(window(Duration::from_micros(1500)), 1);
        assert_eq!(window(Duration::from_millis(250)), 250);
        // 2^64 ms and more: a cast kept the low 64 bits (384 ms here).
        assert_eq!(
            window(Duration::from_secs(18_446_744_073_709_552)),
            3_600_000
        );
        assert_eq!(window(Duration::MAX), 3_600_000);
    }

    #[test]
    fn map_scope_state_stays_small() {
        // The figure the docs and README quote; memory per map is a target.
        // 120: a record grew by 8 bytes for the `#[guarded]` function of its access.
        assert_eq!(std::mem::size_of::<MapState>(), 120);
        assert_eq!(std::mem::size_of::<HeldGuard>(), 8);
        // What mode `accesses` or the first iteration allocates, once; and what a
        // key-scope map's table takes besides its slots.
        assert_eq!(std::mem::size_of::<Extras>(), 80);
        assert_eq!(std::mem::size_of::<KeySlots>(), 24);
    }

    #[test]
    fn a_thread_whose_key_slots_lose_the_race_gets_the_table_kept() {
        // `slots` is a race: each thread that finds none builds a table (filled
        // from the last map-wide write), one is kept and the others are dropped.
        // The loser must get the kept one, or its keyed write would land in a
        // table nobody reads again; and the kept one must carry the fill. The
        // loser's build is stopped (a test-only hook) until this thread's is kept.
        let clear = Stamp::new(Accessor::from_bits(1), Op::Clear, 5);
        let site = site_b();
        let mut m = MapState::new(None, Location::caller(), "test");
        m.set_key_slots(8);
        m.last_write
            .store(&m.last_write.load(), clear, 0, site, None);
        let (built, built_rx) = std::sync::mpsc::channel::<()>();
        let (kept, kept_rx) = std::sync::mpsc::channel::<()>();
        let (mine, theirs) = std::thread::scope(|s| {
            let m = &m;
            let loser = s.spawn(move || {
                super::super::fast_tests::on_next_slots_build(move || {
                    built.send(()).unwrap();
                    kept_rx.recv().expect("the other build was kept");
                });
                m.slots().as_ptr() as usize
            });
            built_rx.recv().expect("the loser's build ran");
            let mine = m.slots().as_ptr() as usize;
            kept.send(()).unwrap();
            (mine, loser.join().unwrap())
        });
        assert_eq!(theirs, mine, "the loser got the kept table");
        let table = m.slots_if_allocated().expect("allocated");
        assert_eq!(table.as_ptr() as usize, mine);
        assert_eq!(table.len(), 8);
        for slot in table {
            let seen = slot.0.load();
            assert_eq!(seen.stamp.without_seq(), clear, "every slot filled");
            assert!(seen.site.is_some_and(|s| std::ptr::eq(s, site)));
        }
    }

    #[test]
    fn tracked_tokens_are_live_and_off_words_are_not() {
        // An untracked guard carries the settings word it tested: whatever is set
        // in it, the drop must see "not tracked".
        for s in [
            0,
            UNREAD,
            UNREAD | SCOPE_KEY | MODE_ACCESSES | config::BT_MASK | REACT_MASK | RULES_MASK,
            config::ALL_BITS & !ENABLED,
        ] {
            let g = HeldGuard::off(s);
            assert!(!g.live(), "{s:#x}");
        }
        assert!(!HeldGuard::NONE.live());
        // A tracked token keeps its owner and payload, and is live, even with the
        // widest owner and payload (a ticket near the mask, the no-thread owner).
        let slot0 = u64::from(local::SLOT0);
        for (owner, payload) in [
            (1, slot0),
            (7, slot0 << (local::HELD - 1)),
            (thread::NO_THREAD - 1, u64::from(local::HELD_BITS)),
            (thread::NO_THREAD, 0),
        ] {
            let packed = pack(owner, payload);
            assert_ne!(packed & LIVE, 0);
            assert_eq!(owner_of(packed), owner);
            assert_eq!(payload_of(packed), payload);
            // The low word, anded into `held_live`, clears the slots and nothing
            // else there (its low 16 bits are always clear).
            let held_live = u64::from(local::HELD_BITS | local::GATE_BUSY);
            assert_eq!(held_live & packed, held_live & !payload, "{packed:#x}");
        }
        // A ticket token: no thread's, and its ticket back.
        for t in [1, 12_345, TICKET_MASK] {
            let packed = pack_ticket(t);
            assert_ne!(packed & LIVE, 0);
            assert_eq!(
                (owner_of(packed), ticket_of(packed)),
                (thread::NO_THREAD, t)
            );
            assert_eq!(payload_of(packed), 0);
        }
    }

    #[test]
    fn tickets_are_never_zero_and_fit_a_token() {
        for n in [
            0,
            1,
            TICKET_MASK - 1,
            TICKET_MASK,
            TICKET_MASK + 1,
            u64::MAX,
        ] {
            let t = ticket_from(n);
            assert!((1..=TICKET_MASK).contains(&t), "{n} -> {t}");
            assert_eq!(ticket_of(pack_ticket(t)), t);
        }
    }

    #[test]
    fn overrides_win_over_global() {
        let mut o = Overrides::default();
        o.set(SCOPE_KEY, SCOPE_KEY);
        assert_ne!(o.apply(ENABLED) & SCOPE_KEY, 0);
        o.set(SCOPE_KEY, 0);
        assert_eq!(o.apply(ENABLED | SCOPE_KEY) & SCOPE_KEY, 0);
        assert_ne!(o.apply(ENABLED) & ENABLED, 0);
    }

    /// A plain map takes the copy of the scope it runs in: its own if it overrides
    /// the scope, else the global word's; neither copy when it or the global word
    /// is not plain.
    #[test]
    fn a_plain_map_takes_the_copy_of_its_own_scope() {
        use crate::{Config, Scope};
        let map_global = ENABLED | Config::new().word();
        let key_global = ENABLED | Config::new().scope(Scope::Key).word();
        let lean_global = ENABLED
            | Config::new()
                .rules(Rules::ALL.without(FindingKind::LostUpdate))
                .word();
        let copy = |o: &Overrides, g: u32| {
            let c = (o.plain_in_map_scope(g), o.plain_in_key_scope(g));
            // The copy's scope is the one the map's settings have.
            match c {
                (true, false) => {
                    assert_eq!(o.apply(g) & (SCOPE_KEY | config::PLAIN_SET), PLAIN_MAP)
                }
                (false, true) => {
                    assert_eq!(o.apply(g) & (SCOPE_KEY | config::PLAIN_SET), PLAIN_KEY)
                }
                (false, false) => {}
                (true, true) => panic!("both copies for {g:#x}"),
            }
            c
        };
        let global = Overrides::default();
        let mut key = Overrides::default();
        key.set(SCOPE_KEY, SCOPE_KEY);
        let mut map = Overrides::default();
        map.set(SCOPE_KEY, 0);
        for (o, under_map, under_key) in [
            (&global, (true, false), (false, true)),
            (&key, (false, true), (false, true)),
            (&map, (true, false), (true, false)),
        ] {
            assert_eq!(copy(o, map_global), under_map);
            assert_eq!(copy(o, key_global), under_key);
            assert_eq!(copy(o, lean_global), (false, false));
            // An override the copies do not cover takes the map off both; back to
            // a covered value, its scope decides again.
            let mut o = *o;
            o.set(MODE_ACCESSES, MODE_ACCESSES);
            assert_eq!(copy(&o, map_global), (false, false));
            assert_eq!(copy(&o, key_global), (false, false));
            o.set(MODE_ACCESSES, 0);
            assert_eq!(copy(&o, map_global), under_map);
            assert_eq!(copy(&o, key_global), under_key);
        }
        // The word before the environment is read takes neither.
        assert_eq!(copy(&global, UNREAD | ENABLED), (false, false));
    }

    #[test]
    fn a_map_is_plain_while_its_overrides_keep_the_plain_values() {
        let global = ENABLED | crate::Config::new().word();
        assert_ne!(global & config::PLAIN, 0);
        let plain = |o: &Overrides| o.plain_in_map_scope(global) || o.plain_in_key_scope(global);
        let lean = Rules::ALL.without(FindingKind::LostUpdate).bits() << RULES_SHIFT;
        let mut o = Overrides::default();
        assert!(plain(&o));
        // Not a setting the plain copy decides.
        o.set(SCOPE_KEY, SCOPE_KEY);
        o.set(REACT_MASK, 1 << REACT_SHIFT);
        assert!(plain(&o));
        // An override to a value the plain copy does not cover, and back.
        for (mask, off, on) in [
            (MODE_ACCESSES, MODE_ACCESSES, 0),
            (
                config::BT_MASK,
                2 << config::BT_SHIFT,
                1 << config::BT_SHIFT,
            ),
            (RULES_MASK, lean, Rules::ALL.bits() << RULES_SHIFT),
        ] {
            o.set(mask, off);
            assert!(!plain(&o), "{mask:#x} = {off:#x}");
            o.set(mask, on);
            assert!(plain(&o), "{mask:#x} = {on:#x}");
        }
        // Every map with a manual clock.
        o.set(MANUAL_CLOCK, MANUAL_CLOCK);
        assert!(!plain(&o));
        // Overrides never make a global word plain that is not (a map with rules
        // `all` under global rules without `lost_update` takes the other copy).
        let lean_global = ENABLED
            | crate::Config::new()
                .rules(Rules::ALL.without(FindingKind::LostUpdate))
                .word();
        let mut o = Overrides::default();
        o.set(RULES_MASK, Rules::ALL.bits() << RULES_SHIFT);
        assert!(!o.plain_in_map_scope(lean_global) && !o.plain_in_key_scope(lean_global));
    }
}
