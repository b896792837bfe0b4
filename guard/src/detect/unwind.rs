//! Capturing the calling thread's stack without the backtrace crate's global lock.
//!
//! `backtrace::Backtrace::new_unresolved` takes that crate's process-wide lock, which
//! resolving a stack also takes, frame by frame. The reporter thread resolves the
//! stacks of new findings, and its first frame loads and decompresses the binary's
//! debug info: the slowest of 200 user writes that made a new finding meanwhile
//! waited 98 to 116 ms for the lock (`first-findings`,
//! `benches/results/2026-11-28-session24.txt`). A user's thread must not wait for
//! the reporter, so where the crate walks stacks with the system unwinder (Unix
//! but emscripten and 32-bit ARM iOS), the capture here makes the unsynchronized
//! call, and only resolution takes the lock.

use backtrace::{Backtrace, BacktraceFrame};

use super::LOCK_FREE_CAPTURE;

/// Frames kept at most, innermost first; deeper stacks are cut. The reporter shows
/// at most 64 frames from the first app frame on, and the frames above it (the
/// capture, mapguard, dashmap) are a dozen or so.
const MAX_FRAMES: usize = 128;

/// The calling thread's stack, unresolved (a few microseconds: one step of the
/// system unwinder per frame, and an allocation, a few for a deep stack). Takes no
/// lock of mapguard's or the backtrace crate's where [`LOCK_FREE_CAPTURE`] (the
/// unwinder may take the C library's lock on its list of loaded objects, as every
/// C++ throw does); elsewhere it is `Backtrace::new_unresolved`, which takes the
/// backtrace crate's lock.
#[inline(never)]
pub(crate) fn capture() -> Backtrace {
    if !LOCK_FREE_CAPTURE {
        return Backtrace::new_unresolved();
    }
    let mut frames: Vec<BacktraceFrame> = Vec::with_capacity(32);
    // SAFETY: `trace_unsynchronized` is unsafe only because it does not take the
    // crate's lock, which serialises its users. It runs only where
    // `LOCK_FREE_CAPTURE` holds, the crate's own condition for its `libunwind`
    // backend, where the crate walks the stack with the system unwinder:
    // `_Unwind_Backtrace`, and per frame `_Unwind_GetIP`, `_Unwind_GetCFA` and
    // `_Unwind_FindEnclosingFunction`, through `Frame::clone`, whose result keeps no
    // pointer into the unwinder's context. Those are thread safe (C++ exceptions
    // unwind on every thread at once) and keep no state of the crate's: the state the
    // lock guards is the symbol cache, which only resolution touches, and resolution
    // still takes the lock. Walks that do not take this lock already run beside it in
    // every program: the standard library's (its own copy of the crate, under its own
    // lock), other copies of the crate, C++ throws. The closure does not panic (it
    // clones a frame and pushes it; an allocation failure aborts); were it to, the
    // crate aborts rather than unwind through the unwinder's frames. Tested by
    // `a_capture_does_not_wait_for_the_backtrace_lock` and
    // `stacks_captured_on_many_threads_at_once_resolve_to_their_callers`.
    #[allow(unsafe_code)]
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            frames.push(BacktraceFrame::from(frame.clone()));
            frames.len() < MAX_FRAMES
        });
    }
    Backtrace::from(frames)
}

// The tests check the unsynchronized capture: the condition is `LOCK_FREE_CAPTURE`'s
// (elsewhere `capture` is the crate's own).
#[cfg(all(
    test,
    all(
        unix,
        not(target_os = "emscripten"),
        not(all(target_os = "ios", target_arch = "arm"))
    )
))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[inline(never)]
    fn captured_in_a_named_function() -> Backtrace {
        let trace = capture();
        std::hint::black_box(&trace);
        trace
    }

    fn names(mut trace: Backtrace) -> Vec<String> {
        trace.resolve();
        trace
            .frames()
            .iter()
            .flat_map(|f| f.symbols())
            .filter_map(|s| s.name().map(|n| format!("{n:#}")))
            .collect()
    }

    #[test]
    fn a_capture_does_not_wait_for_the_backtrace_lock() {
        // A thread holds the backtrace crate's lock (its callback runs under it), as
        // the reporter does while it resolves a stack.
        let (holding_tx, holding_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            backtrace::trace(|_| {
                holding_tx.send(()).unwrap();
                let _ = release_rx.recv();
                false
            });
        });
        holding_rx.recv().unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        let capturer = std::thread::spawn(move || {
            done_tx.send(captured_in_a_named_function()).unwrap();
        });
        // With the lock taken, this would wait until the release below: the timeout
        // only bounds a failing run.
        let got = done_rx.recv_timeout(Duration::from_secs(30));
        release_tx.send(()).unwrap();
        holder.join().unwrap();
        capturer.join().unwrap();
        let trace = got.expect("the capture waited for the backtrace crate's lock");
        assert!(
            names(trace)
                .iter()
                .any(|n| n.ends_with("captured_in_a_named_function")),
            "the capture lost its caller"
        );
    }

    #[test]
    fn stacks_captured_on_many_threads_at_once_resolve_to_their_callers() {
        // Captures on several threads while another resolves in a loop (under the
        // lock): every stack is whole and resolves to the function that took it.
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut t = Backtrace::new_unresolved();
                    t.resolve();
                }
            });
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..50)
                            .map(|_| captured_in_a_named_function())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let traces: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
            // Before any assertion, so that a failure ends the resolving thread too.
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for trace in traces
                .into_iter()
                .flat_map(|t| t.expect("capturing thread"))
            {
                assert!(trace.frames().len() > 2);
                assert!(trace.frames().len() <= MAX_FRAMES);
                let names = names(trace);
                assert!(
                    names
                        .iter()
                        .any(|n| n.ends_with("captured_in_a_named_function")),
                    "{names:#?}"
                );
            }
        });
    }

    #[test]
    fn a_deep_stack_is_cut_at_the_frame_limit() {
        fn deep(n: usize) -> Backtrace {
            if n == 0 {
                capture()
            } else {
                std::hint::black_box(deep(std::hint::black_box(n - 1)))
            }
        }
        let trace = deep(MAX_FRAMES + 40);
        assert_eq!(trace.frames().len(), MAX_FRAMES);
    }
}
