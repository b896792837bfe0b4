//! The cases and variants `overhead` measures. Each variant of a case runs the same
//! loop over the same keys; only the map type and mapguard's settings differ.

use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::{Barrier, RwLock};
use std::time::{Duration, Instant};

use mapguard::{BacktraceMode, Config, FindingKind, Rules, Scope};

use crate::{keys, seeded_keys};

/// How the map under test is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// `dashmap::DashMap`.
    Raw,
    /// `mapguard::DashMap`, runtime switch off.
    Off,
    /// On, scope map, stacks on finding.
    OnMap,
    /// On, scope key.
    OnKey,
    /// On, scope map, backtrace `always`: a stack kept for each write, skipped only
    /// when the record it replaces has the same thread, op and millisecond.
    Always,
    /// On, scope map, without the two rules that book every read and every guard
    /// (`lost_update`, `reentrant_access`).
    Lean,
    /// On, scope map, every rule but `concurrent_write`: the finding storm's own
    /// access pattern (two threads writing one key, every record update crossing
    /// cores) with nothing found, the storm's "on, nothing found".
    Quiet,
    /// Built with `--features compile-out`.
    CompiledOut,
}

impl Variant {
    /// The variants this build can measure.
    pub fn all() -> &'static [Variant] {
        if mapguard::is_compiled_out() {
            &[Variant::Raw, Variant::CompiledOut]
        } else {
            &[
                Variant::Raw,
                Variant::Off,
                Variant::OnMap,
                Variant::OnKey,
                Variant::Always,
                Variant::Lean,
                Variant::Quiet,
            ]
        }
    }

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Raw => "raw",
            Variant::Off => "off",
            Variant::OnMap => "on_map",
            Variant::OnKey => "on_key",
            Variant::Always => "always",
            Variant::Lean => "lean",
            Variant::Quiet => "quiet",
            Variant::CompiledOut => "compiled_out",
        }
    }

    /// The variant named `s`, if this build has it.
    pub fn parse(s: &str) -> Option<Variant> {
        Variant::all().iter().copied().find(|v| v.name() == s)
    }

    fn guarded(self) -> bool {
        self != Variant::Raw
    }
}

/// What one op of a case does.
#[derive(Clone, Copy, Debug)]
enum Work {
    /// One thread: this op over `space` keys.
    Single(Single, u64),
    /// `threads` threads, `reads` percent reads, keys shared or one range per thread.
    Mixed {
        threads: usize,
        reads: u32,
        shared: bool,
    },
    /// `threads` threads writing one key: each write that follows another thread's
    /// conflicts (how many do depends on how the threads interleave).
    Storm { threads: usize },
    /// `threads` threads writing one key in each of `maps` maps, in turn: a write
    /// that follows another thread's conflicts, and each map's first conflict is a
    /// new finding (the map's name is part of its fingerprint), so the reporter has
    /// `maps` findings to build.
    StormMaps { threads: usize, maps: usize },
    /// Resident memory growth, in bytes, over a storm of `ops` finding occurrences
    /// (guard on; two threads writing one key until that many are counted), or of
    /// `ops` writes (raw).
    StormRss,
    /// Resident bytes per map (one entry each), beyond an empty map's allocations.
    MapBytes,
}

#[derive(Clone, Copy, Debug)]
enum Single {
    Get,
    Insert,
    Entry,
    RemoveInsert,
    Iter,
}

/// Which map a case measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// `dashmap::DashMap` against `mapguard::DashMap`.
    Dash,
    /// `RwLock<std::collections::HashMap>` against `RwLock<mapguard::HashMap>`: each
    /// op takes the lock (read for `get` and `iter`, write otherwise), as a program
    /// sharing a std map does.
    Std,
}

/// One benchmark case.
#[derive(Debug)]
pub struct Case {
    /// Its name on the command line.
    pub name: &'static str,
    /// Default operations per round.
    pub ops: u64,
    /// The variants it is measured in.
    pub variants: &'static [Variant],
    /// What a figure counts: `ns/op` or `bytes`.
    pub unit: &'static str,
    work: Work,
    family: Family,
}

const ALL_ON: &[Variant] = &[
    Variant::Raw,
    Variant::Off,
    Variant::OnMap,
    Variant::OnKey,
    Variant::Always,
    Variant::Lean,
];
const OFF_AND_KEY: &[Variant] = &[Variant::Raw, Variant::Off, Variant::OnKey];
const STORM: &[Variant] = &[Variant::Raw, Variant::Off, Variant::Quiet, Variant::OnMap];
const SCOPES: &[Variant] = &[Variant::Raw, Variant::OnMap, Variant::OnKey];
/// Shared keys: what the switch off costs there too, and both scopes on (in map
/// scope two threads writing one map make findings: the cost of the rules at work).
const SHARED: &[Variant] = &[Variant::Raw, Variant::Off, Variant::OnMap, Variant::OnKey];
const COMPILED_OUT: &[Variant] = &[Variant::Raw, Variant::CompiledOut];

const HOT: u64 = 1_000;
const COLD: u64 = 1_000_000;

macro_rules! case {
    ($name:expr, $ops:expr, $variants:expr, $unit:expr, $work:expr) => {
        case!($name, $ops, $variants, $unit, $work, Family::Dash)
    };
    ($name:expr, $ops:expr, $variants:expr, $unit:expr, $work:expr, $family:expr) => {
        Case {
            name: $name,
            ops: $ops,
            variants: $variants,
            unit: $unit,
            work: $work,
            family: $family,
        }
    };
}

