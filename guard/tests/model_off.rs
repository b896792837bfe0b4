//! Model tests with the guard off: the same random operation sequences as
//! `model.rs` (see `common_model`), in a binary that never enables the guard.
//! `MAPGUARD` is unset in the test environment, so the guard stays off.

mod common_model;

use common_model::{btree_ops, check_btree, check_dash, check_hash, dash_ops, hash_ops};
use mapguard::{BTreeMap, DashMap, HashMap};
use proptest::prelude::*;

/// Asserts the guard is off (`MAPGUARD` unset, nothing installed).
fn assert_off() {
    assert!(
        !mapguard::is_enabled(),
        "the guard should be off: is MAPGUARD set in the environment?"
    );
}

/// Runs `check` and asserts the guard stayed off and counted nothing.
fn unchecked(check: impl FnOnce() -> Result<(), TestCaseError>) -> Result<(), TestCaseError> {
    assert_off();
    check()?;
    assert_off();
    prop_assert_eq!(
        mapguard::stats().operations,
        0,
        "the guard counted operations while off"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn dashmap_matches_plain_guard_off(ops in dash_ops()) {
        unchecked(|| check_dash(DashMap::named("model-dash"), &ops))?;
    }

    #[test]
    fn hash_map_matches_std_guard_off(ops in hash_ops()) {
        unchecked(|| check_hash(HashMap::named("model-hash"), &ops))?;
    }

    #[test]
    fn btree_map_matches_std_guard_off(ops in btree_ops()) {
        unchecked(|| check_btree(BTreeMap::named("model-btree"), &ops))?;
    }
}
