use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::Sink;
use crate::finding::Finding;

/// Appends one JSON object per line: the [`Finding`] as the README's schema
/// describes it. A repeat summary is the same finding again with a higher
/// `occurrences`, so the last line per `fingerprint` holds the total.
///
/// The file is created with mode 0600 (on Unix) because findings name source files
/// and threads of the service. Writes are buffered and flushed after each batch.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    out: BufWriter<File>,
}

impl JsonLines {
    /// Opens `path` for appending, creating it (mode 0600) if needed.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&path)?;
        Ok(JsonLines {
            path,
            out: BufWriter::new(file),
        })
    }

    fn line(&mut self, finding: &Finding) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, finding)?;
        self.out.write_all(b"\n")
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
        self.out.flush()
    }

    fn name(&self) -> &str {
        self.path.to_str().unwrap_or("jsonl")
    }
}
