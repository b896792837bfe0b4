// std's BTreeMap (and mapguard::BTreeMap) are Hash + PartialOrd + Ord; a struct that
// derives them keeps compiling after `#[guard]`?
use std::collections::BTreeMap;

#[mapguard::guarded]
#[derive(Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Version {
    #[guard]
    parts: BTreeMap<u32, u32>,
}

fn main() {
    let a = Version::default();
    let b = Version::default();
    assert!(a <= b);
}