static CASES: [Case; 50] = [
    case!(
        "hot_get",
        2_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Get, HOT)
    ),
    case!(
        "hot_insert",
        2_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Insert, HOT)
    ),
    case!(
        "hot_entry_or_insert",
        2_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Entry, HOT)
    ),
    case!(
        "hot_remove_insert",
        1_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::RemoveInsert, HOT)
    ),
    case!(
        "hot_iter",
        2_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Iter, HOT)
    ),
    case!(
        "cold_get",
        1_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Get, COLD)
    ),
    case!(
        "cold_insert",
        1_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Insert, COLD)
    ),
    case!(
        "cold_entry_or_insert",
        1_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Entry, COLD)
    ),
    case!(
        "cold_remove_insert",
        500_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::RemoveInsert, COLD)
    ),
    case!(
        "cold_iter",
        3,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Iter, COLD)
    ),
    case!(
        "t1_90_10_disjoint",
        1_000_000,
        OFF_AND_KEY,
        "ns/op",
        Work::Mixed {
            threads: 1,
            reads: 90,
            shared: false
        }
    ),
    case!(
        "t1_50_50_disjoint",
        1_000_000,
        OFF_AND_KEY,
        "ns/op",
        Work::Mixed {
            threads: 1,
            reads: 50,
            shared: false
        }
    ),
    case!(
        "t2_90_10_disjoint",
        1_000_000,
        OFF_AND_KEY,
        "ns/op",
        Work::Mixed {
            threads: 2,
            reads: 90,
            shared: false
        }
    ),
    case!(
        "t4_90_10_disjoint",
        500_000,
        OFF_AND_KEY,
        "ns/op",
        Work::Mixed {
            threads: 4,
            reads: 90,
            shared: false
        }
    ),
    case!(
        "t2_50_50_disjoint",
        1_000_000,
        OFF_AND_KEY,
        "ns/op",
        Work::Mixed {
            threads: 2,
            reads: 50,
            shared: false
        }
    ),
    case!(
        "t4_50_50_disjoint",
        500_000,
        OFF_AND_KEY,
        "ns/op",
        Work::Mixed {
            threads: 4,
            reads: 50,
            shared: false
        }
    ),
    case!(
        "t2_90_10_shared",
        1_000_000,
        SHARED,
        "ns/op",
        Work::Mixed {
            threads: 2,
            reads: 90,
            shared: true
        }
    ),
    case!(
        "t2_50_50_shared",
        1_000_000,
        SHARED,
        "ns/op",
        Work::Mixed {
            threads: 2,
            reads: 50,
            shared: true
        }
    ),
    case!(
        "t4_90_10_shared",
        500_000,
        SHARED,
        "ns/op",
        Work::Mixed {
            threads: 4,
            reads: 90,
            shared: true
        }
    ),
    case!(
        "t4_50_50_shared",
        500_000,
        SHARED,
        "ns/op",
        Work::Mixed {
            threads: 4,
            reads: 50,
            shared: true
        }
    ),
    case!(
        "t2_writes_disjoint",
        1_000_000,
        OFF_AND_KEY,
        "ns/op",
        Work::Mixed {
            threads: 2,
            reads: 0,
            shared: false
        }
    ),
    case!(
        "t2_storm",
        1_000_000,
        STORM,
        "ns/op",
        Work::Storm { threads: 2 }
    ),
    case!(
        "t2_storm_maps",
        1_000_000,
        STORM,
        "ns/op",
        Work::StormMaps {
            threads: 2,
            maps: 8192
        }
    ),
    case!(
        "storm_rss_10m",
        10_000_000,
        &[Variant::Raw, Variant::OnMap],
        "bytes",
        Work::StormRss
    ),
    case!("map_bytes", 2_000, SCOPES, "bytes", Work::MapBytes),
    case!(
        "compiled_out_get",
        2_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Get, HOT)
    ),
    case!(
        "compiled_out_insert",
        2_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Insert, HOT)
    ),
    case!(
        "compiled_out_entry",
        2_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Entry, HOT)
    ),
    case!(
        "compiled_out_remove_insert",
        1_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::RemoveInsert, HOT)
    ),
    // The cold loops with the guard compiled out: the same code as raw, so any
    // ratio away from 1.00x here is the measurement's own (an A/A check for the
    // cold rows).
    case!(
        "compiled_out_cold_get",
        1_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Get, COLD)
    ),
    case!(
        "compiled_out_cold_entry",
        1_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Entry, COLD)
    ),
    case!(
        "std_get",
        2_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Get, HOT),
        Family::Std
    ),
    case!(
        "std_insert",
        2_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Insert, HOT),
        Family::Std
    ),
    case!(
        "std_entry_or_insert",
        2_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Entry, HOT),
        Family::Std
    ),
    case!(
        "std_remove_insert",
        1_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::RemoveInsert, HOT),
        Family::Std
    ),
    case!(
        "compiled_out_std_get",
        2_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Get, HOT),
        Family::Std
    ),
    case!(
        "compiled_out_std_insert",
        2_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Insert, HOT),
        Family::Std
    ),
    case!(
        "compiled_out_std_entry",
        2_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Entry, HOT),
        Family::Std
    ),
    case!(
        "compiled_out_std_remove_insert",
        1_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::RemoveInsert, HOT),
        Family::Std
    ),
    // The std cold loops' A/A check, as the `DashMap` pair above: a std op in its
    // lock on a cold map overlaps its misses with the next op's only as far as its
    // instruction window reaches, so these rows move more than the hot ones.
    case!(
        "compiled_out_std_cold_get",
        1_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Get, COLD),
        Family::Std
    ),
    case!(
        "compiled_out_std_cold_insert",
        1_000_000,
        COMPILED_OUT,
        "ns/op",
        Work::Single(Single::Insert, COLD),
        Family::Std
    ),
    // The std map in the program's own lock, beyond the hot single-thread loops: cold
    // (1M keys), a full iteration, threads on disjoint and shared keys, the storm.
    case!(
        "std_cold_get",
        1_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Get, COLD),
        Family::Std
    ),
    case!(
        "std_cold_insert",
        1_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Insert, COLD),
        Family::Std
    ),
    case!(
        "std_cold_entry_or_insert",
        1_000_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Entry, COLD),
        Family::Std
    ),
    case!(
        "std_cold_remove_insert",
        500_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::RemoveInsert, COLD),
        Family::Std
    ),
    case!(
        "std_iter",
        2_000,
        ALL_ON,
        "ns/op",
        Work::Single(Single::Iter, HOT),
        Family::Std
    ),
    case!(
        "std_t2_90_10_disjoint",
        1_000_000,
        OFF_AND_KEY,
        "ns/op",
        Work::Mixed {
            threads: 2,
            reads: 90,
            shared: false
        },
        Family::Std
    ),
    case!(
        "std_t4_90_10_disjoint",
        500_000,
        OFF_AND_KEY,
        "ns/op",
        Work::Mixed {
            threads: 4,
            reads: 90,
            shared: false
        },
        Family::Std
    ),
    case!(
        "std_t2_50_50_shared",
        1_000_000,
        SHARED,
        "ns/op",
        Work::Mixed {
            threads: 2,
            reads: 50,
            shared: true
        },
        Family::Std
    ),
    case!(
        "std_t2_storm",
        1_000_000,
        STORM,
        "ns/op",
        Work::Storm { threads: 2 },
        Family::Std
    ),
];

