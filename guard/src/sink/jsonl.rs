use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Sink;
use crate::finding::Finding;

/// Appends one JSON object per line: the [`Finding`] as the README's schema
/// describes it. A repeat summary is the same finding again with a higher
/// `occurrences`, so the last line per `fingerprint` holds the total.
///
/// A file it creates gets mode 0600 (on Unix) because findings name source files
/// and threads of the service; an existing file keeps its mode. Writes are buffered
/// and flushed (into the OS, no `fsync`) after each batch, on the reporter thread: a
/// write that blocks (a full disk, a FIFO without a reader, a hung mount) stalls the
/// reporter, and so [`crate::flush`], never a map operation.
///
/// Only whole lines enter the buffer, and what a failed write (a full disk) left
/// unwritten, down to the rest of a line, is written first by the next flush: the
/// file never holds a cut-off object run into the next one. Up to 1 MiB waits so;
/// past that a finding is refused (an error naming the file's, counted in
/// `stats().sink_errors`) rather than kept.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    /// None until opened: a sink named by `MAPGUARD_OUTPUT` opens on the reporter
    /// thread, at its first write ([`JsonLines::deferred`]).
    out: Option<File>,
    /// Whole lines not yet written; `buf[..written]` has been.
    buf: Vec<u8>,
    written: usize,
}

/// What may wait for a full disk before findings are refused.
const MAX_WAITING: usize = 1 << 20;

impl JsonLines {
    /// Opens `path` for appending, creating it (mode 0600) if needed. Blocks for as
    /// long as the open does (a FIFO without a reader, a hung network mount).
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let out = Self::open(&path)?;
        Ok(Self::with(path, Some(out)))
    }

    /// A sink for `path` that opens it at its first write, on the reporter thread:
    /// the environment is read on a user's thread, at its first guarded call, which
    /// must never wait for a file. An open that fails is that write's error (the
    /// reporter says so once and counts it); the next write tries again.
    pub(crate) fn deferred(path: PathBuf) -> Self {
        Self::with(path, None)
    }

    fn with(path: PathBuf, out: Option<File>) -> Self {
        JsonLines {
            path,
            out,
            buf: Vec::new(),
            written: 0,
        }
    }

    fn open(path: &Path) -> io::Result<File> {
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open it: {e}")))
    }

    fn line(&mut self, finding: &Finding) -> io::Result<()> {
        if self.out.is_none() {
            self.out = Some(Self::open(&self.path)?);
        }
        let line = serde_json::to_vec(finding)?;
        let waiting = self.buf.len() - self.written;
        if waiting > 0 && waiting + line.len() + 1 > MAX_WAITING {
            // The file has taken nothing for a while: try, and refuse this one if
            // it still takes nothing (one line alone is always taken in).
            if let Err(e) = self.write_out() {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{} bytes of findings wait for the file, this one is not written: {e}",
                        self.buf.len() - self.written
                    ),
                ));
            }
        }
        self.buf.extend_from_slice(&line);
        self.buf.push(b'\n');
        // Written at the flush that ends the reporter's batch.
        Ok(())
    }

    /// Writes what waits, as far as the file takes it; the rest (down to part of a
    /// line) stays for the next call.
    fn write_out(&mut self) -> io::Result<()> {
        let Some(file) = &mut self.out else {
            return Ok(());
        };
        while self.written < self.buf.len() {
            match file.write(&self.buf[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Keep the unwritten part only.
                    self.buf.drain(..self.written);
                    self.written = 0;
                    return Err(e);
                }
            }
        }
        self.buf.clear();
        self.written = 0;
        Ok(())
    }
}

impl Drop for JsonLines {
    /// Writes what waits (a sink replaced by a new `Config`, or the process ending
    /// through [`crate::FlushGuard`], has flushed before; this is for the rest).
    fn drop(&mut self) {
        let _ = self.write_out();
    }
}

impl Sink for JsonLines {
    fn report(&mut self, finding: &Finding) -> io::Result<()> {
        self.line(finding)
    }

    fn repeats(&mut self, finding: &Finding, _new: u64) -> io::Result<()> {
        self.line(finding)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out()
    }

    fn name(&self) -> &str {
        self.path.to_str().unwrap_or("jsonl")
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::FindingKind;

    fn finding(map: String) -> Finding {
        Finding {
            kind: FindingKind::ConcurrentWrite,
            map,
            scope: crate::Scope::Map,
            key_hash: None,
            same_key: false,
            window_ms: 100,
            gap_ms: 0,
            accesses: Vec::new(),
            fingerprint: "0123456789abcdef".into(),
            occurrences: 1,
            hint: String::new(),
        }
    }

    #[test]
    fn a_file_that_takes_nothing_keeps_at_most_a_mebibyte_then_refuses() {
        // Every write to /dev/full fails with ENOSPC.
        let mut sink = JsonLines::create("/dev/full").unwrap();
        let big = "m".repeat(100 << 10);
        let mut refused = 0;
        for _ in 0..30 {
            match sink.report(&finding(big.clone())) {
                Ok(()) => assert!(sink.flush().is_err(), "a flush to /dev/full failed"),
                Err(e) => {
                    refused += 1;
                    assert!(e.to_string().contains("wait for the file"), "{e}");
                }
            }
            assert!(sink.buf.len() - sink.written <= MAX_WAITING + big.len() + 300);
        }
        assert!(refused >= 19, "refused {refused} of 30");
        // One line alone is always taken in, whatever its size.
        let mut sink = JsonLines::create("/dev/full").unwrap();
        let huge = "m".repeat(2 << 20);
        assert!(sink.report(&finding(huge)).is_ok());
        // Dropping the sink tries once more and gives up quietly.
        drop(sink);
    }
}
