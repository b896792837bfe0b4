//! map-bytes: how many bytes a guarded map takes beyond the map it wraps, counted.
//!
//! `overhead`'s `map_bytes` case measures resident memory over 2000 maps, which
//! counts 4 KiB pages and moves by tens of bytes per map between runs with the
//! allocator's layout. This binary counts instead: each map's inline size
//! (`size_of`) plus the heap bytes requested and still live after it was built and
//! given one entry, with a counting global allocator ([`cap::Cap`], which counts
//! what is asked for, not the allocator's own bookkeeping), averaged over `--maps N`
//! maps (default 2000), with the guard on and the thread's own state (allocated
//! once per thread) already in place. The same every run on one machine (dashmap's
//! shard count, and so its heap, follows the number of CPUs).
//!
//! ```text
//! cargo run --release -p mapguard-benches --bin map-bytes            # a table
//! cargo run --release -p mapguard-benches --bin map-bytes -- --json  # JSON lines
//! ```

use std::alloc::System;
use std::process::ExitCode;
use std::sync::RwLock;

use cap::Cap;
use mapguard::Scope;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// One map type's bytes per map.
#[derive(serde::Serialize)]
struct Row {
    family: &'static str,
    variant: &'static str,
    /// `size_of` the map.
    inline_bytes: usize,
    /// Heap bytes live per map once it holds one entry.
    heap_bytes: f64,
    /// The raw map's `inline_bytes + heap_bytes`.
    raw_bytes: f64,
    /// This map's `inline_bytes + heap_bytes` minus the raw map's.
    beyond_raw: f64,
}

/// Builds `n` maps with `make`, gives each one entry with `touch`, and returns the
/// inline size and the heap bytes per map that stay live.
fn measure<M>(n: usize, make: impl Fn() -> M, touch: impl Fn(&M)) -> (usize, f64) {
    let mut maps: Vec<M> = Vec::with_capacity(n);
    let before = ALLOCATOR.allocated();
    maps.extend((0..n).map(|_| make()));
    maps.iter().for_each(touch);
    let heap = ALLOCATOR.allocated().saturating_sub(before) as f64 / n as f64;
    drop(maps);
    (std::mem::size_of::<M>(), heap)
}

fn parse() -> Result<(bool, usize), String> {
    let (mut json, mut maps) = (false, 2000);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--maps" => {
                let v = it.next().ok_or("--maps needs a value")?;
                maps = v
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or(format!("--maps {v:?}: a whole number >= 1"))?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}: accepted --json, --maps N"
                ));
            }
        }
    }
    Ok((json, maps))
}

fn main() -> ExitCode {
    let (json, n) = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("map-bytes: {e}");
            return ExitCode::from(2);
        }
    };
    // The guard on (it is off unless told), as in `overhead`; then one access, so
    // that the thread's own state (registered once per thread) is not counted
    // against the maps.
    mapguard_benches::cases::install();
    mapguard::DashMap::<u64, u64>::new()
        .with_scope(Scope::Key)
        .insert(0, 0);
    let dash = |scope| {
        measure(
            n,
            move || mapguard::DashMap::<u64, u64>::named("bench").with_scope(scope),
            |m| {
                m.insert(1, 1);
            },
        )
    };
    let std_map = |scope| {
        measure(
            n,
            move || RwLock::new(mapguard::HashMap::<u64, u64>::named("bench").with_scope(scope)),
            |m| {
                m.write().expect("bench lock").insert(1, 1);
            },
        )
    };
    let families = [
        (
            "dashmap",
            measure(n, dashmap::DashMap::<u64, u64>::new, |m| {
                m.insert(1, 1);
            }),
            [("on_map", dash(Scope::Map)), ("on_key", dash(Scope::Key))],
        ),
        (
            "std",
            measure(
                n,
                || RwLock::new(std::collections::HashMap::<u64, u64>::new()),
                |m| {
                    m.write().expect("bench lock").insert(1, 1);
                },
            ),
            [
                ("on_map", std_map(Scope::Map)),
                ("on_key", std_map(Scope::Key)),
            ],
        ),
    ];
    if !json {
        println!(
            "{:<8} {:<8} {:>7} {:>10} {:>10} {:>11}",
            "family", "variant", "inline", "heap", "raw", "beyond raw"
        );
    }
    for (family, (raw_inline, raw_heap), guarded) in families {
        let raw_bytes = raw_inline as f64 + raw_heap;
        let raw = ("raw", (raw_inline, raw_heap));
        for (variant, (inline, heap)) in std::iter::once(raw).chain(guarded) {
            let row = Row {
                family,
                variant,
                inline_bytes: inline,
                heap_bytes: heap,
                raw_bytes,
                beyond_raw: inline as f64 + heap - raw_bytes,
            };
            if json {
                println!("{}", serde_json::to_string(&row).expect("a row serialises"));
            } else {
                println!(
                    "{:<8} {:<8} {:>7} {:>10.1} {:>10.1} {:>11.1}",
                    row.family,
                    row.variant,
                    row.inline_bytes,
                    row.heap_bytes,
                    row.raw_bytes,
                    row.beyond_raw
                );
            }
        }
    }
    ExitCode::SUCCESS
}
