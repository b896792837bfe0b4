//! otlp-service: the order-service incident, reported to an OpenTelemetry collector.
//!
//! Sets OpenTelemetry up the way a service does (logs, metrics and traces over
//! OTLP/HTTP to `OTEL_EXPORTER_OTLP_ENDPOINT`, default `http://127.0.0.1:4318`),
//! adds mapguard's `Otel` sink, and replays the incident in lock-step, so every run
//! makes the same findings with the same counts: two workers place orders (two
//! writers on `orders`, get-then-insert on `stock`) and a cleanup thread walks
//! `orders` while a worker writes. Then it flushes mapguard and shuts the providers
//! down, waiting at most `SHUTDOWN_TIMEOUT` (5 s) whether or not a collector answers.
//!
//! The last line on stdout counts findings and occurrences per kind; the end-to-end
//! test (examples/otel/tests/otel_e2e.rs) checks that a real collector received the same.
//! The guard is on unless `MAPGUARD` says otherwise; the other `MAPGUARD_*` variables
//! apply (`MAPGUARD_OUTPUT=stderr,jsonl:PATH` to keep the findings in a file too).

use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mapguard::{DashMap, FindingKind, ManualClock, Memory};
use opentelemetry::global;
use opentelemetry::trace::{Tracer, TracerProvider as _};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// The longest the service waits at exit for its telemetry to reach the collector.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
const ROUNDS: u64 = 3;
const SKUS: u32 = 2;
const START_STOCK: u32 = 100;

/// The providers a service keeps until exit.
struct Telemetry {
    logs: SdkLoggerProvider,
    metrics: SdkMeterProvider,
    traces: SdkTracerProvider,
}

/// OpenTelemetry as a service sets it up (the README's "OpenTelemetry" section).
fn telemetry() -> Result<Telemetry, Box<dyn Error>> {
    let base = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4318".into());
    let url = |signal: &str| format!("{}/v1/{signal}", base.trim_end_matches('/'));
    let resource = Resource::builder()
        .with_service_name("otlp-service")
        .build();
    let logs = SdkLoggerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(
            LogExporter::builder()
                .with_http()
                .with_endpoint(url("logs"))
                .build()?,
        )
        .build();
    let metrics = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_periodic_exporter(
            MetricExporter::builder()
                .with_http()
                .with_endpoint(url("metrics"))
                .build()?,
        )
        .build();
    let traces = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(
            SpanExporter::builder()
                .with_http()
                .with_endpoint(url("traces"))
                .build()?,
        )
        .build();
    // `tracing` events of WARN and above (mapguard's `mapguard.finding` among them) become logs.
    tracing_subscriber::registry()
        .with(OpenTelemetryTracingBridge::new(&logs).with_filter(LevelFilter::WARN))
        .init();
    global::set_meter_provider(metrics.clone());
    global::set_tracer_provider(traces.clone());
    Ok(Telemetry {
        logs,
        metrics,
        traces,
    })
}

impl Telemetry {
    /// Flushes and shuts the three providers down side by side, waiting at most
    /// `timeout` in all: a slow or absent collector delays the exit by that much at
    /// most. Returns what went wrong, if anything.
    fn shutdown(self, timeout: Duration) -> Vec<String> {
        let Telemetry {
            logs,
            metrics,
            traces,
        } = self;
        let (tx, rx) = mpsc::channel();
        type Job = Box<dyn FnOnce() -> opentelemetry_sdk::error::OTelSdkResult + Send>;
        let jobs: [(&str, Job); 3] = [
            (
                "traces",
                Box::new(move || traces.shutdown_with_timeout(timeout)),
            ),
            (
                "logs",
                Box::new(move || logs.shutdown_with_timeout(timeout)),
            ),
            (
                "metrics",
                Box::new(move || metrics.shutdown_with_timeout(timeout)),
            ),
        ];
        for (signal, job) in jobs {
            let tx = tx.clone();
            let spawned = thread::Builder::new()
                .name(format!("shutdown-{signal}"))
                .spawn(move || {
                    let _ = tx.send((signal, job()));
                });
            if let Err(e) = spawned {
                return vec![format!("{signal}: cannot start its shutdown ({e})")];
            }
        }
        drop(tx);
        let deadline = Instant::now() + timeout;
        let mut problems = Vec::new();
        for _ in 0..3 {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((_, Ok(()))) => {}
                Ok((signal, Err(e))) => problems.push(format!("{signal}: {e}")),
                Err(_) => {
                    problems.push(format!("gave up after {timeout:?}"));
                    break;
                }
            }
        }
        problems
    }
}

