//! End to end through a real OpenTelemetry collector: `otlp-service` exports to
//! rotel (the PyPI package `rotel`, a Rust OTLP collector) on loopback, and the
//! collector's debug output must hold the `mapguard.finding` events with the right
//! attributes and the `mapguard.findings` counter with the right count per kind.
//! Then the same run with no collector, and with one that never answers: the service
//! finishes in normal time and the findings still reach stderr and JSON lines.
//!
//! Without rotel the collector test prints `SKIPPED: ...` and passes, unless
//! `CI=true`: CI installs rotel (`pip install rotel`) and must not skip.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SERVICE: &str = env!("CARGO_BIN_EXE_otlp-service");
const SOURCE: &str = "examples/otel/src/bin/otlp-service.rs";
/// The service's documented bound on its telemetry shutdown (`SHUTDOWN_TIMEOUT`).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

// ---- helpers ------------------------------------------------------------------

fn scratch(name: &str) -> PathBuf {
    // Under the target dir (cargo's scratch space for integration tests), by name
    // and process: test processes running at once (cargo-nextest, or two `cargo
    // test` runs) never share one. Ones untouched for an hour are removed, so
    // nothing piles up, and the last run's files stay to read after a failure.
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
        if stale && entry.file_name().to_string_lossy().starts_with("otel-e2e-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = root.join(format!("otel-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Ports free on loopback now, distinct (all are held until all are known).
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// The 1-based line of the example's source holding `needle` (exactly one).
fn line_of(needle: &str) -> i64 {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin/otlp-service.rs"),
    )
    .unwrap();
    let hits: Vec<usize> = src
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{needle:?} must be on exactly one line: {hits:?}"
    );
    hits[0] as i64
}

