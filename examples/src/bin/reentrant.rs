//! reentrant: the DashMap deadlock mapguard stops before it happens.
//!
//! `if let Some(r) = map.get(&k) { map.insert(k, *r + 1) }` holds a read guard on
//! k's shard and then asks for that shard's write lock: dashmap waits forever
//! (dashmap issues #74, #363, #369). With reaction `panic` mapguard panics *before*
//! taking the lock, the panic is caught here, and the report names both sites.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mapguard::{BacktraceMode, Config, DashMap, Reaction};

fn main() {
    Config::new()
        .reaction(Reaction::Panic)
        .backtrace(BacktraceMode::Off)
        .install()
        .expect("valid settings");
    // Keep the default panic message off stderr: the report below says it all.
    std::panic::set_hook(Box::new(|_| {}));

    let visits: DashMap<&str, u64> = DashMap::named("visits");
    visits.insert("/home", 1);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if let Some(count) = visits.get("/home") {
            visits.insert("/home", *count + 1); // without mapguard: deadlock, here
        }
    }));
    mapguard::flush();
    match outcome {
        Err(_) => println!(
            "reentrant: caught before the deadlock; the map still reads {}",
            *visits.get("/home").unwrap()
        ),
        Ok(()) => println!("reentrant: no panic (the guard is off?)"),
    }
}
