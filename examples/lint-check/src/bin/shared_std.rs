//! A std map in shared state. Clean under the recommended `clippy.toml`; flagged
//! on the marked lines once its optional block (std maps) is switched on.

use std::sync::{Arc, RwLock};

type Sessions = Arc<RwLock<std::collections::HashMap<u64, String>>>; // lint: disallowed_types std::collections::HashMap
type Ordered = Arc<RwLock<std::collections::BTreeMap<u64, String>>>; // lint: disallowed_types std::collections::BTreeMap
type Guarded = Arc<RwLock<mapguard::HashMap<u64, String>>>;

fn main() {
    let sessions: Sessions = Arc::default();
    let ordered: Ordered = Arc::default();
    let guarded: Guarded = Arc::new(RwLock::new(mapguard::HashMap::named("sessions")));
    sessions.write().unwrap().insert(1, "a".into());
    ordered.write().unwrap().insert(1, "a".into());
    guarded.write().unwrap().insert(1, "a".into());
    println!("{}", guarded.read().unwrap().len());
}
