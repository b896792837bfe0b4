//! Findings as data: [`Finding`], its [`Access`]es, [`FindingKind`] and [`Op`], all
//! `serde::Serialize` in the JSON shape the README documents.

use std::fmt;
use std::panic::Location;

use serde::Serialize;

use crate::config::Scope;

/// What was found. Serialised by its rule name (`concurrent_write`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Two writes to one map from different threads within the window.
    ConcurrentWrite,
    /// A read and a write from different threads within the window (mode `accesses`).
    ReadWrite,
    /// A thread read a key, another wrote it, then the first wrote it: a
    /// read-modify-write on a stale value.
    LostUpdate,
    /// A write from one thread while another holds a live iterator over the map.
    WriteDuringIteration,
    /// A thread holding a guard into a `DashMap` called a method that waits for it: a
    /// write under any guard, or a read under a write guard (`RefMut`, `Entry`,
    /// `iter_mut`). A read under a read guard cannot deadlock and is not reported.
    ReentrantAccess,
}

impl FindingKind {
    /// Every kind, in rule order.
    pub const ALL: [FindingKind; 5] = [
        FindingKind::ConcurrentWrite,
        FindingKind::ReadWrite,
        FindingKind::LostUpdate,
        FindingKind::WriteDuringIteration,
        FindingKind::ReentrantAccess,
    ];

    /// The rule name, as in JSON and `MAPGUARD_RULES`.
    pub const fn name(self) -> &'static str {
        match self {
            FindingKind::ConcurrentWrite => "concurrent_write",
            FindingKind::ReadWrite => "read_write",
            FindingKind::LostUpdate => "lost_update",
            FindingKind::WriteDuringIteration => "write_during_iteration",
            FindingKind::ReentrantAccess => "reentrant_access",
        }
    }

    /// The fix, in one line: the safe way to write the code that made this kind
    /// of finding. Carried by every [`Finding`] as its `hint`.
    pub const fn hint(self) -> &'static str {
        match self {
            FindingKind::ConcurrentWrite => {
                "one writer per map; if concurrent by design: with_scope(Scope::Key) \
                 and with_rules(Rules::ALL.without(FindingKind::ConcurrentWrite))"
            }
            FindingKind::ReadWrite => {
                "keep the map on one thread and send other threads a snapshot(); \
                 if other threads may read it, use with_mode(Mode::Writes)"
            }
            FindingKind::LostUpdate => {
                "read and write in one call: update(), compute() or entry() \
                 instead of a read followed by insert()"
            }
            FindingKind::WriteDuringIteration => {
                "iterate a snapshot() instead of the live map; to remove while walking, use retain()"
            }
            FindingKind::ReentrantAccess => {
                "drop the Ref/RefMut/Entry/iterator before calling the map again, \
                 or read with get_cloned() so no guard is held"
            }
        }
    }

    pub(crate) const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The map operation that made an access. Serialised by its method name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Op {
    Insert,
    Get,
    GetMut,
    TryGet,
    TryGetMut,
    ContainsKey,
    Remove,
    RemoveIf,
    Entry,
    Alter,
    AlterAll,
    Iter,
    IterMut,
    Retain,
    Len,
    IsEmpty,
    Clear,
    ShrinkToFit,
    View,
    Extend,
    Keys,
    Values,
    ValuesMut,
    Drain,
    Append,
    SplitOff,
    PopFirst,
    PopLast,
    Range,
    RangeMut,
    Reserve,
    GetCloned,
    GetOrDefault,
    Update,
    Compute,
    GetOrInsertWith,
    InsertIfAbsent,
    RemoveIfEq,
    Snapshot,
    TryEntry,
    GetKeyValue,
    FirstKeyValue,
    LastKeyValue,
    FirstEntry,
    LastEntry,
    Downgrade,
    ExtractIf,
}