/// Every case this build can run.
pub fn all() -> Vec<&'static Case> {
    CASES
        .iter()
        .filter(|c| c.variants.iter().all(|v| Variant::all().contains(v)))
        .collect()
}

/// The names of [`all`].
pub fn names() -> Vec<&'static str> {
    all().iter().map(|c| c.name).collect()
}

/// The case named `name`.
pub fn find(name: &str) -> Option<&'static Case> {
    all().into_iter().find(|c| c.name == name)
}

/// One line of `overhead`'s output.
#[derive(Debug, serde::Serialize)]
pub struct Row {
    /// The case.
    pub case: &'static str,
    /// The variant.
    pub variant: &'static str,
    /// Raw's median (in `unit`).
    pub raw_ns_per_op: f64,
    /// This variant's median (in `unit`).
    pub ns_per_op: f64,
    /// `ns_per_op / raw_ns_per_op`.
    pub ratio: f64,
    /// Rounds measured.
    pub rounds: usize,
    /// `ns/op`, or `bytes` for the memory cases.
    pub unit: &'static str,
    /// The finding storms, variants with the guard on: what the reporter made of
    /// the last round's findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter: Option<Reporter>,
}

/// What mapguard did with one round of a finding storm, from [`mapguard::stats`]
/// before and after it, and how long [`mapguard::flush`] then waited.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Reporter {
    /// Occurrences counted, repeats included (`stats().findings`).
    pub findings: u64,
    /// Occurrences that repeat a known finding: counted on the user's thread, no
    /// stack captured, nothing queued (`stats().duplicates`).
    pub duplicates: u64,
    /// New findings the reporter built (stacks resolved) and handed to the sinks.
    pub reported: u64,
    /// New findings not queued because the queue to the reporter was full; a later
    /// occurrence of the same finding is captured and offered again.
    pub dropped: u64,
    /// New findings made without their stack, in a burst with 256 already waiting
    /// for the reporter (`stats().stacks_skipped`).
    pub stacks_skipped: u64,
    /// Milliseconds `flush()` waited once the storm's threads had finished: the
    /// work the reporter still had queued.
    pub drain_ms: f64,
}

impl Reporter {
    fn between(before: mapguard::Stats, after: mapguard::Stats, drain: Duration) -> Reporter {
        Reporter {
            findings: after.findings - before.findings,
            duplicates: after.duplicates - before.duplicates,
            reported: after.reported - before.reported,
            dropped: after.dropped - before.dropped,
            stacks_skipped: after.stacks_skipped - before.stacks_skipped,
            drain_ms: drain.as_secs_f64() * 1e3,
        }
    }
}

/// Installs the settings every variant shares: on, no output (findings are counted
/// in `mapguard::stats()` only), stacks on finding.
pub fn install() {
    Config::new()
        .outputs(vec![])
        .install()
        .expect("bench config");
}

trait Map: Sync {
    fn get(&self, k: u64) -> Option<u64>;
    fn insert(&self, k: u64, v: u64) -> Option<u64>;
    fn entry_add(&self, k: u64);
    fn remove(&self, k: u64) -> Option<(u64, u64)>;
    fn sum(&self) -> u64;
}

impl<S: BuildHasher + Clone + Send + Sync> Map for dashmap::DashMap<u64, u64, S> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        dashmap::DashMap::get(self, &k).map(|r| *r)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> Option<u64> {
        dashmap::DashMap::insert(self, k, v)
    }
    #[inline]
    fn entry_add(&self, k: u64) {
        *dashmap::DashMap::entry(self, k).or_insert(0) += 1;
    }
    #[inline]
    fn remove(&self, k: u64) -> Option<(u64, u64)> {
        dashmap::DashMap::remove(self, &k)
    }
    #[inline]
    fn sum(&self) -> u64 {
        dashmap::DashMap::iter(self).map(|r| *r.value()).sum()
    }
}

impl<S: BuildHasher + Clone + Send + Sync> Map for mapguard::DashMap<u64, u64, S> {
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        mapguard::DashMap::get(self, &k).map(|r| *r)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> Option<u64> {
        mapguard::DashMap::insert(self, k, v)
    }
    #[inline]
    fn entry_add(&self, k: u64) {
        *mapguard::DashMap::entry(self, k).or_insert(0) += 1;
    }
    #[inline]
    fn remove(&self, k: u64) -> Option<(u64, u64)> {
        mapguard::DashMap::remove(self, &k)
    }
    #[inline]
    fn sum(&self) -> u64 {
        mapguard::DashMap::iter(self).map(|r| *r.value()).sum()
    }
}

