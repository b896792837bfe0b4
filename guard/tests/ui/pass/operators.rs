// DashMap's operator shorthands on a `#[guard]` field (operators do not deref).
use dashmap::DashMap;

#[mapguard::guarded]
#[derive(Default)]
struct Shop {
    #[guard]
    cache: DashMap<u8, u8>,
}

fn main() {
    let s = Shop::default();
    assert_eq!(&s.cache << (1, 2), None);
    assert_eq!(*(&s.cache >> &1), 2);
    let _ = &s.cache | &1;
    assert!(&s.cache & &1);
    assert_eq!(&s.cache - &1, Some((1, 2)));
}