/// How an op touches the map.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    /// Reads one key.
    Read,
    /// Writes (or may write, under a write lock) one key.
    Write,
    /// Writes many or all keys.
    WriteAll,
    /// Starts an iteration (a read of every key).
    Iterate,
    /// Starts a mutable iteration.
    IterateMut,
    /// Locks without reading or writing contents (len, shrink_to_fit).
    Lock,
}

impl Op {
    pub(crate) const ALL: [Op; 47] = [
        Op::Insert,
        Op::Get,
        Op::GetMut,
        Op::TryGet,
        Op::TryGetMut,
        Op::ContainsKey,
        Op::Remove,
        Op::RemoveIf,
        Op::Entry,
        Op::Alter,
        Op::AlterAll,
        Op::Iter,
        Op::IterMut,
        Op::Retain,
        Op::Len,
        Op::IsEmpty,
        Op::Clear,
        Op::ShrinkToFit,
        Op::View,
        Op::Extend,
        Op::Keys,
        Op::Values,
        Op::ValuesMut,
        Op::Drain,
        Op::Append,
        Op::SplitOff,
        Op::PopFirst,
        Op::PopLast,
        Op::Range,
        Op::RangeMut,
        Op::Reserve,
        Op::GetCloned,
        Op::GetOrDefault,
        Op::Update,
        Op::Compute,
        Op::GetOrInsertWith,
        Op::InsertIfAbsent,
        Op::RemoveIfEq,
        Op::Snapshot,
        Op::TryEntry,
        Op::GetKeyValue,
        Op::FirstKeyValue,
        Op::LastKeyValue,
        Op::FirstEntry,
        Op::LastEntry,
        Op::Downgrade,
        Op::ExtractIf,
    ];

    pub(crate) fn from_bits(bits: u64) -> Op {
        Op::ALL[(bits as usize) % Op::ALL.len()]
    }

    pub(crate) const fn bits(self) -> u64 {
        self as u64
    }

    pub(crate) const fn class(self) -> Class {
        use Op::*;
        match self {
            Get | TryGet | ContainsKey | View | GetCloned | GetOrDefault | GetKeyValue
            | FirstKeyValue | LastKeyValue | Downgrade => Class::Read,
            Insert | GetMut | TryGetMut | Remove | RemoveIf | Entry | Alter | Update | Compute
            | GetOrInsertWith | InsertIfAbsent | RemoveIfEq | TryEntry | FirstEntry | LastEntry => {
                Class::Write
            }
            AlterAll | Retain | Clear | Extend | Drain | Append | SplitOff | PopFirst | PopLast
            | ExtractIf => Class::WriteAll,
            Iter | Keys | Values | Range | Snapshot => Class::Iterate,
            IterMut | ValuesMut | RangeMut => Class::IterateMut,
            Len | IsEmpty | ShrinkToFit | Reserve => Class::Lock,
        }
    }

    /// `try_*` methods never wait for a lock, so they cannot deadlock.
    pub(crate) const fn may_block(self) -> bool {
        !matches!(self, Op::TryGet | Op::TryGetMut | Op::TryEntry)
    }