/// The hasher of the single-subject cases' maps, raw and guarded alike: SipHash-1-3,
/// as `RandomState`, with fixed keys, so that every process probes the same way and
/// callgrind's counts are exact rather than spread by each run's random keys; and
/// always inlined, so that raw's loops are the same in every build
/// ([`crate::sip`]).
pub(crate) type Fixed = crate::sip::FixedSip13;

type StdMap = std::collections::HashMap<u64, u64, Fixed>;

/// `Map` for a std-style map in an `RwLock`, as a program sharing one keeps it: each
/// op takes the lock, read for `get` and `sum`, write otherwise.
macro_rules! map_in_rwlock {
    ($($m:ty),+) => {$(
        impl Map for RwLock<$m> {
            #[inline]
            fn get(&self, k: u64) -> Option<u64> {
                self.read().expect("bench lock").get(&k).copied()
            }
            #[inline]
            fn insert(&self, k: u64, v: u64) -> Option<u64> {
                self.write().expect("bench lock").insert(k, v)
            }
            #[inline]
            fn entry_add(&self, k: u64) {
                *self.write().expect("bench lock").entry(k).or_insert(0) += 1;
            }
            #[inline]
            fn remove(&self, k: u64) -> Option<(u64, u64)> {
                self.write().expect("bench lock").remove_entry(&k)
            }
            #[inline]
            fn sum(&self) -> u64 {
                self.read().expect("bench lock").values().sum()
            }
        }
    )+};
}

map_in_rwlock!(StdMap, mapguard::HashMap<u64, u64, Fixed>);

/// A guarded map (any of mapguard's types) with variant `v`'s settings.
macro_rules! configured {
    ($v:expr, $m:expr) => {{
        let m = $m;
        match $v {
            Variant::OnKey => m.with_scope(Scope::Key),
            Variant::Always => m.with_backtrace(BacktraceMode::Always),
            Variant::Lean => m.with_scope(Scope::Map).with_rules(
                Rules::ALL
                    .without(FindingKind::LostUpdate)
                    .without(FindingKind::ReentrantAccess),
            ),
            Variant::Quiet => m
                .with_scope(Scope::Map)
                .with_rules(Rules::ALL.without(FindingKind::ConcurrentWrite)),
            _ => m.with_scope(Scope::Map),
        }
    }};
}

/// A map built for one variant. Built once per case; boxing the larger variant
/// would put an extra indirection on one side of the comparison only.
#[allow(clippy::large_enum_variant)]
enum Subject {
    Raw(dashmap::DashMap<u64, u64, Fixed>),
    Guarded(mapguard::DashMap<u64, u64, Fixed>),
    RawStd(RwLock<StdMap>),
    GuardedStd(RwLock<mapguard::HashMap<u64, u64, Fixed>>),
}

/// A raw map's table, handed from variant to variant (see
/// [`Case::one_table_per_round`]).
enum Table {
    Dash(dashmap::DashMap<u64, u64, Fixed>),
    Std(StdMap),
}

impl Table {
    fn new(fill: u64, family: Family) -> Table {
        let pairs = (0..fill).map(|k| (k, k));
        match family {
            Family::Dash => Table::Dash(pairs.collect()),
            Family::Std => Table::Std(pairs.collect()),
        }
    }
}

impl Subject {
    fn new(v: Variant, fill: u64, family: Family) -> Subject {
        Subject::around(v, Table::new(fill, family))
    }

    /// Variant `v`'s map around `table`. Moves the map's header only: the table's
    /// memory stays where it is.
    fn around(v: Variant, table: Table) -> Subject {
        let name = format!("bench-{}", v.name());
        match (table, v.guarded()) {
            (Table::Dash(m), false) => Subject::Raw(m),
            (Table::Dash(m), true) => Subject::Guarded(configure(v, m.into(), name)),
            (Table::Std(m), false) => Subject::RawStd(RwLock::new(m)),
            (Table::Std(m), true) => {
                let m = mapguard::HashMap::from(m);
                Subject::GuardedStd(RwLock::new(configured!(v, m.with_name(name))))
            }
        }
    }

    /// The table back, for the next variant.
    fn into_table(self) -> Table {
        let lock = "bench lock";
        match self {
            Subject::Raw(m) => Table::Dash(m),
            Subject::Guarded(m) => Table::Dash(m.into_inner()),
            Subject::RawStd(m) => Table::Std(m.into_inner().expect(lock)),
            Subject::GuardedStd(m) => Table::Std(m.into_inner().expect(lock).into_inner()),
        }
    }
}

/// Evaluates `$body` with `$m` bound to the subject's map, whichever type it is.
macro_rules! with_map {
    ($subject:expr, $m:ident => $body:expr) => {
        match $subject {
            Subject::Raw($m) => $body,
            Subject::Guarded($m) => $body,
            Subject::RawStd($m) => $body,
            Subject::GuardedStd($m) => $body,
        }
    };
}

/// A guarded `DashMap` named `name` with variant `v`'s settings.
fn configure<S: BuildHasher + Clone>(
    v: Variant,
    m: mapguard::DashMap<u64, u64, S>,
    name: String,
) -> mapguard::DashMap<u64, u64, S> {
    configured!(v, m.with_name(name))
}

/// Switches the runtime guard as `v` needs (off for raw too, so raw pays nothing).
fn switch(v: Variant) {
    let on = matches!(
        v,
        Variant::OnMap | Variant::OnKey | Variant::Always | Variant::Lean | Variant::Quiet
    );
    if mapguard::is_enabled() != on {
        mapguard::set_enabled(on);
    }
}

fn single<M: Map>(m: &M, op: Single, keys: &[u64], ops: u64) -> f64 {
    let start = Instant::now();
    black_box(work(m, op, keys, ops));
    start.elapsed().as_nanos() as f64 / ops as f64
}

