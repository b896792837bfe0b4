//! Every pattern the recommended `clippy.toml` forbids. `check.py` expects clippy
//! to flag exactly the lines marked `// lint: <lint> <path>`, each with the reason
//! the config gives for that path, and nothing else.

use dashmap::DashMap as Plain; // lint: disallowed_types dashmap::DashMap

type PlainMap = Plain<u32, u32>; // lint: disallowed_types dashmap::DashMap

/// Each call hands out a guard holding a shard lock, or walks the live map.
fn plain_dashmap(plain: &PlainMap) -> u32 {
    let v = *plain.get(&1).unwrap(); // lint: disallowed_methods dashmap::DashMap::get
    let r = plain.get_mut(&1); // lint: disallowed_methods dashmap::DashMap::get_mut
    if let Some(mut r) = r {
        *r += 1;
    }
    let sum: u32 = plain.iter().map(|r| *r.value()).sum(); // lint: disallowed_methods dashmap::DashMap::iter
    let all = plain.iter_mut(); // lint: disallowed_methods dashmap::DashMap::iter_mut
    for mut r in all {
        *r += 1;
    }
    v + sum
}

/// The same calls on the guarded map: checked at run time, and still the patterns
/// to avoid.
fn guarded(map: &mapguard::DashMap<u32, u32>) -> u32 {
    let v = *map.get(&1).unwrap(); // lint: disallowed_methods mapguard::DashMap::get
    let r = map.get_mut(&1); // lint: disallowed_methods mapguard::DashMap::get_mut
    if let Some(mut r) = r {
        *r = v + 1;
    }
    let sum: u32 = map.iter().map(|r| *r.value()).sum(); // lint: disallowed_methods mapguard::DashMap::iter
    let all = map.iter_mut(); // lint: disallowed_methods mapguard::DashMap::iter_mut
    for mut r in all {
        *r += 1;
    }
    sum
}

fn main() {
    let plain = Plain::new(); // lint: disallowed_types dashmap::DashMap
    plain.insert(1, 1);
    let map = mapguard::DashMap::new();
    map.insert(1, 1);
    println!("{} {}", plain_dashmap(&plain), guarded(&map));
}
