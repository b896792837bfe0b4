//! `#[mapguard::guarded]` compiled out: every form expands to the plain code. Fields
//! and statics keep the types as written (the plain maps, same sizes), functions are
//! the plain functions, and nothing is checked or attributed.

use std::collections::HashMap;
use std::mem::size_of;
use std::sync::{Arc, LazyLock, Mutex, OnceLock, RwLock};

use mapguard::{Config, Memory};

#[mapguard::guarded]
#[derive(Default)]
struct OrderService {
    #[guard(scope = "key", window_ms = 50)]
    cache: dashmap::DashMap<u64, u64>,
    #[guard(name = "stock", reaction = "panic")]
    stock: RwLock<HashMap<u32, u32>>,
    #[guard(backtrace = "always", mode = "accesses")]
    shared: Arc<Mutex<std::collections::BTreeMap<u64, u64>>>,
    #[guard(skip)]
    skipped: HashMap<u32, u32>,
}

#[mapguard::guarded(scope = "key")]
static SESSIONS: LazyLock<dashmap::DashMap<u64, String>> = LazyLock::new(dashmap::DashMap::new);

#[mapguard::guarded(name = "tokens")]
static TOKENS: OnceLock<HashMap<u64, u64>> = OnceLock::new();

#[mapguard::guarded]
fn place_order(svc: &OrderService, sku: u32) -> u32 {
    assert_eq!(mapguard::current_function(), None);
    let left = svc.stock.read().unwrap().get(&sku).copied().unwrap_or(10);
    svc.stock.write().unwrap().insert(sku, left - 1);
    left - 1
}

#[mapguard::guarded]
async fn place_async(svc: &OrderService) -> usize {
    svc.cache.insert(1, 1);
    svc.cache.len()
}

#[test]
fn struct_fields_are_the_plain_types() {
    let svc = OrderService::default();
    // The field types are exactly as written: these bindings name them.
    let _: &dashmap::DashMap<u64, u64> = &svc.cache;
    let _: &RwLock<HashMap<u32, u32>> = &svc.stock;
    let _: &Arc<Mutex<std::collections::BTreeMap<u64, u64>>> = &svc.shared;
    let _: &HashMap<u32, u32> = &svc.skipped;
    assert_eq!(
        size_of::<OrderService>(),
        size_of::<dashmap::DashMap<u64, u64>>()
            + size_of::<RwLock<HashMap<u32, u32>>>()
            + size_of::<Arc<Mutex<std::collections::BTreeMap<u64, u64>>>>()
            + size_of::<HashMap<u32, u32>>()
    );
    // `.into()` of the plain map compiles both ways (compiled out it is the identity,
    // which clippy's `useless_conversion` points out).
    #[allow(clippy::useless_conversion)]
    let built = OrderService {
        cache: dashmap::DashMap::new().into(),
        stock: RwLock::new(HashMap::new().into()),
        shared: Arc::new(Mutex::new(Default::default())),
        skipped: HashMap::new(),
    };
    assert!(built.cache.is_empty());
}

#[test]
fn statics_are_the_plain_types() {
    let _: &LazyLock<dashmap::DashMap<u64, String>> = &SESSIONS;
    SESSIONS.insert(1, "a".into());
    assert_eq!(SESSIONS.len(), 1);
    let _: &OnceLock<HashMap<u64, u64>> = &TOKENS;
    assert!(TOKENS.get_or_init(Default::default).is_empty());
}

#[test]
fn functions_are_the_plain_functions_and_nothing_is_checked() {
    let memory = Memory::new();
    let _ = Config::new().outputs(vec![]).sink(memory.clone()).install();
    let svc = OrderService::default();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..5 {
                    place_order(&svc, 1);
                }
            });
        }
    });
    let mut fut = std::pin::pin!(place_async(&svc));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(fut.as_mut().poll(&mut cx), std::task::Poll::Ready(1));
    mapguard::flush();
    assert!(memory.findings().is_empty());
}