/// The work of a single-thread case: `ops` ops of kind `op` over `keys`; returns
/// what the reads summed (the same for every variant of a case).
fn work<M: Map>(m: &M, op: Single, keys: &[u64], ops: u64) -> u64 {
    match op {
        Single::Get => op_loop(m, keys, ops, |m, k, _| m.get(k).unwrap_or(0)),
        Single::Insert => op_loop(m, keys, ops, |m, k, i| m.insert(k, i).unwrap_or(0)),
        Single::Entry => op_loop(m, keys, ops, |m, k, _| {
            m.entry_add(k);
            0
        }),
        Single::RemoveInsert => op_loop(m, keys, ops, |m, k, _| {
            let (k, v) = m.remove(k).unwrap_or((k, 0));
            m.insert(k, v);
            v
        }),
        Single::Iter => op_loop(m, keys, ops, |m, _, _| m.sum()),
    }
}

/// `ops` calls of `op` over `keys` in turn, summed. Each (map, op) pair is its own
/// function, never inlined into the caller: the compiler allocates registers for
/// this one loop, as it would for a call in a user's function. Inlined into one
/// dispatcher with the other loops (as before 2026-11-26), register pressure from
/// unrelated loops moved each loop by up to 4 instructions per op between builds.
#[inline(never)]
fn op_loop<M: Map>(m: &M, keys: &[u64], ops: u64, op: impl Fn(&M, u64, u64) -> u64) -> u64 {
    let mask = keys.len() - 1;
    let mut acc = 0u64;
    for i in 0..ops {
        acc = acc.wrapping_add(op(m, keys[i as usize & mask], i));
    }
    acc
}

/// Key ranges the disjoint mixed cases take in turn, one per run: each run's threads
/// are new threads (new accessors), and had they written the keys the last run's
/// threads wrote, within the window, that would be a `concurrent_write` in a case
/// that must find nothing (it did, before these ranges).
const MIXED_RANGES: u64 = 8;
/// When each range was last let go; a range is taken again only a window (with
/// room to spare) after that, waiting outside the timed part if it must.
static MIXED_LAST: std::sync::Mutex<[Option<Instant>; MIXED_RANGES as usize]> =
    std::sync::Mutex::new([None; MIXED_RANGES as usize]);
static MIXED_RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
const MIXED_REUSE_AFTER: Duration = Duration::from_millis(250);

fn mixed<M: Map>(m: &M, threads: usize, reads: u32, shared: bool, ops: u64) -> f64 {
    let range = MIXED_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % MIXED_RANGES;
    let last = MIXED_LAST.lock().unwrap()[range as usize];
    if let Some(wait) = last.and_then(|l| MIXED_REUSE_AFTER.checked_sub(l.elapsed())) {
        std::thread::sleep(wait);
    }
    let per_thread: Vec<Vec<(u64, bool)>> = (0..threads)
        .map(|t| {
            let base = if shared {
                0
            } else {
                (range * threads as u64 + t as u64) * HOT
            };
            // Each thread its own sequence, and the read/write dice independent of
            // the keys (from the same sequence, a key was always read or always
            // written).
            let seed = 2 * t as u64;
            seeded_keys(8192, HOT, seed)
                .into_iter()
                .zip(seeded_keys(8192, 100, seed + 1))
                .map(|(k, dice)| (base + k, dice < reads as u64))
                .collect()
        })
        .collect();
    let figure = timed_threads(threads, ops, |t| {
        let work = &per_thread[t];
        let mut acc = 0u64;
        for i in 0..ops as usize {
            let (k, read) = work[i & 8191];
            if read {
                acc = acc.wrapping_add(m.get(k).unwrap_or(0));
            } else {
                m.insert(k, i as u64);
            }
        }
        black_box(acc);
    });
    MIXED_LAST.lock().unwrap()[range as usize] = Some(Instant::now());
    figure
}

fn storm<M: Map>(m: &M, threads: usize, ops: u64) -> f64 {
    timed_threads(threads, ops, |_| {
        for i in 0..ops {
            m.insert(7, i);
        }
    })
}

/// Two threads writing one key until `occurrences` finding occurrences are counted
/// (`stats().findings`). A write conflicts when it follows the other thread's (the
/// threads take turns on the record's cache line); how many do depends on how the
/// threads interleave (about a third of `t2_storm`'s writes in the kept runs), so
/// this makes a few writes per occurrence; it stops at 100 per occurrence, should
/// the storm stop finding.
/// Panics if the cap comes first: the figure is for `occurrences` or for nothing.
fn storm_until_found<M: Map>(m: &M, occurrences: u64) {
    const CHUNK: u64 = 500_000;
    let start = mapguard::stats().findings;
    let mut writes = 0;
    while mapguard::stats().findings - start < occurrences && writes < occurrences * 100 {
        storm(m, 2, CHUNK);
        writes += 2 * CHUNK;
    }
    let counted = mapguard::stats().findings - start;
    assert!(
        counted >= occurrences,
        "the storm stopped finding: {counted} occurrences of the {occurrences} asked in {writes} writes"
    );
}

/// `threads` threads each writing key 7 of every map in `maps` in turn, `ops` times.
fn storm_over<M: Map>(maps: &[M], threads: usize, ops: u64) -> f64 {
    timed_threads(threads, ops, |_| {
        for i in 0..ops {
            maps[i as usize % maps.len()].insert(7, i);
        }
    })
}

/// Runs `body(t)` for `t` in `0..threads`, each on its own thread, all started
/// together; returns the wall time from start to the last one's end per `ops`.
fn timed_threads(threads: usize, ops: u64, body: impl Fn(usize) + Sync) -> f64 {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (barrier, body) = (&barrier, &body);
            s.spawn(move || {
                barrier.wait();
                body(t);
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed().as_nanos() as f64 / ops as f64
    })
}