#[derive(Clone, Debug)]
struct Order {
    sku: u32,
    qty: u32,
    round: u64,
}

struct Shop {
    orders: DashMap<u64, Order>,
    stock: DashMap<u32, u32>,
}

impl Shop {
    /// The maps read time from `clock` (see [`Turns`]).
    fn new(clock: &ManualClock) -> Self {
        // Stocked at construction, before any worker runs (not a checked write).
        let stock = (0..SKUS)
            .map(|sku| (sku, START_STOCK))
            .collect::<DashMap<_, _>>()
            .with_name("stock")
            .with_clock(clock.clone());
        Shop {
            orders: DashMap::named("orders").with_clock(clock.clone()),
            stock,
        }
    }

    /// Records the order and takes the stock with get-then-insert: the bug.
    fn place_order(&self, id: u64, order: Order, check_price: impl FnOnce()) {
        let (sku, qty) = (order.sku, order.qty);
        self.orders.insert(id, order);
        let left = *self.stock.get(&sku).expect("every sku is stocked");
        check_price(); // another worker may sell the same sku meanwhile
        self.stock.insert(sku, left - qty);
    }

    /// Walks the orders and removes those older than the previous round: the other
    /// bug, a live iterator while the workers write.
    fn remove_expired(&self, round: u64, audit_started: impl FnOnce()) -> usize {
        let orders = self.orders.iter(); // a live iterator from here on...
        audit_started(); // ...and the audit is slow to start
        let expired: Vec<u64> = orders
            .filter(|o| o.round + 1 < round)
            .map(|o| *o.key())
            .collect();
        for id in &expired {
            self.orders.remove(id);
        }
        expired.len()
    }
}

/// Lets the threads take their steps in a fixed order, one millisecond of the maps'
/// clock apart, so every run makes the same findings on any machine: all steps fall
/// in the 100 ms window, and no two steps share the guard's 1 ms clock tick (which
/// could hide a lost update). A real service races; the test needs the same counts.
struct Turns {
    now: Mutex<u64>,
    changed: Condvar,
    clock: ManualClock,
}

impl Turns {
    fn new(clock: &ManualClock) -> Self {
        Turns {
            now: Mutex::new(0),
            changed: Condvar::new(),
            clock: clock.clone(),
        }
    }

    fn wait(&self, turn: u64) {
        let mut now = self.now.lock().unwrap();
        while *now != turn {
            now = self.changed.wait(now).unwrap();
        }
    }

    fn next(&self) {
        self.clock.advance(Duration::from_millis(1));
        *self.now.lock().unwrap() += 1;
        self.changed.notify_all();
    }
}

