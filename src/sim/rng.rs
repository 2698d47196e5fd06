//! A tiny seeded generator (SplitMix64) and the random choices the
//! simulation makes with it.
//!
//! Own code rather than `rand`: the demo's output must stay the same for a
//! seed across dependency upgrades, so tests can pin what a seed produces,
//! and nothing here needs cryptographic quality.

/// SplitMix64 (Steele, Lea, Flood 2014): one add and a few mixes per number.
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// The URL-safe base64 alphabet (RFC 4648 section 5).
pub const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl SimRng {
    pub fn new(seed: u64) -> Self {
        SimRng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        // The top 53 bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift instead of `%`: no modulo bias worth mentioning.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [lo, hi] (inclusive).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Standard normal, by Box–Muller.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit(); // (0, 1]: ln stays finite
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Base62 with at least one digit, one upper and one lower case letter,
    /// as every real token generator's output has at this length: detectors
    /// that look for "random-looking" text must find it every time.
    pub fn token62(&mut self, len: usize) -> String {
        let mut bytes: Vec<u8> = (0..len).map(|_| *self.pick(BASE62)).collect();
        if len >= 3 {
            let classes: [&[u8]; 3] = [&BASE62[..10], &BASE62[10..36], &BASE62[36..]];
            for (slot, class) in classes.iter().enumerate() {
                let at = slot * len / 3 + self.below((len / 3) as u64) as usize;
                bytes[at] = *self.pick(class);
            }
        }
        String::from_utf8(bytes).expect("base62 is ASCII")
    }

    pub fn base64url(&mut self, len: usize) -> String {
        (0..len).map(|_| *self.pick(BASE64URL) as char).collect()
    }

    /// Lower-case hex that starts with a letter, so no run of its digits can
    /// stand alone and look like a card number.
    pub fn hex_id(&mut self, len: usize) -> String {
        const HEX: &[u8] = b"0123456789abcdef";
        let mut s = String::with_capacity(len);
        s.push(*self.pick(&HEX[10..]) as char);
        s.extend((1..len).map(|_| *self.pick(HEX) as char));
        s
    }

    /// A version-4 UUID, lower case.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        let b = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0x0FFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }
}

/// SplitMix64's finaliser, also used on its own to hash (seed, position)
/// into noise that does not depend on call order.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [-1, 1] from a hash of its inputs.
pub fn hash_signed(seed: u64, a: u64, b: u64) -> f64 {
    let h = mix(seed ^ mix(a.wrapping_add(mix(b))));
    (h >> 11) as f64 * (2.0 / (1u64 << 53) as f64) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let (mut a, mut b) = (SimRng::new(7), SimRng::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SimRng::new(7).next_u64(), SimRng::new(8).next_u64());
    }

    #[test]
    fn draws_stay_in_their_ranges() {
        let mut r = SimRng::new(1);
        for _ in 0..10_000 {
            assert!((0.0..1.0).contains(&r.unit()));
            assert!(r.below(3) < 3);
            assert!((5..=9).contains(&r.range(5, 9)));
            assert!((-1.0..=1.0).contains(&hash_signed(1, r.next_u64(), 2)));
        }
    }

    #[test]
    fn tokens_mix_every_character_class() {
        let mut r = SimRng::new(3);
        for _ in 0..1000 {
            let t = r.token62(40);
            assert_eq!(t.len(), 40);
            assert!(t.bytes().any(|b| b.is_ascii_digit()), "{t}");
            assert!(t.bytes().any(|b| b.is_ascii_uppercase()), "{t}");
            assert!(t.bytes().any(|b| b.is_ascii_lowercase()), "{t}");
        }
    }

    #[test]
    fn uuids_have_the_v4_shape() {
        let u = SimRng::new(9).uuid();
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!("89ab".contains(&parts[3][..1]));
    }
}
