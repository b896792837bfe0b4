//! Attribution to functions: the `#[mapguard::guarded]` function running on a thread
//! (or being polled, for an `async fn`) is kept in the thread-local, and every access
//! made meanwhile records it; findings then carry its name (`code.function.name`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering::Acquire, Ordering::Release};
use std::task::{Context, Poll};

/// A function marked `#[mapguard::guarded]`: its module path and name. The macro
/// puts one in a `static` per function, so an access records a thin pointer; a
/// read remembered for `lost_update` keeps a 16-bit number instead, given the
/// first time the function is entered with the guard on (lock-free; functions
/// past the 65535th are left out of such reads, and of the guards they describe).
#[derive(Debug)]
pub struct Function {
    name: &'static str,
    /// Its number in [`NUMBERED`] plus one; 0 until first entered with the guard
    /// on, [`NO_NUMBER`] once the numbers ran out.
    number: AtomicU32,
}

/// The functions numbered so far, in the order they were first entered with the
/// guard on: the slow path turns a remembered read's number back into its
/// function without a lock.
static NUMBERED: boxcar::Vec<&'static Function> = boxcar::Vec::new();
/// Numbers fit in [`FUNCTION_BITS`] bits, 0 meaning none.
const NO_NUMBER: u32 = u32::MAX;
/// How many bits a remembered read keeps of its function's number: 65535
/// functions; a read in a function past those is remembered without one.
pub(crate) const FUNCTION_BITS: u32 = 16;
/// Where the number sits in the word [`Function::bits`] gives: the top bits.
pub(crate) const FUNCTION_SHIFT: u32 = 64 - FUNCTION_BITS;

impl Function {
    /// A function named `name` (`module::path::function`).
    pub const fn new(name: &'static str) -> Self {
        Function {
            name,
            number: AtomicU32::new(0),
        }
    }

    /// The module path and name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// This function's number shifted to the top [`FUNCTION_BITS`] bits of a word,
    /// where a remembered read keeps it; 0 (no function) once 65535 functions have
    /// numbers. The first call per function adds it to a table (it may allocate;
    /// no lock); later ones are one load.
    #[inline]
    pub(crate) fn bits(&'static self) -> u64 {
        match self.number.load(Acquire) {
            0 => self.number_first(),
            NO_NUMBER => 0,
            n => u64::from(n) << FUNCTION_SHIFT,
        }
    }

    /// Numbers this function, without a lock (a process forked while another
    /// thread numbered one must not find a lock held): the function goes into the
    /// table, and the first of racing callers to store its index wins; a loser's
    /// entry stays unused.
    #[cold]
    #[inline(never)]
    fn number_first(&'static self) -> u64 {
        const LAST: usize = (1 << FUNCTION_BITS) - 1;
        let n = if NUMBERED.count() < LAST {
            match NUMBERED.push(self) + 1 {
                n @ 1..=LAST => n as u32,
                _ => NO_NUMBER,
            }
        } else {
            NO_NUMBER
        };
        let _ = self.number.compare_exchange(0, n, Release, Acquire);
        self.bits()
    }

    /// The function whose [`Function::bits`] are the top bits of `word` (the other
    /// bits are ignored); `None` for 0. Lock-free: a few loads.
    pub(crate) fn from_bits(word: u64) -> Option<&'static Function> {
        match word >> FUNCTION_SHIFT {
            0 => None,
            n => NUMBERED.get(n as usize - 1).copied(),
        }
    }
}

/// While it lives, accesses made on this thread are attributed to a function; on
/// drop the previous one (the caller's, or none) is current again.
///
/// Costs one relaxed load and a branch when the guard is off (the thread-local is not
/// touched) and nothing at all with feature `compile-out` (the macro then emits the
/// plain function and never creates one).
#[derive(Debug)]
#[must_use = "the function is current only while the scope lives"]
pub struct FunctionScope {
    entered: bool,
    previous: Option<&'static Function>,
}

