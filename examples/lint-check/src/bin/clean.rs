//! The program of `forbidden.rs` written with the safe calls: clippy, with the
//! recommended `clippy.toml`, must flag nothing here.

use mapguard::DashMap;

fn guarded(map: &DashMap<u32, u32>) -> u32 {
    let v = map.get_cloned(&1).unwrap_or(0); // an owned value: no guard held
    map.update(&1, |r| *r = v + 1); // read-modify-write under one lock
    let sum: u32 = map.snapshot().iter().map(|(_, v)| *v).sum(); // a consistent copy
    map.alter_all(|_, v| v + 1);
    map.retain(|_, v| *v < 100);
    let old = map.compute(2, |v| Some(v.copied().unwrap_or(0) + 1));
    let first = map.get_or_insert_with(3, || 7);
    let _ = map.insert_if_absent(4, 4);
    let _ = map.remove_if_eq(&4, &4);
    let viewed = map.view(&1, |_, v| *v).unwrap_or_default();
    sum + old.unwrap_or(0) + first + viewed + map.get_or_default(&9)
}

fn main() {
    let map = DashMap::new();
    map.insert(1, 1);
    println!("{}", guarded(&map));
}
