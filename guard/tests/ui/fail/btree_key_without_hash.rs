// A BTreeMap key that is `Ord` but not `Hash`: the checked method is still the one
// called, and the error names the missing `Hash` (it used to fall through `Deref`
// to std's unchecked method, or fail with "cannot borrow as mutable").
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Id(u32);

fn main() {
    let mut m: mapguard::BTreeMap<Id, u32> = mapguard::BTreeMap::new();
    m.insert(Id(1), 1);
    let _ = m.get(&Id(1));
}
