//! A finding made in a thread-local's destructor, at thread exit, with the `Otel`
//! sink: OpenTelemetry's context thread-local may be destroyed by then, and reading
//! it panics inside OpenTelemetry. mapguard must not panic on the user's thread,
//! caught or not (the application's panic hook would run; with `panic = "abort"`
//! the process would end), and the finding must still be reported.

use std::sync::{Arc, LazyLock, Mutex};

use mapguard::{Config, DashMap, FindingKind, ManualClock, Memory, Otel};

static MAP: LazyLock<DashMap<u32, u32>> =
    LazyLock::new(|| DashMap::named("tls-map").with_clock(ManualClock::new()));
static OTHER: LazyLock<DashMap<u32, u32>> = LazyLock::new(|| DashMap::named("other"));

struct WritesOnDrop;

impl Drop for WritesOnDrop {
    fn drop(&mut self) {
        MAP.insert(1, 2);
    }
}

thread_local!(static WRITER: WritesOnDrop = const { WritesOnDrop });

#[test]
fn a_finding_in_a_thread_local_destructor_does_not_panic() {
    let memory = Memory::new();
    Config::new()
        .outputs(vec![])
        .sink(memory.clone())
        .sink(Otel::new())
        .install()
        .unwrap();
    let panics: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = panics.clone();
    std::panic::set_hook(Box::new(move |info| {
        seen.lock().unwrap().push(info.to_string())
    }));
    MAP.insert(1, 1);
    std::thread::spawn(|| {
        // mapguard's thread-locals first, then the user's, then OpenTelemetry's
        // (touched last, so destroyed first unless mapguard arranged otherwise).
        OTHER.insert(0, 0);
        WRITER.with(|_| {});
        let _ = opentelemetry::Context::current();
    })
    .join()
    .unwrap();
    mapguard::flush();
    let _ = std::panic::take_hook();
    let panics = panics.lock().unwrap().clone();
    assert!(
        panics.is_empty(),
        "mapguard panicked on the user's thread: {panics:#?}"
    );
    assert_eq!(memory.of(FindingKind::ConcurrentWrite, "tls-map").len(), 1);
}
