//! Model tests with the guard on: random operation sequences give the same results
//! on mapguard's maps as on the plain maps. The operations and the comparisons are
//! in `common_model`; `model_off.rs` runs them with the guard off.
//!
//! The guard is global, so it is installed once (on, no output) and stays on for
//! the whole binary: the tests run in parallel threads and never switch it off.
//! Each map is used by one thread only, so nothing should be found either.

mod common_model;

use std::sync::Once;

use common_model::{Op, btree_ops, check_btree, check_dash, check_hash, dash_ops, hash_ops};
use mapguard::{BTreeMap, DashMap, HashMap, Mode, Scope};
use proptest::prelude::*;

/// Installs the guard (on, no output) the first time; asserts it is on.
fn guard_on() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        mapguard::Config::new()
            .outputs(vec![])
            .install()
            .expect("valid config")
    });
    assert!(mapguard::is_enabled(), "the guard should be on");
}

/// Runs `check` and asserts the guard counted operations while it ran (when `ops`
/// has an `insert`, which every map checks) and found nothing.
fn checked(
    ops: &[Op],
    check: impl FnOnce() -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let before = mapguard::stats().operations;
    check()?;
    if ops.iter().any(|op| matches!(op, Op::Insert(..))) {
        prop_assert!(
            mapguard::stats().operations > before,
            "the guard checked no operation"
        );
    }
    prop_assert_eq!(
        mapguard::stats().findings,
        0,
        "single-threaded use found something"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn dashmap_matches_plain_guard_on(ops in dash_ops()) {
        guard_on();
        checked(&ops, || check_dash(DashMap::named("model-dash"), &ops))?;
        checked(&ops, || {
            let map = DashMap::named(String::from("model-dash-key"))
                .with_scope(Scope::Key)
                .with_mode(Mode::Accesses);
            check_dash(map, &ops)
        })?;
    }

    #[test]
    fn hash_map_matches_std_guard_on(ops in hash_ops()) {
        guard_on();
        checked(&ops, || check_hash(HashMap::named("model-hash"), &ops))?;
        checked(&ops, || {
            let map = HashMap::named(String::from("model-hash-key"))
                .with_scope(Scope::Key)
                .with_mode(Mode::Accesses);
            check_hash(map, &ops)
        })?;
    }

    #[test]
    fn btree_map_matches_std_guard_on(ops in btree_ops()) {
        guard_on();
        checked(&ops, || check_btree(BTreeMap::named("model-btree"), &ops))?;
        checked(&ops, || {
            let map = BTreeMap::named(String::from("model-btree-key"))
                .with_scope(Scope::Key)
                .with_mode(Mode::Accesses);
            check_btree(map, &ops)
        })?;
    }
}
