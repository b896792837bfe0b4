//! Shared workloads for mapguard's benchmarks: the same key sequence for every
//! variant, so raw and guarded maps do identical work, and the cases the
//! `overhead` binary measures.

pub mod cases;
pub mod sip;

/// `n` pseudo-random keys in `0..space`, the same on every run (xorshift).
pub fn keys(n: usize, space: u64) -> Vec<u64> {
    seeded_keys(n, space, 0)
}

/// [`keys`] from another starting point: sequences with different seeds are
/// independent of each other (the same seed gives the same sequence).
pub fn seeded_keys(n: usize, space: u64, seed: u64) -> Vec<u64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0xd6e8_feb8_6659_fd93);
    if x == 0 {
        x = 1;
    }
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % space
        })
        .collect()
}

/// The machine a table was measured on, for its first line: the processor's model
/// name from `cpuinfo` (Linux's `/proc/cpuinfo`; "unknown processor" without one)
/// and the logical CPUs this process may use. Times, and so ratios, differ between
/// processors on the same binary; instruction counts do not.
pub fn machine_line(cpuinfo: Option<&str>, cpus: Option<usize>) -> String {
    let model = cpuinfo
        .and_then(|text| {
            text.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == "model name").then(|| value.trim().to_string())
            })
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "unknown processor".to_string());
    let cpus = cpus.map_or_else(|| "unknown".to_string(), |n| n.to_string());
    format!("# machine: {model}, {cpus} logical CPUs")
}

#[cfg(test)]
mod tests {
    #[test]
    fn machine_line_names_the_model_and_the_cpus() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\n\
                       model name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(
            super::machine_line(Some(cpuinfo), Some(2)),
            "# machine: AMD EPYC 7B13, 2 logical CPUs"
        );
        // `model` alone is not the model name; no cpuinfo, no CPU count.
        assert_eq!(
            super::machine_line(Some("model\t: 1\n"), None),
            "# machine: unknown processor, unknown logical CPUs"
        );
        assert_eq!(
            super::machine_line(None, Some(4)),
            "# machine: unknown processor, 4 logical CPUs"
        );
    }

    #[test]
    fn keys_are_deterministic_and_in_range() {
        let a = super::keys(1000, 64);
        assert_eq!(a, super::keys(1000, 64));
        assert!(a.iter().all(|k| *k < 64));
        assert!(a.iter().collect::<std::collections::HashSet<_>>().len() > 32);
    }

    #[test]
    fn seeded_sequences_are_independent() {
        // The read/write dice of the mixed cases: drawn from the keys' own sequence
        // they were the key modulo 100, so a key was always read or always written.
        let k = super::keys(8192, 1000);
        let dice = super::seeded_keys(8192, 100, 1);
        let written: std::collections::HashSet<_> = k
            .iter()
            .zip(&dice)
            .filter(|(_, d)| **d >= 90)
            .map(|(k, _)| *k)
            .collect();
        let read: std::collections::HashSet<_> = k
            .iter()
            .zip(&dice)
            .filter(|(_, d)| **d < 90)
            .map(|(k, _)| *k)
            .collect();
        assert!(written.intersection(&read).count() > 100);
        assert_ne!(
            super::seeded_keys(100, 1000, 2),
            super::seeded_keys(100, 1000, 3)
        );
    }
}
