//! The benches' hasher: SipHash-1-3 with keys 0 and 0, the algorithm and output of
//! std's `DefaultHasher::new()`, with every step `#[inline(always)]`.
//!
//! Why not std's: whether the compiler inlined std's SipHash into the loops (raw and
//! guarded alike) moved with unrelated code. One build's raw std `get` ran 129
//! instructions, the next one's 186, after a field no std loop touches was taken out
//! of a struct, so no std ratio could be compared across builds. Forced inline, raw
//! is the same loop in every build, and the faster one: the harder baseline for the
//! guard. The `siphasher` crate marks its steps `#[inline]` only, which leaves the
//! same decision to the compiler.

use std::hash::{BuildHasher, Hasher};

/// [`Sip13`]'s builder: every hasher starts from the same fixed keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedSip13;

impl BuildHasher for FixedSip13 {
    type Hasher = Sip13;

    #[inline(always)]
    fn build_hasher(&self) -> Sip13 {
        Sip13::new()
    }
}

/// SipHash-1-3 with keys 0 and 0 (std's `DefaultHasher::new()`): the same output for
/// the same writes, checked by this module's tests.
#[derive(Clone, Copy, Debug)]
pub struct Sip13 {
    v0: u64,
    v1: u64,
    v2: u64,
    v3: u64,
    /// Bytes written but not yet compressed (fewer than 8), little-endian.
    tail: u64,
    ntail: usize,
    /// Bytes written in all; its low byte goes into the last block.
    length: usize,
}

impl Default for Sip13 {
    #[inline(always)]
    fn default() -> Self {
        Self::new()
    }
}

impl Sip13 {
    /// A hasher with keys 0 and 0.
    #[inline(always)]
    pub fn new() -> Self {
        let (k0, k1) = (0u64, 0u64);
        Sip13 {
            v0: k0 ^ 0x736f_6d65_7073_6575,
            v1: k1 ^ 0x646f_7261_6e64_6f6d,
            v2: k0 ^ 0x6c79_6765_6e65_7261,
            v3: k1 ^ 0x7465_6462_7974_6573,
            tail: 0,
            ntail: 0,
            length: 0,
        }
    }

    #[inline(always)]
    fn round(&mut self) {
        self.v0 = self.v0.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(13) ^ self.v0;
        self.v0 = self.v0.rotate_left(32);
        self.v2 = self.v2.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(16) ^ self.v2;
        self.v0 = self.v0.wrapping_add(self.v3);
        self.v3 = self.v3.rotate_left(21) ^ self.v0;
        self.v2 = self.v2.wrapping_add(self.v1);
        self.v1 = self.v1.rotate_left(17) ^ self.v2;
        self.v2 = self.v2.rotate_left(32);
    }

    /// One 8-byte block, one compression round (the "1" of 1-3).
    #[inline(always)]
    fn block(&mut self, m: u64) {
        self.v3 ^= m;
        self.round();
        self.v0 ^= m;
    }
}

impl Hasher for Sip13 {
    #[inline(always)]
    fn write(&mut self, msg: &[u8]) {
        self.length += msg.len();
        let mut rest = msg;
        if self.ntail != 0 {
            let needed = 8 - self.ntail;
            let take = needed.min(rest.len());
            self.tail |= le_bytes(&rest[..take]) << (8 * self.ntail);
            if take < needed {
                self.ntail += take;
                return;
            }
            let m = self.tail;
            self.block(m);
            self.ntail = 0;
            self.tail = 0;
            rest = &rest[take..];
        }
        let mut blocks = rest.chunks_exact(8);
        for b in &mut blocks {
            self.block(u64::from_le_bytes(b.try_into().expect("8 bytes")));
        }
        let left = blocks.remainder();
        self.tail = le_bytes(left);
        self.ntail = left.len();
    }

    /// What `u64`'s `Hash` calls: a whole block when no bytes wait, as `write` would
    /// make of its native-endian bytes.
    #[inline(always)]
    fn write_u64(&mut self, i: u64) {
        if self.ntail == 0 {
            self.length += 8;
            self.block(u64::from_le_bytes(i.to_ne_bytes()));
        } else {
            self.write(&i.to_ne_bytes());
        }
    }

    #[inline(always)]
    fn finish(&self) -> u64 {
        let mut s = *self;
        let b = ((s.length as u64 & 0xff) << 56) | s.tail;
        s.block(b);
        s.v2 ^= 0xff;
        s.round();
        s.round();
        s.round();
        s.v0 ^ s.v1 ^ s.v2 ^ s.v3
    }
}

/// Up to 8 bytes as a little-endian number.
#[inline(always)]
fn le_bytes(b: &[u8]) -> u64 {
    debug_assert!(b.len() <= 8);
    b.iter()
        .enumerate()
        .fold(0, |acc, (i, &x)| acc | (u64::from(x) << (8 * i)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasherDefault, DefaultHasher, Hash};

    fn std_of(f: impl Fn(&mut dyn Hasher)) -> u64 {
        let mut h = DefaultHasher::new();
        f(&mut h);
        h.finish()
    }

    fn ours_of(f: impl Fn(&mut dyn Hasher)) -> u64 {
        let mut h = Sip13::new();
        f(&mut h);
        h.finish()
    }

    #[test]
    fn a_u64_hashes_as_std_default_hasher_does() {
        let std_build = BuildHasherDefault::<DefaultHasher>::default();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for k in (0..2000u64).chain([u64::MAX, 1 << 63]) {
            assert_eq!(FixedSip13.hash_one(k), std_build.hash_one(k), "key {k}");
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            assert_eq!(FixedSip13.hash_one(x), std_build.hash_one(x), "key {x}");
        }
    }

    #[test]
    fn any_split_of_bytes_hashes_as_std_does() {
        let bytes: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for len in 0..bytes.len() {
            let msg = &bytes[..len];
            let whole = std_of(|h| h.write(msg));
            assert_eq!(ours_of(|h| h.write(msg)), whole, "len {len}");
            for cut in 0..=len {
                let (a, b) = msg.split_at(cut);
                let split = |h: &mut dyn Hasher| {
                    h.write(a);
                    h.write(b);
                };
                assert_eq!(ours_of(split), std_of(split), "len {len} cut {cut}");
            }
        }
    }

    #[test]
    fn a_u64_after_odd_bytes_hashes_as_std_does() {
        for lead in 0..9usize {
            let lead_bytes = vec![0xabu8; lead];
            let f = |h: &mut dyn Hasher| {
                h.write(&lead_bytes);
                h.write_u64(0x0123_4567_89ab_cdef);
                (7u32, "key").hash(&mut HasherRef(h));
            };
            assert_eq!(ours_of(f), std_of(f), "lead {lead}");
        }
    }

    /// `Hash::hash` takes a sized hasher.
    struct HasherRef<'a>(&'a mut dyn Hasher);
    impl Hasher for HasherRef<'_> {
        fn write(&mut self, b: &[u8]) {
            self.0.write(b);
        }
        fn finish(&self) -> u64 {
            self.0.finish()
        }
    }
}
