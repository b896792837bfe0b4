use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
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
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    /// None until opened: a sink named by `MAPGUARD_OUTPUT` opens on the reporter
    /// thread, at its first write ([`JsonLines::deferred`]).
    out: Option<BufWriter<File>>,
}

impl JsonLines {
    /// Opens `path` for appending, creating it (mode 0600) if needed. Blocks for as
    /// long as the open does (a FIFO without a reader, a hung network mount).
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let out = Some(Self::open(&path)?);
        Ok(JsonLines { path, out })
    }

    /// A sink for `path` that opens it at its first write, on the reporter thread:
    /// the environment is read on a user's thread, at its first guarded call, which
    /// must never wait for a file. An open that fails is that write's error (the
    /// reporter says so once and counts it); the next write tries again.
    pub(crate) fn deferred(path: PathBuf) -> Self {
        JsonLines { path, out: None }
    }

    fn open(path: &Path) -> io::Result<BufWriter<File>> {
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot open it: {e}")))?;
        Ok(BufWriter::new(file))
    }

    fn out(&mut self) -> io::Result<&mut BufWriter<File>> {
        let out = match self.out.take() {
            Some(out) => out,
            None => Self::open(&self.path)?,
        };
        Ok(self.out.insert(out))
    }

    fn line(&mut self, finding: &Finding) -> io::Result<()> {
        let out = self.out()?;
        serde_json::to_writer(&mut *out, finding)?;
        out.write_all(b"\n")
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
        match &mut self.out {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    fn name(&self) -> &str {
        self.path.to_str().unwrap_or("jsonl")
    }
}
