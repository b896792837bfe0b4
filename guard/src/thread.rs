//! Who is accessing: [`Accessor`], the identity of the current thread, cached in a
//! thread-local, and the registry that remembers thread names for reports.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Accessor ids fit in this many bits of a packed access stamp.
pub(crate) const ID_BITS: u32 = 16;
const ID_MASK: u64 = (1 << ID_BITS) - 1;
/// An accessor id never handed out (ids run from 1 to `ID_MASK - 1`): no thread's
/// own, so a guard owned by it always takes the cold path at its drop.
pub(crate) const NO_THREAD: u64 = ID_MASK;

/// An exited thread's id is handed out again only after this long (sooner only once
/// 65534 ids were handed out within it): longer than the widest window (an hour), so
/// that no finding pairs an access of the old thread with the name of a new one that
/// got its id. Its name is kept as long, for reports.
const ID_REUSE_AFTER: Duration = Duration::from_secs(3600 + 60);

/// The identity of whoever makes an access: today the OS thread.
///
/// It is a small number, unique among live threads, assigned on a thread's first
/// guarded access and cached in a thread-local (about 2 ns to read). It is kept
/// behind this one type so that a task (rather than a thread) can become the
/// accessor without touching the detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Accessor(u32);

impl Accessor {
    /// No accessor: id 0, never handed out. An empty access stamp's.
    pub(crate) const NONE: Accessor = Accessor(0);

    pub(crate) const fn from_bits(bits: u64) -> Self {
        Accessor((bits & ID_MASK) as u32)
    }
    pub(crate) fn bits(self) -> u64 {
        self.0 as u64
    }
}

/// Per-thread counters that other threads may read (for [`crate::stats`]). Leaked
/// once per thread alive at a time: an exiting thread hands its counters back to the
/// registry, and the next thread to register takes them.
#[derive(Debug, Default)]
pub(crate) struct ThreadCounters {
    pub(crate) operations: AtomicU64,
    /// Guards this thread took that other threads dropped, not yet forgotten here.
    pub(crate) orphans: AtomicU64,
}

/// Runs `f` under the registry lock with a lookup of the counters of live threads:
/// a thread that is not registered has none.
#[cfg_attr(feature = "compile-out", allow(dead_code))]
pub(crate) fn with_counters<R>(
    f: impl FnOnce(&dyn Fn(Accessor) -> Option<&'static ThreadCounters>) -> R,
) -> R {
    let reg = lock_registry();
    let live = |a: Accessor| {
        reg.counters
            .iter()
            .find(|(id, _)| *id == a.0)
            .map(|(_, c)| *c)
    };
    f(&live)
}

struct Registry {
    names: HashMap<u32, Option<Arc<str>>>,
    /// Exited threads' ids, oldest first, with when they exited.
    exited: VecDeque<(u32, Instant)>,
    /// Their names, for reports made after they exited.
    exited_names: HashMap<u32, Option<Arc<str>>>,
    counters: Vec<(u32, &'static ThreadCounters)>,
    free_counters: Vec<&'static ThreadCounters>,
    exited_operations: u64,
    free_ids: Vec<u32>,
    next_id: u32,
    /// The last id shared by two live threads (every id taken).
    shared: u32,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        Mutex::new(Registry {
            names: HashMap::new(),
            exited: VecDeque::new(),
            exited_names: HashMap::new(),
            counters: Vec::new(),
            free_counters: Vec::new(),
            exited_operations: 0,
            free_ids: Vec::new(),
            next_id: 1,
            shared: 0,
        })
    })
}

