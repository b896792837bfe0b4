//! The attribute's compile-time behaviour, and the maps' bounds: each form compiles
//! (`tests/ui/pass`) and each error is one clear message at the offending token (`tests/ui/fail`, with the
//! expected compiler output next to each case). Regenerate with `TRYBUILD=overwrite`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
