//! `#[mapguard::guarded]` seen from outside: a struct's fields, a static and a
//! function, each annotated, produce findings with the declared map names and
//! function names. Timing runs on a `ManualClock` (or a one-hour window): no sleeps.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{LazyLock, OnceLock, RwLock};
use std::task::{Context, Poll, Waker};

use common::{found, interleave, memory, on};
use mapguard::{FindingKind, ManualClock, Scope};

#[mapguard::guarded]
#[derive(Default)]
struct OrderService {
    #[guard(scope = "key", window_ms = 3600000)]
    cache: dashmap::DashMap<u64, u64>,
    #[guard(name = "stock")]
    stock: RwLock<HashMap<u32, u32>>,
    #[guard]
    history: std::sync::Mutex<BTreeMap<u64, u64>>,
    #[guard(skip)]
    skipped: HashMap<u32, u32>,
    config: HashMap<String, String>,
}

#[test]
fn struct_fields_carry_their_declared_names_and_options() {
    memory();
    let svc = OrderService::default();
    assert_eq!(svc.cache.name(), "OrderService.cache");
    assert_eq!(svc.stock.read().unwrap().name(), "stock");
    assert_eq!(svc.history.lock().unwrap().name(), "OrderService.history");
    // Unmarked and skipped fields are the types as written.
    let _: &HashMap<u32, u32> = &svc.skipped;
    let _: &HashMap<String, String> = &svc.config;
    assert!(svc.config.is_empty());
    // The declaration is a zero-sized marker: a field is the size of the guarded map.
    assert_eq!(
        std::mem::size_of_val(&svc.cache),
        std::mem::size_of::<mapguard::DashMap<u64, u64>>()
    );
    // The figure the README quotes (the plain dashmap is 40 bytes).
    assert_eq!(std::mem::size_of::<mapguard::DashMap<u64, u64>>(), 160);

    // scope = "key": two threads writing different keys is not a finding...
    on("w1", || svc.cache.insert(1, 1));
    on("w2", || svc.cache.insert(2, 2));
    // ...the same key is, within the declared one-hour window.
    on("w3", || svc.cache.insert(1, 3));
    let f = found(FindingKind::ConcurrentWrite, "OrderService.cache");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].scope, Scope::Key);
    assert_eq!(f[0].window_ms, 3_600_000);
    assert!(f[0].same_key);
}

#[test]
fn construction_from_the_plain_map_applies_the_declaration() {
    memory();
    let clock = ManualClock::new();
    let plain = HashMap::from([(7, 10)]);
    let svc = OrderService {
        cache: dashmap::DashMap::new().into(),
        stock: RwLock::new(plain.into()),
        history: Default::default(),
        skipped: HashMap::new(),
        config: HashMap::new(),
    };
    assert_eq!(svc.cache.name(), "OrderService.cache");
    let stock = svc.stock;
    let mut g = stock.into_inner().unwrap();
    assert_eq!(g.name(), "stock");
    assert_eq!(g.get(&7), Some(&10));
    g = g.with(|m| m.with_clock(clock.clone()));
    let stock = RwLock::new(g);
    on("a", || stock.write().unwrap().insert(7, 9));
    on("b", || stock.write().unwrap().insert(7, 8));
    let f = found(FindingKind::ConcurrentWrite, "stock");
    assert_eq!(f.len(), 1, "{f:#?}");
}

#[mapguard::guarded(scope = "key", window_ms = 3600000)]
static SESSIONS: LazyLock<dashmap::DashMap<u64, String>> = LazyLock::new(dashmap::DashMap::new);

#[mapguard::guarded(name = "tokens")]
static TOKENS: OnceLock<HashMap<u64, u64>> = OnceLock::new();

#[test]
fn statics_are_named_by_module_path_and_keep_their_options() {
    memory();
    assert_eq!(SESSIONS.name(), "attribute::SESSIONS");
    on("s1", || SESSIONS.insert(1, "a".into()));
    on("s2", || SESSIONS.insert(1, "b".into()));
    let f = found(FindingKind::ConcurrentWrite, "attribute::SESSIONS");
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].scope, Scope::Key);
    let tokens = TOKENS.get_or_init(Default::default);
    assert_eq!(tokens.name(), "tokens");
    let tokens2 = TOKENS.get_or_init(|| HashMap::new().into());
    assert!(std::ptr::eq(tokens, tokens2));
}

#[mapguard::guarded]
fn place_order(stock: &mapguard::DashMap<u32, u32>, sku: u32) {
    adjust(stock, sku);
}