fn lock_registry() -> std::sync::MutexGuard<'static, Registry> {
    registry().lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// An id for a new thread: one whose thread exited over [`ID_REUSE_AFTER`] ago,
    /// else a never used one, else (65534 ids handed out within the hour) the oldest
    /// exited thread's, whose recent accesses may then be named after the new
    /// thread; past 65534 threads alive at once, two threads share an id, which can
    /// hide a finding and, for a guard dropped on another thread, report a
    /// `reentrant_access` of the other thread with that id.
    fn free_id(&mut self) -> u32 {
        while let Some(&(id, at)) = self.exited.front() {
            if at.elapsed() < ID_REUSE_AFTER {
                break;
            }
            self.exited.pop_front();
            self.exited_names.remove(&id);
            self.free_ids.push(id);
        }
        if let Some(id) = self.free_ids.pop() {
            return id;
        }
        let id = self.next_id;
        if u64::from(id) < NO_THREAD {
            self.next_id += 1;
            return id;
        }
        if let Some((id, _)) = self.exited.pop_front() {
            self.exited_names.remove(&id);
            return id;
        }
        self.shared = self.shared % (NO_THREAD as u32 - 1) + 1;
        self.shared
    }
}

/// The name of accessor `id` as it was registered, also for exited threads (whose
/// ids wait an hour before reuse).
pub(crate) fn name_of(id: Accessor) -> Option<String> {
    let reg = lock_registry();
    reg.names
        .get(&id.0)
        .or_else(|| reg.exited_names.get(&id.0))
        .and_then(|n| n.as_deref().map(str::to_owned))
}

/// Total operations seen, over live and exited threads.
pub(crate) fn operations() -> u64 {
    let reg = lock_registry();
    reg.exited_operations
        + reg
            .counters
            .iter()
            .map(|(_, c)| c.operations.load(Relaxed))
            .sum::<u64>()
}

/// The counters of a thread that is not registered, so that [`Local`] always has
/// some: the fast path, which runs only for a registered thread, reads them without
/// a check.
static NO_COUNTERS: ThreadCounters = ThreadCounters {
    operations: AtomicU64::new(0),
    orphans: AtomicU64::new(0),
};

/// The thread's identity and counters, as [`Local`] caches them.
#[derive(Clone, Copy)]
pub(crate) struct Identity {
    pub(crate) id: Accessor,
    pub(crate) counters: &'static ThreadCounters,
}

/// Registers the current thread: an id, its name, its counters. `None` if the
/// thread is exiting (its exit hook is already gone), in which case its accesses
/// are not checked.
#[cold]
#[inline(never)]
fn register(local: &Local) -> Option<Identity> {
    if local.exited.get() {
        return None;
    }
    let name: Option<Arc<str>> = std::thread::current().name().map(Arc::from);
    let mut reg = lock_registry();
    let id = reg.free_id();
    // The hook that unregisters the thread when it exits; arming it fails only
    // while the thread's thread-locals are being destroyed.
    if EXIT.try_with(|e| e.id.set(id)).is_err() {
        reg.free_ids.push(id);
        return None;
    }
    let counters = reg
        .free_counters
        .pop()
        .unwrap_or_else(|| Box::leak(Box::default()));
    reg.names.insert(id, name);
    reg.counters.push((id, counters));
    drop(reg);
    crate::sink::Origin::prepare_thread();
    let identity = Identity {
        id: Accessor(id),
        counters,
    };
    local.me.set(id);
    local.counters.set(counters);
    local.set_registered(id);
    Some(identity)
}

/// Unregisters the thread when its thread-locals are destroyed.
struct ExitHook {
    id: Cell<u32>,
}

impl Drop for ExitHook {
    fn drop(&mut self) {
        let id = self.id.get();
        let mine = LOCAL.try_with(|l| l.counters.get()).ok();
        // From here on the thread's accesses are not checked (see `register`).
        let _ = LOCAL.try_with(|l| {
            l.me.set(0);
            l.counters.set(&NO_COUNTERS);
            l.set_registered(0);
            l.exited.set(true);
        });
        let mut reg = lock_registry();
        let name = reg.names.remove(&id).flatten();
        reg.exited_names.insert(id, name);
        reg.exited.push_back((id, Instant::now()));
        // Its own counters: with ids shared (past 65534 live threads) another live
        // thread has the same id, and keeps its own.
        let own = |c: &&'static ThreadCounters| mine.is_none_or(|m| std::ptr::eq(*c, m));
        if let Some(i) = reg
            .counters
            .iter()
            .position(|(c, counters)| *c == id && own(counters))
        {
            let (_, counters) = reg.counters.swap_remove(i);
            reg.exited_operations += counters.operations.swap(0, Relaxed);
            // Its orphans go with it: their slots belong to nobody now.
            counters.orphans.store(0, Relaxed);
            reg.free_counters.push(counters);
        }
    }
}

