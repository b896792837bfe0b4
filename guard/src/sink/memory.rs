use std::io;
use std::sync::{Arc, Mutex};

use super::Sink;
use crate::finding::{Finding, FindingKind};

/// Keeps findings in memory, for tests. Clone it before handing it to
/// [`crate::Config::sink`]; every clone sees the same findings.
///
/// Each finding is kept once; repeat summaries update its `occurrences`. It keeps
/// every finding until [`Memory::clear`]: meant for tests. All clones and the
/// reporter thread share one mutex: a read holds it while it copies, and the reporter
/// waits for it to deliver.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    findings: Arc<Mutex<Vec<Finding>>>,
}

impl Memory {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every finding that arrived, in arrival order. Call [`crate::flush`] first to
    /// be sure the queue has drained. Clones each finding under the shared mutex.
    pub fn findings(&self) -> Vec<Finding> {
        self.lock().clone()
    }

    /// The findings on the map named `map` (clones them under the shared mutex).
    pub fn on_map(&self, map: &str) -> Vec<Finding> {
        self.lock()
            .iter()
            .filter(|f| f.map == map)
            .cloned()
            .collect()
    }

    /// The findings of `kind` on the map named `map` (clones them under the shared
    /// mutex).
    pub fn of(&self, kind: FindingKind, map: &str) -> Vec<Finding> {
        self.lock()
            .iter()
            .filter(|f| f.kind == kind && f.map == map)
            .cloned()
            .collect()
    }

    /// Forgets everything received so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Finding>> {
        self.findings.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Sink for Memory {
    fn report(&mut self, finding: &Finding) -> io::Result<()> {
        self.lock().push(finding.clone());
        Ok(())
    }

    fn repeats(&mut self, finding: &Finding, _new: u64) -> io::Result<()> {
        let mut all = self.lock();
        if let Some(f) = all
            .iter_mut()
            .find(|f| f.fingerprint == finding.fingerprint)
        {
            f.occurrences = finding.occurrences;
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "memory"
    }
}
