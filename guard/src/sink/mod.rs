//! Where findings go: the [`Sink`] trait and the sinks mapguard ships ([`Stderr`],
//! [`JsonLines`], [`Memory`], and with feature `otel` the OpenTelemetry sink). Sinks
//! run only on the reporter thread.

mod jsonl;
mod memory;
#[cfg(feature = "otel")]
pub mod otel;
mod stderr;

pub use jsonl::JsonLines;
pub use memory::Memory;
pub use stderr::Stderr;

#[cfg(feature = "otel")]
pub(crate) use otel::Origin;

/// Without feature `otel` a finding carries nothing about where it was made beyond
/// the finding itself: a zero-sized stand-in for `otel::Origin`.
#[cfg(not(feature = "otel"))]
#[derive(Debug, Default)]
pub(crate) struct Origin;

#[cfg(not(feature = "otel"))]
impl Origin {
    #[inline(always)]
    pub(crate) fn capture() -> Origin {
        Origin
    }
    #[inline(always)]
    pub(crate) fn prepare_thread() {}
    /// Nothing to make current; the guard does nothing.
    #[inline(always)]
    pub(crate) fn enter(&self) -> Entered {
        Entered
    }
}

/// What [`Origin::enter`] returns without feature `otel`.
#[cfg(not(feature = "otel"))]
pub(crate) struct Entered;

use crate::finding::Finding;

/// A destination for findings. Called only from mapguard's reporter thread, one
/// call at a time, never from the user's threads: a slow sink delays other findings'
/// delivery but never a map operation. It does delay the calls that wait for the
/// reporter: [`crate::flush`] (without limit), [`crate::flush_timeout`] (up to its
/// timeout), a dropping [`crate::FlushGuard`] and [`crate::Config::install`] (up to
/// 5 s each).
///
/// A sink that returns an error or panics is reported once on stderr and the other
/// sinks go on; it keeps being called. Map accesses a sink makes are not checked, so
/// a sink may use guarded maps without recursing.
pub trait Sink: Send + 'static {
    /// A finding reported for the first time (`occurrences` counts those seen so far).
    fn report(&mut self, finding: &Finding) -> std::io::Result<()>;

    /// More occurrences of a finding already reported, summarised at most once per
    /// summary interval: `finding.occurrences` is the new total, `new` how many
    /// arrived since the last call. The default does nothing.
    fn repeats(&mut self, finding: &Finding, new: u64) -> std::io::Result<()> {
        let _ = (finding, new);
        Ok(())
    }

    /// Pushes buffered output to its destination (called after each batch and on
    /// [`crate::flush`]; [`crate::JsonLines`]: into the OS, without `fsync`). The
    /// default does nothing.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    /// The sink's name in mapguard's own error messages.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}
