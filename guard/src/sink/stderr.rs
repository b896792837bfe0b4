use std::io::{self, Write};

use super::Sink;
use crate::finding::{Access, Finding};

/// Writes a human-readable block per finding to stderr, like a Go race report:
/// the kind, the map, and for each access the thread, the operation, the call site
/// and how long before the last one it was. Repeats get one line per summary.
/// The default sink. Each report is one `write_all` of the whole block under std's
/// stderr lock (shared with the program's `eprintln!`), on the reporter thread: a
/// stderr that blocks (a full pipe) stalls the reporter, never a map operation.
#[derive(Debug, Default)]
pub struct Stderr {
    _private: (),
}

impl Stderr {
    /// A sink writing to the process's stderr.
    pub fn new() -> Self {
        Stderr { _private: () }
    }
}

impl Stderr {
    /// The block this sink writes for `finding`.
    pub fn format(finding: &Finding) -> String {
        format_report(finding)
    }
}

fn format_report(f: &Finding) -> String {
    let mut s = String::new();
    s.push_str("==================\n");
    s.push_str(&format!(
        "mapguard: {} on map \"{}\" (scope {}, {}, {} ms apart, window {} ms)\n",
        f.kind,
        f.map,
        match f.scope {
            crate::Scope::Map => "map",
            crate::Scope::Key => "key",
        },
        keys(f),
        f.gap_ms,
        f.window_ms
    ));
    let last = f.accesses.last().map_or(0, |a| a.time_unix_ns);
    let n = f.accesses.len();
    for (i, a) in f.accesses.iter().enumerate().rev() {
        let role = role(f, i, n);
        let before = last.saturating_sub(a.time_unix_ns) / 1_000_000;
        s.push_str(&format!("  {role} {} by {}", a.op, thread(a)));
        if i + 1 == n {
            s.push('\n');
        } else {
            s.push_str(&format!(", {before} ms earlier\n"));
        }
        s.push_str(&format!("      at {}\n", a.site));
        if let Some(func) = &a.function {
            s.push_str(&format!("      in {func}\n"));
        }
        if a.backtrace_skipped {
            s.push_str(&format!(
                "      (stack not captured: a burst of new findings, {} already waiting for the reporter)\n",
                crate::report::STACKS_AHEAD
            ));
        }
        if let Some(frames) = &a.backtrace {
            for fr in frames.iter().filter(|fr| fr.in_app) {
                s.push_str(&format!(
                    "        {} {}\n",
                    fr.function.as_deref().unwrap_or("?"),
                    match (&fr.file, fr.line) {
                        (Some(file), Some(line)) => format!("({file}:{line})"),
                        _ => String::new(),
                    }
                ));
            }
        }
    }
    if let Some(k) = &f.key_hash {
        s.push_str(&format!("  key hash {k}\n"));
    }
    s.push_str(&format!("  hint: {}\n", f.hint));
    s.push_str(&format!(
        "  fingerprint {} (occurrences so far: {})\n",
        f.fingerprint, f.occurrences
    ));
    s.push_str("==================\n");
    s
}

/// "same key", "different keys", or "map-wide" when an access was not to one key.
fn keys(f: &Finding) -> &'static str {
    if f.same_key {
        "same key"
    } else if f.accesses.iter().any(|a| {
        matches!(
            a.op.class(),
            crate::finding::Class::WriteAll
                | crate::finding::Class::Iterate
                | crate::finding::Class::IterateMut
                | crate::finding::Class::Lock
        )
    }) {
        "map-wide"
    } else {
        "different keys"
    }
}

fn role(f: &Finding, i: usize, n: usize) -> &'static str {
    use crate::FindingKind::*;
    let last = i + 1 == n;
    match (f.kind, last, i) {
        (ConcurrentWrite, true, _) => "write",
        (ConcurrentWrite, false, _) => "previous write",
        (ReadWrite, true, _) => "access",
        (ReadWrite, false, _) => "previous access",
        (LostUpdate, true, _) => "stale write",
        (LostUpdate, false, 0) => "read",
        (LostUpdate, false, _) => "intervening write",
        (WriteDuringIteration, true, _) => "write",
        (WriteDuringIteration, false, _) => "live iterator from",
        (ReentrantAccess, true, _) => "locking call",
        (ReentrantAccess, false, _) => "guard still held from",
    }
}

fn thread(a: &Access) -> String {
    match &a.thread_name {
        Some(n) => format!("thread {} \"{n}\"", a.thread_id),
        None => format!("thread {}", a.thread_id),
    }
}

impl Sink for Stderr {
    fn report(&mut self, finding: &Finding) -> io::Result<()> {
        io::stderr()
            .lock()
            .write_all(format_report(finding).as_bytes())
    }

    fn repeats(&mut self, f: &Finding, new: u64) -> io::Result<()> {
        writeln!(
            io::stderr().lock(),
            "mapguard: {} on map \"{}\" repeated {new} more times ({} in all), fingerprint {}",
            f.kind,
            f.map,
            f.occurrences,
            f.fingerprint
        )
    }

    fn name(&self) -> &str {
        "stderr"
    }
}
