// A struct named with a raw identifier (valid Rust): the macro panics building the
// marker ident from "r#match".
use dashmap::DashMap;

#[mapguard::guarded]
#[derive(Default)]
#[allow(non_camel_case_types)]
struct r#match {
    #[guard]
    m: DashMap<u8, u8>,
}

fn main() {
    assert_eq!(r#match::default().m.name(), "match.m");
}
