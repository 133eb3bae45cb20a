//! `shuffle`: a list in random order, or with `seed=` in the order
//! Ansible's gives for that seed. Ansible shuffles with Python's
//! `random.Random(seed).shuffle`, so a seeded shuffle (`shuffle(seed=
//! inventory_hostname)`, the usual way to spread cron minutes) reproduces
//! Python's Mersenne Twister, its seeding of strings and integers, and its
//! `shuffle`: a host keeps the order it had under Ansible.

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value};
use sha2::{Digest, Sha512};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("shuffle", shuffle);
}

/// `list | shuffle` / `list | shuffle(seed='x')`. As Ansible, a value
/// that is not a sequence is returned as it is (a string as its characters).
fn shuffle(value: &Value, seed: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let seed = match seed {
        Some(s) => Some(s),
        None => kwargs.get::<Option<Value>>("seed")?,
    };
    kwargs.assert_all_used()?;
    let Ok(iter) = value.try_iter() else {
        return Ok(value.clone());
    };
    if value.kind() == ValueKind::Map {
        return Ok(value.clone());
    }
    let mut items: Vec<Value> = iter.collect();
    let mut rng = match seed.filter(|s| s.is_true()) {
        Some(seed) => Mt19937::from_seed(&seed),
        None => Mt19937::from_entropy()?,
    };
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
    Ok(Value::from(items))
}

/// Python's `random.Random` generator (MT19937), enough of it for
/// `shuffle`.
pub struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Mt19937 {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            state[i] = 1_812_433_253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, index: 624 }
    }

    /// The reference `init_by_array`, which Python's `seed()` calls with
    /// the seed's 32-bit words, least significant first.
    fn from_key(key: &[u32]) -> Mt19937 {
        let mut mt = Mt19937::new(19_650_218);
        let s = &mut mt.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..624.max(key.len()) {
            s[i] = (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                s[0] = s[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            s[i] = (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                s[0] = s[623];
                i = 1;
            }
        }
        s[0] = 0x8000_0000;
        mt
    }

    /// As `random.Random(seed)`: a string by its UTF-8 bytes followed by
    /// their SHA-512, read as one big-endian number; an integer by its
    /// absolute value; anything else by its text.
    pub fn from_seed(seed: &Value) -> Mt19937 {
        let number: Vec<u8> = match i64::try_from(seed.clone()) {
            Ok(n) if seed.kind() == ValueKind::Number => n.unsigned_abs().to_be_bytes().to_vec(),
            _ => {
                let text = match seed.as_str() {
                    Some(s) => s.to_string(),
                    None => seed.to_string(),
                };
                let mut bytes = text.into_bytes();
                let digest = Sha512::digest(&bytes);
                bytes.extend_from_slice(&digest);
                bytes
            }
        };
        Mt19937::from_key(&words(&number))
    }

    fn from_entropy() -> Result<Mt19937, Error> {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| crate::template::value::invalid("shuffle: no randomness available"))?;
        Ok(Mt19937::from_key(&words(&bytes)))
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mut next = self.state[(i + 397) % 624] ^ (y >> 1);
                if y & 1 == 1 {
                    next ^= 0x9908_b0df;
                }
                self.state[i] = next;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// Python's `_randbelow(n)` for n < 2**32: `getrandbits(k)` with k the
    /// bit length of n, again until below n.
    pub fn below(&mut self, n: u64) -> u64 {
        let k = 64 - n.leading_zeros();
        loop {
            let r = u64::from(self.next_u32() >> (32 - k));
            if r < n {
                return r;
            }
        }
    }
}

/// A big-endian number's 32-bit words, least significant first (at least
/// one), as CPython hands a seed to `init_by_array`.
fn words(big_endian: &[u8]) -> Vec<u32> {
    let start = big_endian
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(big_endian.len());
    let digits = &big_endian[start..];
    let mut out: Vec<u32> = digits
        .rchunks(4)
        .map(|chunk| chunk.iter().fold(0u32, |w, b| (w << 8) | u32::from(*b)))
        .collect();
    if out.is_empty() {
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::template::filters::render;
    use serde_json::json;

    #[test]
    fn a_seeded_shuffle_gives_pythons_order() {
        // python3: l = list(range(10)); random.Random('web1').shuffle(l)
        let vars = json!({"l": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]});
        assert_eq!(
            render("{{ l | shuffle(seed='web1') | join(',') }}", vars.clone()),
            PY_WEB1
        );
        assert_eq!(
            render("{{ l | shuffle(seed=42) | join(',') }}", vars.clone()),
            PY_42
        );
        assert_eq!(
            render("{{ l | shuffle(seed=-7) | join(',') }}", vars.clone()),
            "8,3,1,4,7,0,9,6,2,5"
        );
        assert_eq!(
            render(
                "{{ l | shuffle(seed=1099511627779) | join(',') }}",
                vars.clone()
            ),
            "8,5,6,7,9,2,4,1,0,3"
        );
        let unseeded = render("{{ l | shuffle | sort | join(',') }}", vars);
        assert_eq!(unseeded, "0,1,2,3,4,5,6,7,8,9");
    }

    const PY_WEB1: &str = "2,6,7,8,1,3,0,9,4,5";
    const PY_42: &str = "7,3,2,8,5,6,9,4,0,1";
}
