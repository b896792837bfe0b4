//! Feature `rayon`: the guarded DashMap's parallel iterators are live iterations from
//! the call until driven, `par_iter_mut` and `par_extend` are writes, and a map
//! collected in parallel gets a name of its own. Timing runs on a `ManualClock`.

mod common;

use common::{found, here, memory, on};
use mapguard::{DashMap, FindingKind::*, ManualClock, Op};
use rayon::prelude::*;

#[test]
fn par_iter_is_a_live_iteration_until_driven() {
    memory();
    let m: DashMap<u64, u64> = DashMap::named("rayon-iter").with_clock(ManualClock::new());
    m.insert(1, 1);
    m.insert(2, 2);
    let at = here();
    let it = m.par_iter();
    on("writer", || m.insert(3, 3));
    let sum: u64 = it.map(|r| *r.value()).sum();
    assert_eq!(sum, 6, "the write landed before the drive");
    let f = found(WriteDuringIteration, "rayon-iter");
    assert_eq!(f.len(), 1, "{f:#?}");
    let live = f[0].accesses.iter().find(|a| a.op == Op::Iter).unwrap();
    assert_eq!(live.site.line, at.1 + 1);
    // Consumed by the drive: no longer live.
    on("writer-2", || m.insert(4, 4));
    assert_eq!(found(WriteDuringIteration, "rayon-iter").len(), 1);
    // Through rayon's own trait, too.
    let n = (&m).into_par_iter().count();
    assert_eq!(n, 4);
    on("writer-3", || m.insert(5, 5));
    assert_eq!(found(WriteDuringIteration, "rayon-iter").len(), 1);
}

#[test]
fn par_iter_mut_is_a_map_wide_write() {
    memory();
    let m: DashMap<u64, u64> = DashMap::named("rayon-iter-mut").with_clock(ManualClock::new());
    on("a", || m.insert(1, 1));
    let at = here();
    on("b", || {
        m.par_iter_mut().for_each(|mut r| *r.value_mut() += 10)
    });
    assert_eq!(*m.get(&1).unwrap(), 11);
    let f = found(ConcurrentWrite, "rayon-iter-mut");
    assert_eq!(f.len(), 1, "{f:#?}");
    let last = f[0].accesses.last().unwrap();
    assert_eq!((last.op, last.site.line), (Op::IterMut, at.1 + 2));
}

#[test]
fn par_extend_is_one_write_at_its_call() {
    memory();
    let m: DashMap<u64, u64> = DashMap::named("rayon-extend").with_clock(ManualClock::new());
    on("a", || m.insert(0, 0));
    let at = here();
    on("b", || {
        (&m).par_extend((1..1000u64).into_par_iter().map(|i| (i, i)))
    });
    assert_eq!(m.len(), 1000);
    let f = found(ConcurrentWrite, "rayon-extend");
    assert_eq!(
        f.len(),
        1,
        "one finding for the call, none for its inserts: {f:#?}"
    );
    let last = f[0].accesses.last().unwrap();
    assert_eq!((last.op, last.site.line), (Op::Extend, at.1 + 2));
}

#[test]
fn collected_in_parallel_and_consumed_in_parallel() {
    let a: DashMap<u64, u64> = (0..100u64).into_par_iter().map(|i| (i, i * 2)).collect();
    let b: DashMap<u64, u64> = (0..100u64).into_par_iter().map(|i| (i, i)).collect();
    assert!(
        a.name().starts_with("unnamed DashMap<u64, u64"),
        "{}",
        a.name()
    );
    assert_eq!(a.name(), b.name(), "named by type, stable across runs");
    assert_eq!(*a.get(&7).unwrap(), 14);
    let mut owned: Vec<(u64, u64)> = a.into_par_iter().collect();
    owned.sort_unstable();
    assert_eq!(owned.len(), 100);
    assert_eq!(owned[99], (99, 198));
    let mut c: DashMap<u64, u64> = DashMap::named("rayon-owned-extend");
    c.par_extend(b.into_par_iter());
    assert_eq!(c.len(), 100);
    (&mut c)
        .into_par_iter()
        .for_each(|mut r| *r.value_mut() += 1);
    assert_eq!(*c.get(&7).unwrap(), 8);
}