/// Runs the rounds; returns units sold.
fn run(shop: &Shop, clock: &ManualClock) -> u32 {
    let turns = Turns::new(clock);
    let tracer = global::tracer_provider().tracer("otlp-service");
    let order = |round: u64, worker: u64| {
        let id = round * 10 + worker;
        let o = Order {
            sku: (round % SKUS as u64) as u32,
            qty: 1,
            round,
        };
        (id, o)
    };
    let (turns, tracer) = (&turns, &tracer);
    thread::scope(|s| {
        // Each round: worker-1 reads the stock, worker-2 sells the same sku, worker-1
        // writes its stale count; cleanup starts walking the orders, worker-2 places
        // another order meanwhile, cleanup removes what expired.
        let w1 = spawn(s, "worker-1", move || {
            for r in 0..ROUNDS {
                let t = r * 6;
                turns.wait(t);
                let (id, o) = order(r, 1);
                tracer.in_span("place_order", |_| {
                    shop.place_order(id, o, || {
                        turns.next();
                        turns.wait(t + 2);
                    })
                });
                turns.next();
            }
            ROUNDS as u32
        });
        let w2 = spawn(s, "worker-2", move || {
            for r in 0..ROUNDS {
                let t = r * 6;
                turns.wait(t + 1);
                let (id, o) = order(r, 2);
                tracer.in_span("place_order", |_| shop.place_order(id, o, || {}));
                turns.next();
                turns.wait(t + 4);
                let (id, o) = order(r, 3);
                tracer.in_span("place_order", |_| shop.place_order(id, o, || {}));
                turns.next();
            }
            2 * ROUNDS as u32
        });
        let cleanup = spawn(s, "cleanup", move || {
            for r in 0..ROUNDS {
                let t = r * 6;
                turns.wait(t + 3);
                tracer.in_span("remove_expired", |_| {
                    shop.remove_expired(r, || {
                        turns.next();
                        turns.wait(t + 5);
                    })
                });
                if r == 0 {
                    // The first findings reach the sinks now and the later rounds
                    // arrive as repeats, as in a service that runs for a while
                    // (repeats are summarised every 10 s and on flush).
                    mapguard::flush();
                }
                turns.next();
            }
            0
        });
        [w1, w2, cleanup]
            .into_iter()
            .map(|t| t.join().expect("thread panicked"))
            .sum()
    })
}

fn spawn<'scope>(
    s: &'scope thread::Scope<'scope, '_>,
    name: &str,
    f: impl FnOnce() -> u32 + Send + 'scope,
) -> thread::ScopedJoinHandle<'scope, u32> {
    thread::Builder::new()
        .name(name.into())
        .spawn_scoped(s, f)
        .expect("spawn")
}

fn main() -> ExitCode {
    match service() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("otlp-service: {e}");
            ExitCode::FAILURE
        }
    }
}

fn service() -> Result<ExitCode, Box<dyn Error>> {
    let telemetry = telemetry()?;
    // The guard is on for this demo unless MAPGUARD says otherwise.
    let memory = Memory::new();
    let config = mapguard::Config::from_env()?;
    let config = if std::env::var_os("MAPGUARD").is_some() {
        config
    } else {
        config.enabled(true)
    };
    config
        .sink(mapguard::Otel::new())
        .sink(memory.clone())
        .install()?;

    let started = Instant::now();
    let clock = ManualClock::new();
    let shop = Shop::new(&clock);
    let sold = run(&shop, &clock);
    mapguard::flush(); // the last findings and repeat counts reach the sinks

    let left: u32 = (0..SKUS).map(|s| *shop.stock.get(&s).unwrap()).sum();
    let taken = SKUS * START_STOCK - left;
    let ran = started.elapsed();

    let stopping = Instant::now();
    let problems = telemetry.shutdown(SHUTDOWN_TIMEOUT);
    let stopped = stopping.elapsed();

    let findings = memory.findings();
    let mut per_kind: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for f in &findings {
        let e = per_kind.entry(f.kind.name()).or_default();
        e.0 += 1;
        e.1 += f.occurrences;
    }
    let kinds = [
        FindingKind::ConcurrentWrite,
        FindingKind::LostUpdate,
        FindingKind::WriteDuringIteration,
    ];
    let occurrences: Vec<String> = kinds
        .iter()
        .map(|k| format!("{k}={}", per_kind.get(k.name()).map_or(0, |e| e.1)))
        .collect();
    if !problems.is_empty() {
        eprintln!(
            "otlp-service: telemetry not fully delivered: {}",
            problems.join("; ")
        );
    }
    println!(
        "otlp-service: {sold} units sold, stock down by {taken} ({} sales lost) in {ran:.1?}; \
         mapguard: {} findings, occurrences {}; telemetry shut down in {stopped:.1?}{}",
        sold - taken,
        findings.len(),
        occurrences.join(" "),
        if problems.is_empty() {
            ""
        } else {
            " (not all delivered)"
        },
    );
    Ok(ExitCode::SUCCESS)
}