/// Everything mapguard keeps per thread, in one thread-local so that an access
/// pays for one lookup: the accessor's identity (registered on first use), the
/// re-entrancy flag, and the detector's recent reads and held guards. Nothing in it
/// needs dropping, so reaching it costs no liveness check; the exit hook lives in a
/// thread-local of its own, touched once per thread.
pub(crate) struct Local {
    /// This thread's accessor id, 0 while it has none (ids start at 1).
    me: Cell<u32>,
    /// This thread's counters, [`NO_COUNTERS`] while it has no id.
    counters: Cell<&'static ThreadCounters>,
    /// Set by the exit hook: the thread is going away and is not registered again.
    exited: Cell<bool>,
    /// Set while mapguard itself runs code on this thread (reporter, sinks, a user
    /// callback): accesses made then are not checked, so a sink that touches a
    /// guarded map cannot recurse into the detector. (With the detector compiled
    /// in, a flag in its per-thread word instead, tested with the held guards.)
    #[cfg(feature = "compile-out")]
    busy: Cell<bool>,
    /// The innermost `#[mapguard::guarded]` function running on this thread (or
    /// being polled, for an `async fn`), set only while the guard is on.
    function: Cell<Option<&'static crate::function::Function>>,
    /// [`crate::function::Function::bits`] of `function` (0 for none): what a
    /// remembered read keeps of it, in one load.
    function_bits: Cell<u64>,
    #[cfg(not(feature = "compile-out"))]
    pub(crate) detect: crate::detect::PerThread,
}

const _: () = assert!(!std::mem::needs_drop::<Local>());

thread_local! {
    static LOCAL: Local = const {
        Local {
            me: Cell::new(0),
            counters: Cell::new(&NO_COUNTERS),
            exited: Cell::new(false),
            #[cfg(feature = "compile-out")]
            busy: Cell::new(false),
            function: Cell::new(None),
            function_bits: Cell::new(0),
            #[cfg(not(feature = "compile-out"))]
            detect: crate::detect::PerThread::new(),
        }
    };
    static EXIT: ExitHook = const { ExitHook { id: Cell::new(0) } };
}

impl Local {
    /// This thread's identity, registering it on first use (`None` while the thread
    /// exits).
    #[inline]
    pub(crate) fn identity(&self) -> Option<Identity> {
        match self.me.get() {
            0 => register(self),
            id => Some(Identity {
                id: Accessor(id),
                counters: self.counters.get(),
            }),
        }
    }

    /// This thread's accessor id, 0 if it has made no guarded access yet (or has
    /// exited): one load, for the release of a held guard.
    #[inline(always)]
    pub(crate) fn me_bits(&self) -> u64 {
        self.me.get() as u64
    }

    /// The id and counters of this registered thread, without a check: only for a
    /// caller that knows the thread is registered (the detector's gate is open).
    #[cfg(not(feature = "compile-out"))]
    #[inline(always)]
    pub(crate) fn registered_unchecked(&self) -> (Accessor, &'static ThreadCounters) {
        (Accessor(self.me.get()), self.counters.get())
    }

    #[inline]
    pub(crate) fn is_busy(&self) -> bool {
        #[cfg(not(feature = "compile-out"))]
        return self.detect.flag(crate::detect::GATE_BUSY);
        #[cfg(feature = "compile-out")]
        return self.busy.get();
    }

    fn replace_busy(&self, on: bool) -> bool {
        #[cfg(not(feature = "compile-out"))]
        return self.detect.replace_flag(crate::detect::GATE_BUSY, on);
        #[cfg(feature = "compile-out")]
        return self.busy.replace(on);
    }