/// Where rotel's collector binary is: `$ROTEL_AGENT`, `rotel-agent` on the PATH,
/// or inside the `rotel` Python package.
fn rotel_agent() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROTEL_AGENT") {
        // Set but not a file: treated as absent (also how to check the skip).
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("rotel-agent");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    for python in ["python3", "python"] {
        let out = Command::new(python)
            .args([
                "-c",
                "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
            ])
            .stderr(Stdio::null())
            .output();
        if let Ok(out) = out {
            let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if out.status.success() && p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A running collector, stopped when dropped (also when a test fails).
struct Collector {
    child: Child,
    out: PathBuf,
    http_port: u16,
}

impl Collector {
    fn start(agent: &Path, dir: &Path) -> Collector {
        let [http_port, grpc_port] = free_ports();
        let out = dir.join("collector.out");
        let child = Command::new(agent)
            .arg("start")
            .args(["--exporter", "blackhole"])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
            .args([
                "--debug-log",
                "logs",
                "--debug-log",
                "metrics",
                "--debug-log",
                "traces",
            ])
            .args(["--debug-log-verbosity", "detailed"])
            .arg("--pid-file")
            .arg(dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(dir.join("rotel.log"))
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(dir.join("collector.err")).unwrap())
            .spawn()
            .expect("start rotel-agent");
        let c = Collector {
            child,
            out,
            http_port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", http_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rotel-agent did not listen on 127.0.0.1:{http_port}: {}",
                std::fs::read_to_string(dir.join("collector.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    fn output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.out) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until the output satisfies `done` (the collector batches for 200 ms).
    fn wait_for(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.output();
            if done(&out) || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    output: Output,
    took: Duration,
    jsonl: PathBuf,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

fn run_service(endpoint: &str, dir: &Path) -> Run {
    let jsonl = dir.join("findings.jsonl");
    let started = Instant::now();
    let mut cmd = Command::new(SERVICE);
    // The service reads its settings from the environment: none of the caller's
    // `MAPGUARD*` or `OTEL_*` variables may change what this test expects.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("MAPGUARD") || k.starts_with("OTEL_") {
            cmd.env_remove(&*k);
        }
    }
    let output = cmd
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env(
            "MAPGUARD_OUTPUT",
            format!("stderr,jsonl:{}", jsonl.display()),
        )
        .stdin(Stdio::null())
        .output()
        .expect("run otlp-service");
    let run = Run {
        output,
        took: started.elapsed(),
        jsonl,
    };
    assert!(
        run.output.status.success(),
        "otlp-service failed: {}\n{}",
        run.stdout(),
        run.stderr()
    );
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    run
}

/// The counts the run must make, every time (the service runs in lock-step):
/// (kind, map) -> occurrences.
fn expected_counts() -> BTreeMap<(String, String), u64> {
    [
        ("concurrent_write", "orders", 6),
        ("concurrent_write", "stock", 3),
        ("lost_update", "stock", 3),
        ("write_during_iteration", "orders", 3),
    ]
    .into_iter()
    .map(|(k, m, n)| ((k.to_owned(), m.to_owned()), n))
    .collect()
}

/// The service's own summary line agrees with `expected_counts`.
fn check_summary(run: &Run) {
    let out = run.stdout();
    assert!(
        out.contains(
            "mapguard: 5 findings, occurrences concurrent_write=9 lost_update=3 write_during_iteration=3"
        ),
        "{out}"
    );
}

/// Findings still reach stderr and the JSON lines file.
fn check_local_outputs(run: &Run) {
    let err = run.stderr();
    for kind in ["concurrent_write", "lost_update", "write_during_iteration"] {
        assert!(
            err.contains(&format!("mapguard: {kind} on map")),
            "{kind}: {err}"
        );
    }
    // The last line per fingerprint holds the total.
    let text = std::fs::read_to_string(&run.jsonl).expect("the JSON lines file");
    let mut last: BTreeMap<String, (String, String, u64)> = BTreeMap::new();
    for line in text.lines() {
        let field = |name: &str| {
            let at = line.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
            line[at..]
                .split([',', '}'])
                .next()
                .unwrap()
                .trim_matches('"')
                .to_owned()
        };
        last.insert(
            field("fingerprint"),
            (
                field("kind"),
                field("map"),
                field("occurrences").parse().unwrap(),
            ),
        );
    }
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (kind, map, n) in last.into_values() {
        *counts.entry((kind, map)).or_default() += n;
    }
    assert_eq!(counts, expected_counts());
}

/// The service's "telemetry shut down in 5.0s" (a Duration printed with `{:.1?}`).
fn shutdown_time(stdout: &str) -> Duration {
    let text = stdout
        .split("telemetry shut down in ")
        .nth(1)
        .and_then(|s| s.split([' ', '\n', ';']).next())
        .unwrap_or_else(|| panic!("no shutdown time in {stdout}"));
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == 'µ');
    let n: f64 = digits.parse().unwrap_or_else(|_| panic!("{text}"));
    match &text[digits.len()..] {
        "s" => Duration::from_secs_f64(n),
        "ms" => Duration::from_secs_f64(n / 1e3),
        "µs" => Duration::from_secs_f64(n / 1e6),
        "ns" => Duration::from_secs_f64(n / 1e9),
        unit => panic!("unit {unit:?} in {text}"),
    }
}

// ---- the collector's debug output ------------------------------------------------

#[derive(Debug, Default)]
struct Event {
    attrs: BTreeMap<String, String>,
    trace_id: String,
    span_id: String,
}

impl Event {
    fn get(&self, k: &str) -> &str {
        self.attrs.get(k).map(String::as_str).unwrap_or("<missing>")
    }
}

#[derive(Debug, Default)]
struct Received {
    events: Vec<Event>,
    /// (metric, sorted "k=v" attributes) -> last value.
    sums: BTreeMap<(String, String), u64>,
    spans: HashSet<(String, String)>,
}

/// `-> key: Str(value)` (or Int, Bool, Double) on one line.
fn attribute(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix("-> ")?;
    let (key, value) = rest.split_once(": ")?;
    let open = value.find('(')?;
    let inner = value[open + 1..]
        .strip_suffix(')')
        .unwrap_or(&value[open + 1..]);
    Some((key.to_owned(), inner.to_owned()))
}

fn parse(out: &str) -> Received {
    #[derive(PartialEq)]
    enum In {
        Nothing,
        Span,
        Metric,
        Log,
    }
    let mut r = Received::default();
    let mut at = In::Nothing;
    let mut span = (String::new(), String::new());
    let mut metric = String::new();
    let mut point: Vec<String> = Vec::new();
    for line in out.lines() {
        let t = line.trim();
        if t.starts_with("Span #") {
            at = In::Span;
            span = Default::default();
        } else if t.starts_with("Metric #") {
            at = In::Metric;
        } else if t.starts_with("LogRecord #") {
            at = In::Log;
            r.events.push(Event::default());
        } else if t.starts_with("ResourceSpans")
            || t.starts_with("ResourceMetrics")
            || t.starts_with("ResourceLog")
        {
            at = In::Nothing;
        } else if let Some(v) = t.strip_prefix("Trace ID") {
            let v = v.trim_start_matches([' ', ':']).to_owned();
            match at {
                In::Span => span.0 = v,
                In::Log => r.events.last_mut().unwrap().trace_id = v,
                _ => {}
            }
        } else if let Some(v) = t.strip_prefix("Span ID") {
            if at == In::Log {
                r.events.last_mut().unwrap().span_id = v.trim_start_matches([' ', ':']).to_owned();
            }
        } else if let Some(v) = t.strip_prefix("ID ") {
            if at == In::Span {
                span.1 = v.trim_start_matches([' ', ':']).to_owned();
                r.spans.insert(span.clone());
            }
        } else if t.starts_with("NumberDataPoints #") {
            point.clear();
        } else if let Some(v) = t.strip_prefix("Value: ") {
            if at == In::Metric {
                point.sort();
                r.sums.insert(
                    (metric.clone(), point.join(",")),
                    v.parse().unwrap_or(u64::MAX),
                );
            }
        } else if let Some((k, v)) = attribute(line) {
            match at {
                In::Metric if k == "Name" => metric = v,
                In::Metric
                    if ![
                        "Description",
                        "Unit",
                        "DataType",
                        "IsMonotonic",
                        "AggregationTemporality",
                    ]
                    .contains(&k.as_str()) =>
                {
                    point.push(format!("{k}={v}"))
                }
                In::Log => {
                    r.events.last_mut().unwrap().attrs.insert(k, v);
                }
                _ => {}
            }
        } else if at == In::Metric && t.starts_with("-> Name: ") {
            metric = t["-> Name: ".len()..].to_owned();
        } else if at == In::Log {
            if let Some(v) = t.strip_prefix("EventName: ") {
                r.events
                    .last_mut()
                    .unwrap()
                    .attrs
                    .insert("EventName".into(), v.into());
            } else if let Some(v) = t.strip_prefix("SeverityText: ") {
                r.events
                    .last_mut()
                    .unwrap()
                    .attrs
                    .insert("SeverityText".into(), v.into());
            }
        }
    }
    r.events
        .retain(|e| e.get("EventName") == "mapguard.finding");
    r
}

// ---- the tests -------------------------------------------------------------------

#[test]
fn a_real_collector_receives_the_events_and_the_counts() {
    let Some(agent) = rotel_agent() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("rotel-agent not found and CI=true: CI must run this test (pip install rotel)");
        }
        skipped(
            "SKIPPED: rotel-agent not found (pip install rotel); the end-to-end OTLP collector test did not run",
        );
        return;
    };
    let dir = scratch("collector");
    let collector = Collector::start(&agent, &dir);
    let run = run_service(&format!("http://127.0.0.1:{}", collector.http_port), &dir);
    check_summary(&run);
    check_local_outputs(&run);
    assert!(
        !run.stderr().contains("not fully delivered"),
        "{}",
        run.stderr()
    );

    let out = collector.wait_for(|o| {
        let r = parse(o);
        r.events.len() >= 5 && r.sums.keys().any(|(m, _)| m == "mapguard.findings")
    });
    std::fs::write(dir.join("collector.kept"), &out).unwrap();
    let got = parse(&out);

    // The counter, per kind and map: every occurrence, repeats included.
    let mut counts = BTreeMap::new();
    for ((metric, attrs), v) in &got.sums {
        if metric == "mapguard.findings" {
            let a: BTreeMap<&str, &str> = attrs
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            assert_eq!(a.len(), 2, "low-cardinality attributes only: {attrs}");
            counts.insert(
                (
                    a["mapguard.finding.kind"].to_owned(),
                    a["mapguard.map.name"].to_owned(),
                ),
                *v,
            );
        }
    }
    assert_eq!(
        counts,
        expected_counts(),
        "collector output kept in {}",
        dir.display()
    );
    let single = |m: &str| got.sums.get(&(m.to_owned(), String::new())).copied();
    assert_eq!(single("mapguard.dropped_findings"), Some(0));
    assert_eq!(single("mapguard.duplicate_findings"), Some(15 - 5));

    // One event per unique finding.
    assert_eq!(got.events.len(), 5, "{:#?}", got.events);
    let (orders_insert, stock_get, stock_insert, iter, remove) = (
        line_of("self.orders.insert(id, order);"),
        line_of("let left = *self.stock.get(&sku)"),
        line_of("self.stock.insert(sku, left - qty);"),
        line_of("let orders = self.orders.iter();"),
        line_of("self.orders.remove(id);"),
    );
    let find = |kind: &str, map: &str, line: i64, other_line: i64| -> &Event {
        got.events
            .iter()
            .find(|e| {
                e.get("mapguard.finding.kind") == kind
                    && e.get("mapguard.map.name") == map
                    && e.get("code.line.number") == line.to_string()
                    && e.get("mapguard.other.code.line.number") == other_line.to_string()
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {kind} event on {map} at {line} after {other_line}: {:#?}",
                    got.events
                )
            })
    };
    let check = |e: &Event, thread: &str, other_thread: &str| {
        assert_eq!(e.get("SeverityText"), "WARN");
        assert_eq!(e.get("code.file.path"), SOURCE);
        assert_eq!(e.get("mapguard.other.code.file.path"), SOURCE);
        assert_eq!(e.get("thread.name"), thread);
        assert_eq!(e.get("mapguard.other.thread.name"), other_thread);
        for k in [
            "thread.id",
            "code.column.number",
            "mapguard.op",
            "mapguard.fingerprint",
            "mapguard.scope",
            "mapguard.window_ms",
            "mapguard.gap_ms",
            "mapguard.same_key",
            "mapguard.other.thread.id",
            "mapguard.other.op",
        ] {
            assert_ne!(e.get(k), "<missing>", "{k} missing: {e:#?}");
        }
        // The event carries the span the finding was made in, a span the collector got.
        assert!(
            got.spans.contains(&(e.trace_id.clone(), e.span_id.clone())),
            "event's span ({}, {}) not among the exported spans",
            e.trace_id,
            e.span_id
        );
    };
    let e = find("concurrent_write", "orders", orders_insert, orders_insert);
    check(e, "worker-2", "worker-1");
    assert!(e.attrs.contains_key("code.stacktrace"));
    let e = find("concurrent_write", "orders", remove, orders_insert);
    check(e, "cleanup", "worker-2");
    let e = find("concurrent_write", "stock", stock_insert, stock_insert);
    check(e, "worker-2", "worker-1");
    let e = find("lost_update", "stock", stock_insert, stock_insert);
    check(e, "worker-1", "worker-2");
    assert_eq!(
        e.get("mapguard.read.code.line.number"),
        stock_get.to_string()
    );
    assert_eq!(e.get("mapguard.read.thread.name"), "worker-1");
    assert_eq!(e.get("mapguard.read.op"), "get");
    assert!(
        e.get("mapguard.hint").contains("update()"),
        "the fix hint reaches the collector: {e:#?}"
    );
    let e = find("write_during_iteration", "orders", orders_insert, iter);
    check(e, "worker-2", "cleanup");
    assert_eq!(e.get("mapguard.other.op"), "iter");
}

#[test]
fn with_no_collector_the_service_finishes_in_normal_time() {
    let dir = scratch("down");
    // A port nothing listens on.
    let run = run_service(&format!("http://127.0.0.1:{}", free_ports::<1>()[0]), &dir);
    check_summary(&run);
    check_local_outputs(&run);
    assert!(
        shutdown_time(&run.stdout()) <= SHUTDOWN_TIMEOUT,
        "{}",
        run.stdout()
    );
    assert!(
        run.took < SHUTDOWN_TIMEOUT + Duration::from_secs(10),
        "took {:?}",
        run.took
    );
    println!("collector down: otlp-service finished in {:.2?}", run.took);
}

#[test]
fn with_a_collector_that_never_answers_the_exit_waits_at_most_the_timeout() {
    let dir = scratch("silent");
    // Accepts connections (the kernel does, up to the backlog) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let run = run_service(&format!("http://127.0.0.1:{port}"), &dir);
    drop(silent);
    check_summary(&run);
    check_local_outputs(&run);
    assert!(
        run.stderr().contains("not fully delivered"),
        "{}",
        run.stderr()
    );
    let stopped = shutdown_time(&run.stdout());
    // It did wait for the collector, and no longer than the documented bound.
    assert!(
        stopped >= SHUTDOWN_TIMEOUT - Duration::from_millis(100),
        "{stopped:?}"
    );
    assert!(
        stopped <= SHUTDOWN_TIMEOUT + Duration::from_millis(500),
        "{stopped:?}"
    );
    assert!(
        run.took < SHUTDOWN_TIMEOUT + Duration::from_secs(10),
        "took {:?}",
        run.took
    );
    println!(
        "collector silent: otlp-service finished in {:.2?}",
        run.took
    );
}

/// Says what was skipped where `cargo test` shows it: straight to stderr, past the
/// test harness's capture of `println!`, so a passing run still shows it.
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{why}");
}