// A callee without the attribute: its accesses belong to the caller's function.
fn adjust(stock: &mapguard::DashMap<u32, u32>, sku: u32) {
    let left = stock.get(&sku).map_or(10, |v| *v);
    stock.insert(sku, left - 1);
}

#[test]
fn function_attribution_reaches_callees_and_groups_the_fingerprint() {
    memory();
    let stock = mapguard::DashMap::named("fn-stock").with_clock(ManualClock::new());
    on("w1", || place_order(&stock, 1));
    on("w2", || place_order(&stock, 1));
    let f = found(FindingKind::ConcurrentWrite, "fn-stock");
    assert_eq!(f.len(), 1, "{f:#?}");
    for a in &f[0].accesses {
        assert_eq!(a.function.as_deref(), Some("attribute::place_order"));
    }
    // Outside the function, nothing is attributed.
    assert_eq!(mapguard::current_function(), None);
    // The JSON carries it, and the stderr block shows it under the call site.
    let json = serde_json::to_string(&f[0]).unwrap();
    assert!(
        json.contains(r#""function":"attribute::place_order""#),
        "{json}"
    );
    let block = mapguard::Stderr::format(&f[0]);
    assert_eq!(
        block.matches("      in attribute::place_order\n").count(),
        2,
        "{block}"
    );
}

#[test]
fn function_attribution_covers_the_read_of_a_lost_update() {
    memory();
    let stock = mapguard::DashMap::named("fn-lost").with_clock(ManualClock::new());
    stock.insert(5u32, 10u32);
    interleave(
        "reader",
        || attributed_read(&stock),
        "writer",
        || {
            stock.insert(5, 7);
        },
        |left| attributed_write(&stock, left),
    );
    let f = found(FindingKind::LostUpdate, "fn-lost");
    assert_eq!(f.len(), 1, "{f:#?}");
    let fns: Vec<Option<&str>> = f[0]
        .accesses
        .iter()
        .map(|a| a.function.as_deref())
        .collect();
    assert_eq!(
        fns,
        [
            Some("attribute::attributed_read"),
            None,
            Some("attribute::attributed_write")
        ]
    );
}

#[mapguard::guarded]
fn attributed_read(m: &mapguard::DashMap<u32, u32>) -> u32 {
    *m.get(&5).unwrap()
}

#[mapguard::guarded]
fn attributed_write(m: &mapguard::DashMap<u32, u32>, left: u32) {
    m.insert(5, left - 1);
}

/// Pending once, then ready: lets a test move a future between threads mid-way.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

#[mapguard::guarded]
async fn async_place(stock: &mapguard::DashMap<u32, u32>) -> Result<u32, String> {
    YieldOnce(false).await;
    stock.insert(1, 1);
    Ok(stock.len() as u32)
}

#[test]
fn async_attribution_follows_the_future_to_another_thread() {
    memory();
    let stock = mapguard::DashMap::named("async-stock").with_clock(ManualClock::new());
    let mut fut = Box::pin(async_place(&stock));
    let mut cx = Context::from_waker(Waker::noop());
    // First poll on this thread: pending, and the attribution ends with the poll.
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(mapguard::current_function(), None);
    on("other-a", || stock.insert(1, 0));
    // Finished on another thread: its write still belongs to `async_place`.
    let out = on("poller", move || {
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("still pending"),
        }
    });
    assert_eq!(out, Ok(1));
    let f = found(FindingKind::ConcurrentWrite, "async-stock");
    assert_eq!(f.len(), 1, "{f:#?}");
    let last = f[0].accesses.last().unwrap();
    assert_eq!(last.thread_name.as_deref(), Some("poller"));
    assert_eq!(last.function.as_deref(), Some("attribute::async_place"));
    assert_eq!(f[0].accesses[0].function, None);
}

#[mapguard::guarded]
#[derive(Default)]
struct OperatorShop {
    #[guard(name = "operator-shop")]
    cache: dashmap::DashMap<u64, u64>,
}

#[test]
fn a_fields_operators_are_checked_at_the_callers_line() {
    memory();
    let s = OperatorShop::default();
    let s = OperatorShop {
        cache: s.cache.with(|m| m.with_clock(ManualClock::new())),
    };
    let line = line!() + 1;
    on("a", || &s.cache << (1, 1));
    on("b", || &s.cache << (1, 2));
    let f = found(FindingKind::ConcurrentWrite, "operator-shop");
    assert_eq!(f.len(), 1, "{f:#?}");
    let site = &f[0].accesses[0].site;
    assert!(site.file.ends_with("attribute.rs"), "{site:?}");
    assert_eq!(site.line, line);
}
