//! The `Otel` sink re-takes its instruments when the app installs another global
//! meter provider, however the allocator places it: it keeps a weak reference to the
//! provider it took them from, so a new provider cannot land at that address and
//! pass for it (it used to compare bare addresses, and kept counting into a replaced
//! provider after two swaps).

mod common;
mod common_otel;

use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use mapguard::{BacktraceMode, Config, DashMap, Finding, ManualClock, Otel, Sink};
use opentelemetry::global;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};

/// Holds the reporter inside `report` of a finding on map "gate" until opened, so
/// that nothing on the reporter thread looks at the global provider meanwhile.
struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    entered: mpsc::Sender<()>,
}

impl Sink for Gate {
    fn report(&mut self, f: &Finding) -> std::io::Result<()> {
        if f.map == "gate" {
            let _ = self.entered.send(());
            let (m, cv) = &*self.open;
            let mut open = m.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
        }
        Ok(())
    }
}

fn global_addr() -> usize {
    let p = global::meter_provider();
    Arc::as_ptr(&p) as *const () as usize
}

/// mapguard.findings for `map` as `p` exports it (None: no such data point).
fn findings_on(p: &SdkMeterProvider, e: &InMemoryMetricExporter, map: &str) -> Option<u64> {
    common_otel::counter(p, e, "mapguard.findings", Some(map))
}

#[test]
fn a_provider_installed_at_a_reused_address_gets_the_counts() {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let (entered_tx, entered) = mpsc::channel();
    Config::new()
        .outputs(vec![])
        .sink(Otel::new())
        .sink(Gate {
            open: gate.clone(),
            entered: entered_tx,
        })
        .backtrace(BacktraceMode::Off)
        .summary_interval(std::time::Duration::from_secs(3600))
        .install()
        .unwrap();

    // Built up front, so that installing them allocates nothing but the global Arc.
    let spares: Vec<(SdkMeterProvider, InMemoryMetricExporter)> =
        (0..64).map(|_| common_otel::provider()).collect();
    let (a, a_exp) = common_otel::provider();
    global::set_meter_provider(a.clone());
    let taken = global_addr();
    common::conflict(&DashMap::named("before-swap").with_clock(ManualClock::new()));
    mapguard::flush();
    assert_eq!(
        findings_on(&a, &a_exp, "before-swap"),
        Some(1),
        "the sink took A"
    );

    // Park the reporter (after the sink counted this one into A).
    common::conflict(&DashMap::named("gate").with_clock(ManualClock::new()));
    entered
        .recv_timeout(Duration::from_secs(60))
        .expect("the reporter never reached the gate");

    // The app replaces its provider, more than once, while the reporter is busy:
    // until the global Arc lands where A's was (glibc reuses the freed chunk at the
    // second swap), or with the fix (which keeps that address taken) the last one.
    let mut now = None;
    for (p, e) in spares {
        global::set_meter_provider(p.clone());
        let reused = global_addr() == taken;
        now = Some((p, e));
        if reused {
            break;
        }
    }
    let (c, c_exp) = now.unwrap();

    common::conflict(&DashMap::named("after-swap").with_clock(ManualClock::new()));
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    mapguard::flush();

    assert_eq!(
        findings_on(&c, &c_exp, "after-swap"),
        Some(1),
        "the finding went to the provider the app replaced (A has {:?})",
        findings_on(&a, &a_exp, "after-swap")
    );
}