impl FunctionScope {
    /// Makes `function` current on this thread until the scope drops.
    #[inline(always)]
    pub fn enter(function: &'static Function) -> FunctionScope {
        if cfg!(feature = "compile-out") || crate::config::word() & crate::config::ENABLED == 0 {
            return FunctionScope {
                entered: false,
                previous: None,
            };
        }
        Self::enter_on(function)
    }

    #[inline(never)]
    fn enter_on(function: &'static Function) -> FunctionScope {
        // Before the environment is read the word says "on" (it is read here, once,
        // as by the first guarded operation): enter only if it switched the guard on.
        if crate::config::settings() & crate::config::ENABLED == 0 {
            return FunctionScope {
                entered: false,
                previous: None,
            };
        }
        let bits = function.bits();
        match crate::thread::with_local(|l| l.replace_function(Some((function, bits)))) {
            Some(previous) => FunctionScope {
                entered: true,
                previous,
            },
            None => FunctionScope {
                entered: false,
                previous: None,
            },
        }
    }
}

impl Drop for FunctionScope {
    #[inline]
    fn drop(&mut self) {
        if self.entered {
            // Numbered when it was entered.
            let previous = self.previous.map(|f| (f, f.bits()));
            let _ = crate::thread::with_local(|l| l.replace_function(previous));
        }
    }
}

/// The `#[mapguard::guarded]` function current on this thread (module path and
/// name), if any: the one accesses made now are attributed to. `None` unless a
/// `#[guarded]` function entered while the guard was on is running (one switched
/// off meanwhile still counts until it returns); always `None` with feature
/// `compile-out`. One thread-local read; never blocks.
pub fn current_function() -> Option<&'static str> {
    crate::thread::with_local(|l| l.function().map(Function::name)).flatten()
}

/// A future whose every `poll` runs with `function` current: the attribution of an
/// `async fn` follows its future from thread to thread, not the thread it started on.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Attributed<'a, F> {
    function: &'static Function,
    future: Pin<&'a mut F>,
}

/// Wraps a pinned future so that each poll enters `function` (what the macro emits
/// for an `async fn`; the future is pinned on the caller's stack, nothing allocates).
pub fn attribute<'a, F: Future>(
    function: &'static Function,
    future: Pin<&'a mut F>,
) -> Attributed<'a, F> {
    Attributed { function, future }
}

impl<F: Future> Future for Attributed<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _scope = FunctionScope::enter(self.function);
        self.future.as_mut().poll(cx)
    }
}

#[cfg(all(test, not(feature = "compile-out")))]
mod tests {
    use super::*;

    static OUTER: Function = Function::new("app::outer");
    static INNER: Function = Function::new("app::inner");

    #[test]
    fn each_function_gets_its_own_number_once() {
        static A: Function = Function::new("app::a");
        static B: Function = Function::new("app::b");
        let (a, b) = (A.bits(), B.bits());
        assert!(a != 0 && b != 0 && a != b);
        assert_eq!((A.bits(), B.bits()), (a, b), "numbered once");
        assert_eq!(a & ((1 << FUNCTION_SHIFT) - 1), 0, "in the top bits only");
        // Any other bits of the word are ignored.
        assert_eq!(
            Function::from_bits(a | 12345).map(Function::name),
            Some("app::a")
        );
        assert_eq!(Function::from_bits(b).map(Function::name), Some("app::b"));
        assert!(Function::from_bits(12345).is_none());
        // Racing first calls agree on one number.
        static C: Function = Function::new("app::c");
        let got: Vec<u64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4).map(|_| s.spawn(|| C.bits())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(got.iter().all(|&g| g == C.bits() && g != 0), "{got:?}");
        assert_eq!(
            Function::from_bits(C.bits()).map(Function::name),
            Some("app::c")
        );
    }

    #[test]
    fn scopes_nest_and_restore() {
        crate::set_enabled(true);
        assert_eq!(current_function(), None);
        {
            let _a = FunctionScope::enter(&OUTER);
            assert_eq!(current_function(), Some("app::outer"));
            {
                let _b = FunctionScope::enter(&INNER);
                assert_eq!(current_function(), Some("app::inner"));
            }
            assert_eq!(current_function(), Some("app::outer"));
        }
        assert_eq!(current_function(), None);
    }
}
