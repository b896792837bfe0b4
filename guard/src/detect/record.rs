//! One remembered access, in atomics: who (accessor), what (op), when (ms), which key,
//! where (call site), and on request its stack.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{
    AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release, fence,
};

use arc_swap::ArcSwapOption;
use crossbeam_utils::atomic::AtomicCell;

use crate::finding::Op;
use crate::function::Function;
use crate::thread::{Accessor, ID_BITS};

pub(crate) type SiteRef = &'static Location<'static>;

/// The `#[guarded]` function an access was made in, if any: a thin pointer, so a
/// record can hold it in one lock-free atomic.
pub(crate) type FunctionRef = &'static Function;

const TIME_BITS: u32 = 37;
const OP_BITS: u32 = 6;
const SEQ_BITS: u32 = 5;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;
const OP_MASK: u64 = (1 << OP_BITS) - 1;
/// Where the write number sits: above the op, so that its mask and its step are
/// 32-bit constants.
pub(crate) const SEQ_SHIFT: u32 = OP_BITS;
const SEQ_MASK: u64 = ((1 << SEQ_BITS) - 1) << SEQ_SHIFT;
/// Where the time sits: above the write number, as the ticked clock keeps its
/// reading.
const TIME_SHIFT: u32 = OP_BITS + SEQ_BITS;
const WHO_SHIFT: u32 = SEQ_BITS + OP_BITS + TIME_BITS;
/// [`Stamp::fingerprint`]'s bits: the accessor and the write number.
const FINGERPRINT_MASK: u64 = !((1 << WHO_SHIFT) - 1) | SEQ_MASK;

/// accessor (16 bits) | time in ms (37 bits, 4.3 years of uptime) | write number
/// (5 bits) | op (6 bits). The write number counts the writes to the stamp's record
/// (each is the number of the stamp it replaces, plus one), so that two writes by
/// one thread from one call site within one millisecond still differ (a read's
/// snapshot must tell that someone wrote in between). Never 0 for
/// a real access, because clock readings start at 1. The op and the write number
/// are lowest so that they are or'ed in with 8- and 32-bit constants, and the time
/// sits where [`crate::clock`] keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp(pub(crate) u64);

const _: () = assert!(crate::finding::Op::ALL.len() <= 1 << OP_BITS);
const _: () = assert!(TIME_SHIFT == crate::clock::MS_SHIFT);
const _: () = assert!(SEQ_MASK <= u32::MAX as u64);

impl Stamp {
    pub(crate) fn new(who: Accessor, op: Op, ms: u64) -> Self {
        // Clocks stop at MAX_MS (== TIME_MASK), so `ms` needs no mask.
        debug_assert!(ms <= TIME_MASK);
        Stamp::at(Stamp::who_bits(who), op, ms << TIME_SHIFT)
    }
    /// [`Stamp::new`] from the accessor's bits as they sit in a stamp
    /// ([`Stamp::who_bits`], or 0 for a stamp kept without them) and the time as
    /// [`crate::clock::ticked_ms_shifted`] gives it, already where a stamp keeps it:
    /// two `or`s, one of them with an 8-bit constant.
    #[inline(always)]
    pub(crate) fn at(who_bits: u64, op: Op, ms_shifted: u64) -> Self {
        debug_assert!(
            ms_shifted & !(TIME_MASK << TIME_SHIFT) == 0 && who_bits & ((1 << WHO_SHIFT) - 1) == 0,
            "{ms_shifted:#x} {who_bits:#x}"
        );
        Stamp(who_bits | ms_shifted | (op.bits() & OP_MASK))
    }
    /// `who`'s bits as they sit in a stamp: the top [`ID_BITS`].
    pub(crate) fn who_bits(who: Accessor) -> u64 {
        who.bits() << WHO_SHIFT
    }

    /// The write number of the write that follows this stamp's in its record,
    /// shifted as [`Stamp::with_seq`] takes it (which keeps it modulo 32).
    #[inline(always)]
    pub(crate) fn next_seq(self) -> u64 {
        self.0.wrapping_add(1 << SEQ_SHIFT)
    }

