//! Shared workloads for mapguard's benchmarks: the same key sequence for every
//! variant, so raw and guarded maps do identical work, and the cases the
//! `overhead` binary measures.

pub mod cases;

/// `n` pseudo-random keys in `0..space`, the same on every run (xorshift).
pub fn keys(n: usize, space: u64) -> Vec<u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % space
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_deterministic_and_in_range() {
        let a = super::keys(1000, 64);
        assert_eq!(a, super::keys(1000, 64));
        assert!(a.iter().all(|k| *k < 64));
        assert!(a.iter().collect::<std::collections::HashSet<_>>().len() > 32);
    }
}