/// [`storm_over`] on `n` fresh maps of variant `v`, named `storm-0`, `storm-1`, ...
fn storm_maps(v: Variant, threads: usize, n: usize, ops: u64) -> f64 {
    if v.guarded() {
        let maps: Vec<_> = (0..n)
            .map(|i| configure(v, mapguard::DashMap::new(), format!("storm-{i}")))
            .collect();
        storm_over(&maps, threads, ops)
    } else {
        let maps: Vec<_> = (0..n).map(|_| dashmap::DashMap::new()).collect();
        storm_over(&maps, threads, ops)
    }
}

/// With the guard on, makes one finding on `m` (two threads write key 7 in turn)
/// and waits for its report, as the shared warm-up round does for the cases that
/// run in one process: the first stack the reporter resolves loads the binary's
/// debug info, once per process, and on this 2-core machine that would compete
/// with the measured threads (and count as growth in a memory case). Tries a few
/// times, since the two writes must fall within the window.
fn warm_reporter<M: Map>(m: &M) {
    if !mapguard::is_enabled() {
        return;
    }
    let start = mapguard::stats().findings;
    for i in 0..10 {
        for _ in 0..2 {
            std::thread::scope(|s| {
                s.spawn(|| m.insert(7, i));
            });
        }
        if mapguard::stats().findings > start {
            break;
        }
    }
    mapguard::flush();
}

/// Resident set size of this process, from /proc (Linux); 0 elsewhere.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

impl Case {
    fn prefill(&self) -> u64 {
        match self.work {
            Work::Single(_, space) => space,
            Work::Mixed {
                threads, shared, ..
            } => {
                if shared {
                    HOT
                } else {
                    HOT * threads as u64 * MIXED_RANGES
                }
            }
            Work::Storm { .. } | Work::StormMaps { .. } | Work::StormRss | Work::MapBytes => 1,
        }
    }

    fn run(
        &self,
        subject: &Subject,
        v: Variant,
        ops: u64,
        keyset: &[u64],
    ) -> (f64, Option<Reporter>) {
        switch(v);
        if matches!(self.work, Work::StormMaps { .. }) {
            // Before the round's stats are taken: the warm-up's finding is not the
            // storm's (the process is fresh; see `fresh_process`).
            warm_reporter(&configure(
                Variant::OnMap,
                mapguard::DashMap::new(),
                "warm-up".into(),
            ));
        }
        let is_storm = matches!(
            self.work,
            Work::Storm { .. } | Work::StormMaps { .. } | Work::StormRss
        );
        let before = is_storm.then(mapguard::stats);
        macro_rules! on_map {
            ($m:expr) => {
                match self.work {
                    Work::Single(op, _) => single($m, op, keyset, ops),
                    Work::Mixed {
                        threads,
                        reads,
                        shared,
                    } => mixed($m, threads, reads, shared, ops),
                    Work::Storm { threads } => storm($m, threads, ops),
                    Work::StormMaps { threads, maps } => storm_maps(v, threads, maps, ops),
                    Work::StormRss => {
                        // One finding first, reported and flushed: symbolicating its
                        // stack loads debug info once, which is not storm growth.
                        warm_reporter($m);
                        let before = rss_bytes();
                        if mapguard::is_enabled() {
                            storm_until_found($m, ops);
                        } else {
                            storm($m, 2, ops / 2);
                        }
                        mapguard::flush();
                        rss_bytes().saturating_sub(before) as f64
                    }
                    Work::MapBytes => map_bytes(v, ops),
                }
            };
        }
        let out = with_map!(subject, m => on_map!(m));
        let reporter = before.filter(|_| mapguard::is_enabled()).map(|before| {
            let start = Instant::now();
            mapguard::flush();
            Reporter::between(before, mapguard::stats(), start.elapsed())
        });
        switch(Variant::Off);
        (out, reporter)
    }

    /// Runs one loop of `ops` operations in variant `v`; returns its figure and,
    /// for a finding storm with the guard on, what the reporter made of it.
    pub fn run_once(&self, v: Variant, ops: u64) -> (f64, Option<Reporter>) {
        let subject = Subject::new(v, self.prefill(), self.family);
        let keyset = self.keyset();
        self.run(&subject, v, ops, &keyset)
    }

    fn keyset(&self) -> Vec<u64> {
        match self.work {
            // Cold: 2^21 draws of the 1M keys (88% of the keys drawn), so a loop goes
            // over nearly the whole map, not a 64K-key corner of it near the L2's size.
            Work::Single(_, space) if space == COLD => keys(1 << 21, space),
            Work::Single(_, space) => keys(1 << 16, space),
            _ => Vec::new(),
        }
    }

    /// Memory cases run each figure in a fresh process: in a process that has
    /// already freed memory, the allocator reuses it and RSS does not grow.
    fn fresh_process(&self) -> bool {
        matches!(
            self.work,
            Work::StormRss | Work::MapBytes | Work::StormMaps { .. }
        )
    }

    /// Cold cases (1M keys, beyond the L2) run every variant on one table: each
    /// round builds one raw map, and each variant in turn wraps it, runs, and gives
    /// it back (moving the map's header, not its table). A cold op's time depends on
    /// where its table sits (which pages, huge or not, which cache sets), and with a
    /// table of its own per variant that placement alone moved ratios: by up to 0.4x
    /// for maps built all at once, and by 0.98x to 1.07x between two builds of the
    /// same code (raw against compiled out) with a fresh map per run, as here until
    /// 2026-11-27. On one table the variants differ only in their code. Each round's
    /// new table samples another placement, for all variants alike.
    fn one_table_per_round(&self) -> bool {
        matches!(self.work, Work::Single(_, space) if space == COLD)
    }