    /// This stamp, fresh from [`Stamp::new`] (write number 0), with the write
    /// number `seq_shifted` as [`Stamp::next_seq`] gives it (shifted left by
    /// [`SEQ_SHIFT`]; taken modulo 32). An `and` with a 32-bit constant and
    /// an `or`: the compiler cannot tell that a fresh stamp's write number is 0, and
    /// clearing it cost two instructions per write on the fast path.
    #[inline(always)]
    pub(crate) fn with_seq(self, seq_shifted: u64) -> Self {
        debug_assert_eq!(self.0 & SEQ_MASK, 0, "{:#x}", self.0);
        Stamp(self.0 | (seq_shifted & SEQ_MASK))
    }
    /// This stamp with `op` in place of its op.
    pub(crate) fn with_op(self, op: Op) -> Self {
        Stamp((self.0 & !OP_MASK) | (op.bits() & OP_MASK))
    }
    /// The access without its write number: thread, op and millisecond.
    pub(crate) fn without_seq(self) -> Self {
        Stamp(self.0 & !SEQ_MASK)
    }
    /// The accessor and the write number: what a remembered read keeps of the
    /// stamp its key's record held (see `Read::written_since`).
    pub(crate) fn fingerprint(self) -> u64 {
        self.0 & FINGERPRINT_MASK
    }
    /// The op and millisecond alone: as this thread's reads are remembered, with
    /// room for a [`Stamp::fingerprint`].
    pub(crate) fn without_fingerprint(self) -> Self {
        Stamp(self.0 & !FINGERPRINT_MASK)
    }
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub(crate) fn who(self) -> Accessor {
        Accessor::from_bits(self.0 >> WHO_SHIFT)
    }
    pub(crate) fn op(self) -> Op {
        Op::from_bits(self.0 & OP_MASK)
    }
    pub(crate) fn ms(self) -> u64 {
        (self.0 >> TIME_SHIFT) & TIME_MASK
    }
}

const _: () = assert!(ID_BITS + SEQ_BITS + OP_BITS + TIME_BITS == 64);
const _: () = assert!(TIME_MASK == crate::clock::MAX_MS);

/// An unresolved stack taken at one access (identified by its stamp).
#[derive(Debug)]
pub(crate) struct Stack {
    pub(crate) stamp: Stamp,
    pub(crate) trace: backtrace::Backtrace,
}

/// What a [`Record`] held at one moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    pub(crate) stamp: Stamp,
    pub(crate) key: u64,
    pub(crate) site: Option<SiteRef>,
    pub(crate) function: Option<FunctionRef>,
}

/// True if `a` and `b` are both `None` or point at the same value: one compare of
/// two addresses (a `match` on both options compiles to several branches).
#[inline(always)]
pub(crate) fn same_ref<T>(a: Option<&T>, b: Option<&T>) -> bool {
    fn addr<T>(o: Option<&T>) -> usize {
        o.map_or(0, |r| r as *const T as usize)
    }
    addr(a) == addr(b)
}

/// One remembered access: 40 bytes.
#[derive(Default)]
pub(crate) struct Record {
    stamp: AtomicU64,
    key: AtomicU64,
    site: AtomicCell<Option<SiteRef>>,
    function: AtomicCell<Option<FunctionRef>>,
    stack: ArcSwapOption<Stack>,
}

impl Record {
    /// Reads the record. Writers publish the stamp last, so a reader that sees the
    /// same stamp before and after reading the rest has a consistent view; under a
    /// concurrent writer it retries once and then takes what it has (best effort: a
    /// writer that has stored its key and not yet its stamp goes unseen).
    #[inline]
    pub(crate) fn load(&self) -> Seen {
        let mut stamp = self.stamp.load(Acquire);
        for _ in 0..2 {
            let key = self.key.load(Relaxed);
            let site = self.site.load();
            let function = self.function.load();
            // Keeps the loads above before the stamp's second load (an acquire load
            // would only keep later ones after it). No instruction on x86.
            fence(Acquire);
            let again = self.stamp.load(Relaxed);
            if again == stamp {
                return Seen {
                    stamp: Stamp(stamp),
                    key,
                    site,
                    function,
                };
            }
            stamp = again;
        }
        Seen {
            stamp: Stamp(stamp),
            key: self.key.load(Relaxed),
            site: self.site.load(),
            function: self.function.load(),
        }
    }