    /// Marks the thread registered as accessor `id`, or not registered (`id` 0).
    fn set_registered(&self, id: u32) {
        #[cfg(not(feature = "compile-out"))]
        {
            self.detect.set_owner(id);
            self.detect
                .replace_flag(crate::detect::GATE_UNREGISTERED, id == 0);
        }
        #[cfg(feature = "compile-out")]
        let _ = id;
    }

    /// The innermost `#[guarded]` function running on this thread, if any.
    #[inline]
    pub(crate) fn function(&self) -> Option<&'static crate::function::Function> {
        self.function.get()
    }

    /// [`crate::function::Function::bits`] of the current function, 0 for none.
    #[inline(always)]
    pub(crate) fn function_bits(&self) -> u64 {
        self.function_bits.get()
    }

    /// Makes `f` (a function and its [`crate::function::Function::bits`]) the
    /// current function; returns the one it replaces.
    #[inline]
    pub(crate) fn replace_function(
        &self,
        f: Option<(&'static crate::function::Function, u64)>,
    ) -> Option<&'static crate::function::Function> {
        self.function_bits.set(f.map_or(0, |(_, bits)| bits));
        self.function.replace(f.map(|(f, _)| f))
    }
}

/// Runs `f` with this thread's state. Always `Some`: the state needs no drop, so it
/// outlives every other thread-local (the `Option` keeps callers honest should
/// that change).
#[inline(always)]
pub(crate) fn with_local<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    LOCAL.try_with(f).ok()
}

/// True while mapguard's own code runs on this thread.
#[inline]
pub(crate) fn is_busy() -> bool {
    with_local(Local::is_busy).unwrap_or(true)
}

/// Marks the current thread as running mapguard code until the returned value drops.
pub(crate) fn busy() -> BusyGuard {
    let was = with_local(|l| l.replace_busy(true)).unwrap_or(true);
    BusyGuard { was }
}

pub(crate) struct BusyGuard {
    was: bool,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let _ = with_local(|l| l.replace_busy(self.was));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_get_distinct_ids_and_names() {
        let me = with_local(|l| l.identity().unwrap().id).unwrap();
        let other = std::thread::Builder::new()
            .name("named-worker".into())
            .spawn(|| {
                let id = with_local(|l| l.identity().unwrap().id).unwrap();
                assert_eq!(name_of(id).as_deref(), Some("named-worker"));
                id
            })
            .unwrap()
            .join()
            .unwrap();
        assert_ne!(me, other);
        // Still resolvable after the thread exited: its id is not handed out again
        // for an hour, however many threads of other tests come and go.
        assert_eq!(name_of(other).as_deref(), Some("named-worker"));
    }

    #[test]
    fn an_exiting_thread_keeps_its_count_and_hands_back_its_counters() {
        let before = operations();
        let (id, counters) = std::thread::spawn(|| {
            let me = with_local(|l| l.identity().unwrap()).unwrap();
            me.counters.operations.fetch_add(5, Relaxed);
            (me.id, me.counters as *const ThreadCounters as usize)
        })
        .join()
        .unwrap();
        // Other tests may count too, never down.
        assert!(operations() >= before + 5);
        let reg = lock_registry();
        // Not a live thread's id any more (nor handed out again within the hour).
        assert!(reg.counters.iter().all(|(i, _)| *i != id.0));
        assert!(reg.exited.iter().any(|(i, _)| *i == id.0));
        let recycled = reg
            .free_counters
            .iter()
            .any(|c| *c as *const ThreadCounters as usize == counters);
        // Unless another thread registered since and took them, with a fresh count.
        let reused = reg
            .counters
            .iter()
            .any(|(_, c)| *c as *const ThreadCounters as usize == counters);
        assert!(recycled || reused);
    }

    #[test]
    fn busy_nests() {
        assert!(!is_busy());
        {
            let _a = busy();
            assert!(is_busy());
            {
                let _b = busy();
                assert!(is_busy());
            }
            assert!(is_busy());
        }
        assert!(!is_busy());
    }
}