    /// The method name.
    pub fn name(self) -> &'static str {
        use Op::*;
        match self {
            Insert => "insert",
            Get => "get",
            GetMut => "get_mut",
            TryGet => "try_get",
            TryGetMut => "try_get_mut",
            ContainsKey => "contains_key",
            Remove => "remove",
            RemoveIf => "remove_if",
            Entry => "entry",
            Alter => "alter",
            AlterAll => "alter_all",
            Iter => "iter",
            IterMut => "iter_mut",
            Retain => "retain",
            Len => "len",
            IsEmpty => "is_empty",
            Clear => "clear",
            ShrinkToFit => "shrink_to_fit",
            View => "view",
            Extend => "extend",
            Keys => "keys",
            Values => "values",
            ValuesMut => "values_mut",
            Drain => "drain",
            Append => "append",
            SplitOff => "split_off",
            PopFirst => "pop_first",
            PopLast => "pop_last",
            Range => "range",
            RangeMut => "range_mut",
            Reserve => "reserve",
            GetCloned => "get_cloned",
            GetOrDefault => "get_or_default",
            Update => "update",
            Compute => "compute",
            GetOrInsertWith => "get_or_insert_with",
            InsertIfAbsent => "insert_if_absent",
            RemoveIfEq => "remove_if_eq",
            Snapshot => "snapshot",
            TryEntry => "try_entry",
            GetKeyValue => "get_key_value",
            FirstKeyValue => "first_key_value",
            LastKeyValue => "last_key_value",
            FirstEntry => "first_entry",
            LastEntry => "last_entry",
            Downgrade => "downgrade",
            ExtractIf => "extract_if",
        }
    }

    /// Writes that set a value without looking at the current one: the stale write
    /// of a `lost_update`. Every other write sees the current value under the lock
    /// (`alter`, `entry`, `remove_if`, `update`, `compute`, `get_or_insert_with`,
    /// `insert_if_absent`, `remove_if_eq`, ...), so it is the fix for a lost update,
    /// not a cause. Spelled out for every op, so a new op must be decided here.
    pub(crate) const fn is_blind_write(self) -> bool {
        use Op::*;
        match self {
            Insert | Remove | GetMut | TryGetMut => true,
            Get | TryGet | ContainsKey | RemoveIf | Entry | Alter | AlterAll | Iter | IterMut
            | Retain | Len | IsEmpty | Clear | ShrinkToFit | View | Extend | Keys | Values
            | ValuesMut | Drain | Append | SplitOff | PopFirst | PopLast | Range | RangeMut
            | Reserve | GetCloned | GetOrDefault | Update | Compute | GetOrInsertWith
            | InsertIfAbsent | RemoveIfEq | Snapshot | TryEntry | GetKeyValue | FirstKeyValue
            | LastKeyValue | FirstEntry | LastEntry | Downgrade | ExtractIf => false,
        }
    }

    /// Ops that take a shard's write lock (one shard, or each in turn): the writes,
    /// and `shrink_to_fit`/`reserve`. They wait for a guard this thread holds,
    /// whatever its kind. The others take read locks, and dashmap's lock lets a
    /// reader in while other readers hold it, even with a writer waiting: they wait
    /// only for a write guard.
    pub(crate) fn locks_exclusive(self) -> bool {
        self.is_write() || matches!(self, Op::ShrinkToFit | Op::Reserve)
    }

    /// Writes that also hand the value they leave back to the caller
    /// (`get_or_insert_with`): after the write they count as a read of the key, so a
    /// later blind write based on the value, after another thread's write, is a
    /// `lost_update`.
    pub(crate) const fn reads_back(self) -> bool {
        matches!(self, Op::GetOrInsertWith)
    }

    /// Map-wide writes that may write any key: `clear`, `retain`, `alter_all`,
    /// `drain`, `iter_mut`, `values_mut`, `extract_if`. They are an intervening write for every
    /// key (`lost_update`) and, in key scope, a write of every key. The other
    /// map-wide writes (`extend`, `append`, `split_off`, `pop_first`, `pop_last`,
    /// `range_mut`) write keys of their own and are not.
    pub(crate) const fn writes_every_key(self) -> bool {
        matches!(
            self,
            Op::Clear
                | Op::Retain
                | Op::AlterAll
                | Op::Drain
                | Op::IterMut
                | Op::ValuesMut
                | Op::ExtractIf
        )
    }

    pub(crate) fn is_write(self) -> bool {
        matches!(
            self.class(),
            Class::Write | Class::WriteAll | Class::IterateMut
        )
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A call site in the user's source: where a map method was called.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Site {
    /// Source file, as the compiler saw it (relative to the crate's workspace).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl From<&Location<'_>> for Site {
    fn from(l: &Location<'_>) -> Self {
        Site {
            file: l.file().to_owned(),
            line: l.line(),
            column: l.column(),
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One resolved stack frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// The demangled function name, if the symbol could be resolved.
    pub function: Option<String>,
    /// Source file, if debug info has it.
    pub file: Option<String>,
    /// Source line, if debug info has it.
    pub line: Option<u32>,
    /// False for frames of mapguard, dashmap, backtrace and the standard library.
    pub in_app: bool,
}

/// One access that took part in a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Access {
    /// The accessor's numeric id (small, unique among live threads).
    pub thread_id: u64,
    /// The thread's name, if it had one.
    pub thread_name: Option<String>,
    /// The map operation.
    pub op: Op,
    /// Where the operation was called.
    pub site: Site,
    /// The `#[mapguard::guarded]` function the access was made in (module path and
    /// name; the innermost, when they nest), or `None`.
    pub function: Option<String>,
    /// When, on the wall clock, at the guard's clock resolution (1 ms). For a map on
    /// a [`crate::ManualClock`], the clock's creation time plus its advances.
    pub time_unix_ns: u64,
    /// The call stack, innermost first, when one was captured; `null` otherwise.
    pub backtrace: Option<Vec<Frame>>,
    /// True when backtrace `on_finding` asked for this access's stack and it was not
    /// captured: the finding was made in a burst, while 256 new findings were already
    /// waiting for the reporter ([`crate::Stats::stacks_skipped`]). `backtrace` is then
    /// `null`; the site is given as always.
    pub backtrace_skipped: bool,
}

/// A report: what was found, on which map, and the accesses that make it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule that fired.
    pub kind: FindingKind,
    /// The map's name (`named(...)` or its construction site `file:line`).
    pub map: String,
    /// The scope the map was checked in.
    pub scope: Scope,
    /// A 64-bit hash of the key involved (16 hex digits), never the key itself;
    /// `null` for map-wide operations. By default keyed per process, so not
    /// comparable across processes ([`crate::KeyHash`]).
    pub key_hash: Option<String>,
    /// True if the accesses hit the same key.
    pub same_key: bool,
    /// The window in force, in milliseconds.
    pub window_ms: u64,
    /// Time between the first and last access, in milliseconds.
    pub gap_ms: u64,
    /// The accesses, oldest first; the last one is the access that completed the finding.
    pub accesses: Vec<Access>,
    /// Stable across runs for the same kind, map and call sites (16 hex digits); an
    /// access made inside a `#[guarded]` function counts by the function's name
    /// instead of its line.
    pub fingerprint: String,
    /// How many times this finding has been seen so far, this report included.
    pub occurrences: u64,
    /// The fix, in one line: the safe call or setting to use instead
    /// ([`FindingKind::hint`] of `kind`). In JSON as `hint`, on stderr as a
    /// `hint:` line; meant to travel with the finding to any sink (an OTel
    /// exporter sends it as an attribute).
    pub hint: String,
}