    #[inline]
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp(self.stamp.load(Relaxed))
    }

    /// Whether the record still holds the write stamped `stamp` and that write was
    /// of one key other than `key` (not map-wide, key 0): in key scope, another key
    /// whose slot `key` shares, which no rule compares with a write of `key`. Reads
    /// the key between two loads of the stamp, as [`Record::load`] does, and is as
    /// good. Called only when `stamp` is another thread's, from the fast path,
    /// inlined: through `load`, which the compiler calls out of line, every write of
    /// a `DashMap` ran 8 instructions more (the call's saved registers), in either
    /// scope. Three loads.
    #[inline(always)]
    pub(crate) fn holds_other_key(&self, stamp: Stamp, key: u64) -> bool {
        if self.stamp.load(Acquire) != stamp.0 {
            return false;
        }
        let held = self.key.load(Relaxed);
        fence(Acquire);
        held != 0 && held != key && self.stamp.load(Relaxed) == stamp.0
    }

    /// The stamp, as a read remembers it: acquired, so that a clock read after it
    /// reads no earlier millisecond than the stamp's writer read (the clocks only
    /// go forward). A plain load on x86.
    #[inline(always)]
    pub(crate) fn snapshot(&self) -> Stamp {
        Stamp(self.stamp.load(Acquire))
    }

    /// Stores an access, writing the site and function only if they change: a
    /// record that already says "this accessor, this millisecond, this key, this
    /// site, this function" is left alone, so its cache line is not taken from other
    /// cores.
    #[inline]
    pub(crate) fn store(
        &self,
        seen: &Seen,
        stamp: Stamp,
        key: u64,
        site: SiteRef,
        function: Option<FunctionRef>,
    ) {
        let same_site = same_ref(seen.site, Some(site));
        let same_function = same_ref(seen.function, function);
        if seen.stamp == stamp && seen.key == key && same_site && same_function {
            return;
        }
        self.write(stamp, key, (site, same_site), (function, same_function));
    }

    /// [`Record::store`] for a write of the fast path, whose stamp carries a fresh
    /// write number and so nearly always differs from the one it replaces: no test
    /// for an unchanged access (where the 5-bit number wrapped within a millisecond,
    /// the stores write what is there), and the site and function compared where
    /// they lie (3 instructions fewer per `insert` than through `store`).
    #[inline(always)]
    pub(crate) fn store_over(
        &self,
        stamp: Stamp,
        key: u64,
        site: SiteRef,
        function: Option<FunctionRef>,
    ) {
        let same_site = same_ref(self.site.load(), Some(site));
        let same_function = same_ref(self.function.load(), function);
        self.write(stamp, key, (site, same_site), (function, same_function));
    }

    /// The stores of [`Record::store`]: the site and the function only where not
    /// `same`, the stamp last.
    #[inline(always)]
    fn write(
        &self,
        stamp: Stamp,
        key: u64,
        (site, same_site): (SiteRef, bool),
        (function, same_function): (Option<FunctionRef>, bool),
    ) {
        // The fast path tells an empty record by its stamp's thread.
        debug_assert_ne!(stamp.who(), Accessor::NONE, "{stamp:?}");
        // Unconditional: in key scope, whether a slot last saw this key is data
        // dependent, and a mispredicted compare cost more than the store (key-scope
        // `insert` 1.52x -> 1.27x). The stamp's line is written anyway.
        self.key.store(key, Relaxed);
        if !same_site {
            self.site.store(Some(site));
        }
        if !same_function {
            self.function.store(function);
        }
        self.stamp.store(stamp.0, Release);
    }

    pub(crate) fn set_stack(&self, stack: Option<Arc<Stack>>) {
        self.stack.store(stack);
    }

    /// The stack stored with the access stamped `stamp` (thread, op and millisecond:
    /// stacks are taken once per millisecond), if any.
    pub(crate) fn stack_for(&self, stamp: Stamp) -> Option<Arc<Stack>> {
        self.stack
            .load_full()
            .filter(|s| s.stamp.without_seq() == stamp.without_seq())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_packs_and_unpacks() {
        let who = Accessor::from_bits(77);
        let s = Stamp::new(who, Op::Retain, 123_456);
        assert_eq!(s.who(), who);
        assert_eq!(s.op(), Op::Retain);
        assert_eq!(s.ms(), 123_456);
        assert!(!s.is_empty());
        let w = s.with_seq(33 << SEQ_SHIFT);
        assert_ne!(w, s);
        assert_eq!((w.who(), w.op(), w.ms()), (who, Op::Retain, 123_456));
        assert_eq!(w.without_seq(), s);
        assert_eq!(w, s.with_seq(1 << SEQ_SHIFT), "write numbers wrap at 32");
        // The last ms a clock reads keeps the other fields intact.
        let last = Stamp::new(who, Op::Insert, crate::clock::MAX_MS).with_seq(31 << SEQ_SHIFT);
        assert_eq!(
            (last.who(), last.op(), last.ms()),
            (who, Op::Insert, crate::clock::MAX_MS)
        );
    }

    /// The fast path builds stamps from the ticked clock's reading as it is kept
    /// (shifted): every field must come back out whole, for every op and up to the
    /// largest time, beside the widest accessor and write number: no field may
    /// reach into another.
    #[test]
    fn a_stamp_from_the_shifted_clock_is_the_stamp_from_ms() {
        let who = Accessor::from_bits(0xffff);
        for op in Op::ALL {
            for ms in [1, 2, 0x1234_5678, crate::clock::MAX_MS] {
                let shifted = ms << crate::clock::MS_SHIFT;
                let s = Stamp::at(Stamp::who_bits(who), op, shifted);
                assert_eq!((s.who(), s.op(), s.ms()), (who, op, ms), "{op:?} {ms}");
                let w = s.with_seq(!0);
                assert_eq!((w.who(), w.op(), w.ms()), (who, op, ms), "{op:?} {ms}");
                assert_eq!(w.without_seq(), s, "{op:?} {ms}");
                assert_eq!(Stamp::at(0, op, shifted).ms(), ms);
                assert_eq!(s.with_op(Op::Get).ms(), ms);
            }
        }
    }

    #[test]
    fn store_skips_unchanged_and_load_is_consistent() {
        let r = Record::default();
        let site = Location::caller();
        let s1 = Stamp::new(Accessor::from_bits(1), Op::Insert, 10);
        r.store(&r.load(), s1, 5, site, None);
        let seen = r.load();
        assert_eq!(seen.stamp, s1);
        assert_eq!(seen.key, 5);
        assert!(std::ptr::eq(seen.site.unwrap(), site));
        let s2 = Stamp::new(Accessor::from_bits(2), Op::Remove, 11);
        static F: Function = Function::new("app::place_order");
        r.store(&seen, s2, 6, site, Some(&F));
        let seen = r.load();
        assert_eq!((seen.stamp, seen.key), (s2, 6));
        assert_eq!(seen.function.map(Function::name), Some("app::place_order"));
        assert_eq!(std::mem::size_of::<Record>(), 40);
    }

    #[test]
    fn holds_other_key_only_for_the_same_write_of_another_key() {
        let r = Record::default();
        let site = Location::caller();
        let s1 = Stamp::new(Accessor::from_bits(1), Op::Insert, 10);
        r.store(&r.load(), s1, 5, site, None);
        assert!(r.holds_other_key(s1, 6), "another key");
        assert!(!r.holds_other_key(s1, 5), "the same key");
        // A later write replaced the one the caller judged: not that write's key.
        let s2 = Stamp::new(Accessor::from_bits(2), Op::Insert, 10).with_seq(1 << SEQ_SHIFT);
        r.store(&r.load(), s2, 7, site, None);
        assert!(!r.holds_other_key(s1, 6), "a stale stamp");
        assert!(r.holds_other_key(s2, 6));
        // A map-wide write (key 0) is every key's.
        let s3 = Stamp::new(Accessor::from_bits(2), Op::Clear, 11);
        r.store(&r.load(), s3, 0, site, None);
        assert!(!r.holds_other_key(s3, 6), "a map-wide write");
    }
}
