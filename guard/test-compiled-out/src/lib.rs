//! Empty: the tests are in `tests/compiled_out.rs` and `tests/attribute.rs`. A package needs a target, and
//! this one has nothing else to build.