    fn measure_on_one_table(&self, rounds: usize, ops: u64, keyset: &[u64]) -> Vec<Row> {
        let mut figures = vec![Vec::with_capacity(rounds); self.variants.len()];
        let mut reporters = vec![None; self.variants.len()];
        let n = self.variants.len();
        for round in 0..rounds {
            let mut table = Table::new(self.prefill(), self.family);
            for i in round_order(round, n) {
                let v = &self.variants[i];
                let subject = Subject::around(*v, table);
                // Warms the loop and the pages, as the shared warm-up round does
                // for the other cases.
                self.run(&subject, *v, ops / 10 + 1, keyset);
                let (figure, reporter) = self.run(&subject, *v, ops, keyset);
                figures[i].push(figure);
                reporters[i] = reporter;
                table = subject.into_table();
            }
        }
        self.rows(figures, reporters, rounds)
    }

    fn run_in_child(&self, v: Variant, ops: u64) -> (f64, Option<Reporter>) {
        let exe = std::env::current_exe().expect("own path");
        let out = std::process::Command::new(exe)
            .args([
                "--case",
                self.name,
                "--variant",
                v.name(),
                "--ops",
                &ops.to_string(),
            ])
            .output()
            .expect("re-run overhead");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} {} in a child process failed ({}): {}",
            self.name,
            v.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let figure = stdout
            .lines()
            .find_map(|l| l.strip_prefix("FIGURE ")?.trim().parse().ok())
            .unwrap_or(f64::NAN);
        let reporter = stdout
            .lines()
            .find_map(|l| serde_json::from_str(l.strip_prefix("REPORTER ")?).ok());
        (figure, reporter)
    }

    /// Runs every variant `rounds` times, interleaved, and returns the medians.
    pub fn measure(&self, rounds: usize, ops: Option<u64>) -> Vec<Row> {
        let ops = ops.unwrap_or(self.ops);
        if self.fresh_process() {
            let rounds = rounds.min(3);
            let mut figures = vec![Vec::new(); self.variants.len()];
            let mut reporters = vec![None; self.variants.len()];
            for _ in 0..rounds {
                for (i, v) in self.variants.iter().enumerate() {
                    let (figure, reporter) = self.run_in_child(*v, ops);
                    figures[i].push(figure);
                    reporters[i] = reporter;
                }
            }
            return self.rows(figures, reporters, rounds);
        }
        let keyset = self.keyset();
        if self.one_table_per_round() {
            return self.measure_on_one_table(rounds, ops, &keyset);
        }
        let subjects: Vec<Subject> = self
            .variants
            .iter()
            .map(|v| Subject::new(*v, self.prefill(), self.family))
            .collect();
        // The memory cases measure growth once per round in a fresh state.
        let rounds = if matches!(self.work, Work::StormRss) {
            1
        } else {
            rounds
        };
        let mut figures = vec![Vec::with_capacity(rounds); self.variants.len()];
        let mut reporters = vec![None; self.variants.len()];
        // A warm-up round, not recorded. Then the reports it caused are written
        // (the first finding's stack is symbolicated once, on the reporter thread,
        // which would otherwise compete with the measured threads for this 2-core
        // machine's cores during the first rounds).
        for (v, s) in self.variants.iter().zip(&subjects) {
            self.run(s, *v, ops / 10 + 1, &keyset);
        }
        mapguard::flush();
        for _ in 0..rounds {
            for (i, (v, s)) in self.variants.iter().zip(&subjects).enumerate() {
                let (figure, reporter) = self.run(s, *v, ops, &keyset);
                figures[i].push(figure);
                reporters[i] = reporter;
            }
        }
        self.rows(figures, reporters, rounds)
    }

    fn rows(
        &self,
        mut figures: Vec<Vec<f64>>,
        reporters: Vec<Option<Reporter>>,
        rounds: usize,
    ) -> Vec<Row> {
        let medians: Vec<f64> = figures.iter_mut().map(|f| median(f)).collect();
        let raw = medians[0];
        self.variants
            .iter()
            .zip(medians)
            .zip(reporters)
            .map(|((v, m), reporter)| Row {
                case: self.name,
                variant: v.name(),
                raw_ns_per_op: raw,
                ns_per_op: m,
                ratio: if raw > 0.0 { m / raw } else { f64::NAN },
                rounds,
                unit: self.unit,
                reporter,
            })
            .collect()
    }
}

/// The order in which round `round` of a one-table case runs its `n` variants.
/// Each round starts at the next variant, so none is always the first to touch a
/// new table; odd rounds run backwards, so no variant always runs right after the
/// same one (what the one before leaves in the caches and the branch predictors
/// would otherwise be one variant's alone).
fn round_order(round: usize, n: usize) -> impl Iterator<Item = usize> {
    let backwards = round % 2 == 1;
    (0..n).map(move |j| {
        let step = if backwards { n - j } else { j };
        (step + round) % n
    })
}