impl Finding {
    /// One line: `kind on map "name": op at site (thread) <- op at site (thread)`.
    pub fn summary(&self) -> String {
        let mut s = format!("{} on map \"{}\"", self.kind, self.map);
        for (i, a) in self.accesses.iter().rev().enumerate() {
            s.push_str(if i == 0 { ": " } else { " after " });
            s.push_str(&format!(
                "{} at {} (thread {}{})",
                a.op,
                a.site,
                a.thread_id,
                a.thread_name
                    .as_deref()
                    .map(|n| format!(" \"{n}\""))
                    .unwrap_or_default()
            ));
        }
        s
    }
}

/// FNV-1a, 64 bit. Written out because the fingerprint must stay the same across
/// runs, Rust versions and crate versions, which std's and most crates' hashers do
/// not promise.
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The stable fingerprint: kind, map name and the sorted call sites.
pub(crate) fn fingerprint(kind: FindingKind, map: &str, places: &[String]) -> String {
    let mut sites: Vec<String> = places.to_vec();
    sites.sort();
    sites.dedup();
    let mut parts: Vec<&[u8]> = vec![kind.name().as_bytes(), map.as_bytes()];
    parts.extend(sites.iter().map(|s| s.as_bytes()));
    format!("{:016x}", fnv1a(&parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(line: u32) -> String {
        Site {
            file: "src/main.rs".into(),
            line,
            column: 5,
        }
        .to_string()
    }

    #[test]
    fn fingerprint_is_stable_and_order_free() {
        let a = fingerprint(FindingKind::ConcurrentWrite, "orders", &[site(1), site(2)]);
        let b = fingerprint(FindingKind::ConcurrentWrite, "orders", &[site(2), site(1)]);
        assert_eq!(a, b);
        // Pinned (and checked against an independent FNV-1a implementation): the
        // value must never change between releases, or dashboards lose history.
        assert_eq!(a, "4a4b18b3c263109a");
        assert_ne!(
            a,
            fingerprint(FindingKind::LostUpdate, "orders", &[site(1), site(2)])
        );
        assert_ne!(
            a,
            fingerprint(FindingKind::ConcurrentWrite, "stock", &[site(1), site(2)])
        );
        assert_ne!(
            a,
            fingerprint(FindingKind::ConcurrentWrite, "orders", &[site(1), site(3)])
        );
    }

    #[test]
    fn kinds_and_ops_round_trip() {
        for k in FindingKind::ALL {
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
        for op in Op::ALL {
            assert_eq!(Op::from_bits(op.bits()), op);
            assert_eq!(
                serde_json::to_string(&op).unwrap(),
                format!("\"{}\"", op.name())
            );
        }
        assert!(
            Op::ALL.len() <= 64,
            "ops must fit the 6-bit field of a stamp"
        );
    }

    #[test]
    fn every_kind_has_a_short_hint_naming_the_safe_call() {
        let names = |k: FindingKind| -> &'static [&'static str] {
            match k {
                FindingKind::ConcurrentWrite => &["one writer", "Scope::Key"],
                FindingKind::ReadWrite => &["one thread", "snapshot()", "Mode::Writes"],
                FindingKind::LostUpdate => &["update()", "compute()", "entry()"],
                FindingKind::WriteDuringIteration => &["snapshot()"],
                FindingKind::ReentrantAccess => &["drop the Ref", "get_cloned()"],
            }
        };
        for k in FindingKind::ALL {
            let hint = k.hint();
            assert!(hint.len() <= 140, "{k}: {} chars: {hint}", hint.len());
            assert!(
                !hint.contains("  ") && !hint.contains('\n'),
                "{k}: {hint:?}"
            );
            for name in names(k) {
                assert!(hint.contains(name), "{k}: {hint} should name {name}");
            }
        }
    }

    #[test]
    fn only_plain_writes_are_blind() {
        use Op::*;
        let blind: Vec<Op> = Op::ALL
            .into_iter()
            .filter(|op| op.is_blind_write())
            .collect();
        assert_eq!(blind, [Insert, GetMut, TryGetMut, Remove]);
        // The atomic operations write, may wait for a lock, and are never blind.
        for op in [Update, Compute, GetOrInsertWith, InsertIfAbsent, RemoveIfEq] {
            assert_eq!(op.class(), Class::Write, "{op}");
            assert!(op.may_block() && !op.is_blind_write(), "{op}");
        }
        for op in [GetCloned, GetOrDefault] {
            assert_eq!(op.class(), Class::Read, "{op}");
        }
        assert_eq!(Snapshot.class(), Class::Iterate);
        assert!(!Snapshot.is_write());
        let reads_back: Vec<Op> = Op::ALL.into_iter().filter(|op| op.reads_back()).collect();
        assert_eq!(reads_back, [GetOrInsertWith]);
    }
}
