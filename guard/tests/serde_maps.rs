//! Feature `serde`: the guarded maps serialise as the plain maps do, and
//! deserialise into guarded maps with the same contents.
#![cfg(feature = "serde")]

use mapguard::{BTreeMap, DashMap, HashMap};

#[test]
fn guarded_maps_round_trip_like_the_plain_ones() {
    let d: DashMap<String, u32> = DashMap::named("serde-dash");
    d.insert("a".into(), 1);
    d.insert("b".into(), 2);
    let plain: dashmap::DashMap<String, u32> = [("a".to_string(), 1), ("b".to_string(), 2)]
        .into_iter()
        .collect();
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json, serde_json::to_value(&plain).unwrap());
    let back: DashMap<String, u32> = serde_json::from_value(json).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(*back.get("b").unwrap(), 2);

    let mut h: HashMap<u8, Vec<u8>> = HashMap::named("serde-hash");
    h.insert(1, vec![1, 2]);
    let json = serde_json::to_string(&h).unwrap();
    assert_eq!(json, r#"{"1":[1,2]}"#);
    let back: HashMap<u8, Vec<u8>> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.get(&1), Some(&vec![1, 2]));

    let mut b: BTreeMap<u8, &str> = BTreeMap::named("serde-btree");
    b.insert(2, "two");
    b.insert(1, "one");
    let json = serde_json::to_string(&b).unwrap();
    assert_eq!(json, r#"{"1":"one","2":"two"}"#);
    let back: BTreeMap<u8, String> = serde_json::from_str(&json).unwrap();
    assert_eq!(back.get(&2).map(String::as_str), Some("two"));
}

// dashmap 6 serialises its guards (`Ref`, `RefMut`, `MappedRef`, `MappedRefMut`) as
// the value they point at; mapguard's guards do too.
#[test]
fn guards_serialise_as_dashmaps_do() {
    let plain: dashmap::DashMap<u8, Vec<u8>> = dashmap::DashMap::new();
    plain.insert(1, vec![1, 2]);
    let m: DashMap<u8, Vec<u8>> = DashMap::named("rv-serde-guards");
    m.insert(1, vec![1, 2]);
    assert_eq!(
        serde_json::to_string(&m.get(&1).unwrap()).unwrap(),
        serde_json::to_string(&plain.get(&1).unwrap()).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&m.get_mut(&1).unwrap()).unwrap(),
        serde_json::to_string(&plain.get_mut(&1).unwrap()).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&m.get(&1).unwrap().map(|v| &v[0])).unwrap(),
        serde_json::to_string(&plain.get(&1).unwrap().map(|v| &v[0])).unwrap()
    );
    assert_eq!(
        serde_json::to_string(&m.get_mut(&1).unwrap().map(|v| &mut v[1])).unwrap(),
        serde_json::to_string(&plain.get_mut(&1).unwrap().map(|v| &mut v[1])).unwrap()
    );
}