/// Resident bytes per map with one entry, over `n` maps, each kept in a vector of
/// its own type (an enum would pad raw maps to the guarded size).
fn map_bytes(v: Variant, n: u64) -> f64 {
    fn grow<M>(n: u64, make: impl Fn() -> M, touch: impl Fn(&M)) -> f64 {
        let before = rss_bytes();
        let maps: Vec<M> = (0..n).map(|_| make()).collect();
        maps.iter().for_each(touch);
        let grown = rss_bytes().saturating_sub(before) as f64 / n as f64;
        drop(maps);
        grown
    }
    let scope = if v == Variant::OnKey {
        Scope::Key
    } else {
        Scope::Map
    };
    match v {
        Variant::Raw => grow(n, dashmap::DashMap::<u64, u64>::new, |m| {
            m.insert(1, 1);
        }),
        _ => grow(
            n,
            || mapguard::DashMap::<u64, u64>::named("bench").with_scope(scope),
            |m| {
                m.insert(1, 1);
            },
        ),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a variant's run of a case computed: the loop's sum and the map's values'
    /// sum afterwards; and how many operations mapguard checked during the loop.
    fn outcome(case: &Case, v: Variant, ops: u64) -> ((u64, u64), u64) {
        let Work::Single(op, _) = case.work else {
            unreachable!("single-thread cases only")
        };
        let keyset = case.keyset();
        let subject = Subject::new(v, case.prefill(), case.family);
        switch(v);
        let before = mapguard::stats().operations;
        let acc = with_map!(&subject, m => work(m, op, &keyset, ops));
        let checked = mapguard::stats().operations - before;
        switch(Variant::Off);
        let sum = with_map!(&subject, m => m.sum());
        ((acc, sum), checked)
    }

    /// The switch is process-wide: one test at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn every_variant_of_a_case_does_the_same_work_as_raw() {
        const OPS: u64 = 3_000;
        let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        install();
        let hot = all()
            .into_iter()
            .filter(|c| matches!(c.work, Work::Single(_, HOT)))
            .collect::<Vec<_>>();
        assert!(
            hot.iter().any(|c| c.family == Family::Std),
            "std cases listed"
        );
        let prefilled: u64 = (0..HOT).sum();
        let findings_before = mapguard::stats().findings;
        for case in hot {
            let (raw, _) = outcome(case, Variant::Raw, OPS);
            // Every op either returns values (summed) or changes the map.
            assert!(
                raw.0 != 0 || raw.1 != prefilled,
                "{}: the loop did nothing: {raw:?}",
                case.name
            );
            for &v in &case.variants[1..] {
                let (done, checked) = outcome(case, v, OPS);
                assert_eq!(done, raw, "{} {}", case.name, v.name());
                // With the guard on, each op was checked (`iter` counts once per
                // iteration, `remove`+`insert` twice per op).
                if v != Variant::Off && v != Variant::CompiledOut {
                    assert!(
                        checked >= OPS,
                        "{} {}: {checked} checked",
                        case.name,
                        v.name()
                    );
                } else {
                    assert_eq!(checked, 0, "{} {}: checked while off", case.name, v.name());
                }
            }
        }
        // Nothing was found: the loops are single-threaded.
        assert_eq!(mapguard::stats().findings, findings_before);
    }

    /// Where `k`'s value lives in the subject's map.
    fn value_addr(subject: &Subject, k: u64) -> usize {
        let addr = |v: &u64| v as *const u64 as usize;
        let lock = "bench lock";
        match subject {
            Subject::Raw(m) => addr(m.get(&k).expect("key").value()),
            Subject::Guarded(m) => addr(m.get(&k).expect("key").value()),
            Subject::RawStd(m) => addr(m.read().expect(lock).get(&k).expect("key")),
            Subject::GuardedStd(m) => addr(m.read().expect(lock).get(&k).expect("key")),
        }
    }

    #[test]
    fn one_table_rounds_vary_who_goes_first_and_who_goes_before_whom() {
        for n in [2usize, 3, 6] {
            let rounds: Vec<Vec<usize>> = (0..2 * n).map(|r| round_order(r, n).collect()).collect();
            for order in &rounds {
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "{order:?}");
            }
            let firsts: std::collections::HashSet<usize> = rounds.iter().map(|r| r[0]).collect();
            assert_eq!(firsts.len(), n, "{rounds:?}");
            for v in 0..n {
                let before: std::collections::HashSet<Option<usize>> = rounds
                    .iter()
                    .map(|r| {
                        let at = r.iter().position(|&x| x == v).unwrap();
                        at.checked_sub(1).map(|p| r[p])
                    })
                    .filter(Option::is_some)
                    .collect();
                // With three variants or more, each follows two others in turn.
                let want = if n >= 3 { 2 } else { 1 };
                assert_eq!(before.len(), want, "variant {v} of {n}: {rounds:?}");
            }
        }
    }

    #[test]
    fn every_variant_of_a_cold_round_runs_on_the_same_table() {
        let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        install();
        let cold = all()
            .into_iter()
            .filter(|c| c.one_table_per_round())
            .collect::<Vec<_>>();
        assert!(
            cold.iter().any(|c| c.family == Family::Dash),
            "DashMap cases"
        );
        assert!(cold.iter().any(|c| c.family == Family::Std), "std cases");
        for family in [Family::Dash, Family::Std] {
            let mut table = Table::new(HOT, family);
            let mut first = None;
            // A round, then its first variant again, as the next round starts.
            for v in ALL_ON.iter().chain(&ALL_ON[..1]) {
                let subject = Subject::around(*v, table);
                let at = [0, HOT / 2, HOT - 1].map(|k| value_addr(&subject, k));
                assert_eq!(*first.get_or_insert(at), at, "{family:?} {}", v.name());
                with_map!(&subject, m => m.entry_add(7));
                table = subject.into_table();
            }
            // Each variant's write stayed in the one table.
            let subject = Subject::around(Variant::Raw, table);
            let runs = ALL_ON.len() as u64 + 1;
            let got = with_map!(&subject, m => Map::get(m, 7));
            assert_eq!(got, Some(7 + runs), "{family:?}");
        }
    }

    #[test]
    fn the_disjoint_mixed_cases_find_nothing_in_key_scope() {
        let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
        install();
        for name in [
            "t2_90_10_disjoint",
            "t4_50_50_disjoint",
            "std_t2_90_10_disjoint",
            "std_t4_90_10_disjoint",
        ] {
            let case = all().into_iter().find(|c| c.name == name).unwrap();
            let subject = Subject::new(Variant::OnKey, case.prefill(), case.family);
            let before = mapguard::stats();
            // Runs one after the other, each on new threads, as the rounds do: one
            // more than there are ranges, so that a range is taken again, and short,
            // so that without its reuse gate it would come back within the window
            // (this fails with MIXED_REUSE_AFTER at 0).
            let runs = MIXED_RANGES + 1;
            for _ in 0..runs {
                case.run(&subject, Variant::OnKey, 2_000, &[]);
            }
            let after = mapguard::stats();
            assert!(after.operations - before.operations >= runs * 2_000);
            assert_eq!(after.findings, before.findings, "{name}");
        }
    }
}
