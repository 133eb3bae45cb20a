//! `password_hash`: the crypt(3) strings `/etc/shadow` holds, as Ansible
//! makes them (through passlib): `sha512` (`$6$`), `sha256` (`$5$`) and
//! `md5` (`$1$`). Written here from the published algorithms (Drepper's
//! SHA-crypt, Kamp's MD5-crypt) over the sha2 and md5 crates herd already
//! has, rather than adding a crate for ~150 lines.
//!
//! As Ansible 2.19: without `rounds`, sha512 uses 656000 and sha256 535000
//! (written in the string); without a salt, a random one (16 characters,
//! 8 for md5). bcrypt (`blowfish`) is not provided.

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, Value};
use sha2::{Digest, Sha256, Sha512};

use crate::template::value::{as_text, invalid};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("password_hash", password_hash);
}

/// The characters of crypt's base64 and of a salt.
const ALPHABET: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `secret | password_hash('sha512', 'salt', rounds=N)` (also
/// `hashtype=`, `salt=`; `salt_size=` for a random salt's length).
fn password_hash(
    secret: &Value,
    hashtype: Option<String>,
    salt: Option<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let secret = as_text(secret)?;
    let hashtype: String = match hashtype {
        Some(h) => h,
        None => kwargs
            .get::<Option<String>>("hashtype")?
            .unwrap_or_else(|| "sha512".into()),
    };
    let salt: Option<String> = match salt {
        Some(s) if !s.is_none() && !s.is_undefined() => Some(as_text(&s)?.to_string()),
        _ => kwargs.get::<Option<String>>("salt")?,
    };
    let rounds: Option<u64> = kwargs.get("rounds")?;
    let salt_size: Option<usize> = kwargs.get("salt_size")?;
    let _ident: Option<String> = kwargs.get("ident")?;
    kwargs.assert_all_used()?;
    let algorithm = match hashtype.as_str() {
        "sha512" | "sha512_crypt" => Algorithm::Sha512,
        "sha256" | "sha256_crypt" => Algorithm::Sha256,
        "md5" | "md5_crypt" => Algorithm::Md5,
        "blowfish" | "bcrypt" => {
            return Err(invalid(
                "password_hash: bcrypt (blowfish) is not supported by herd; use sha512",
            ));
        }
        other => {
            return Err(invalid(format!(
                "password_hash: {other} is not in the list of supported algorithms: md5, sha256, sha512"
            )));
        }
    };
    let salt = match salt.filter(|s| !s.is_empty()) {
        Some(salt) => salt,
        None => random_salt(salt_size.unwrap_or(algorithm.salt_size()))?,
    };
    hash(algorithm, secret.as_bytes(), &salt, rounds).map_err(invalid)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algorithm {
    Sha512,
    Sha256,
    Md5,
}

impl Algorithm {
    fn salt_size(self) -> usize {
        match self {
            Algorithm::Md5 => 8,
            _ => 16,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Algorithm::Sha512 => "sha512_crypt",
            Algorithm::Sha256 => "sha256_crypt",
            Algorithm::Md5 => "md5_crypt",
        }
    }
}

/// The crypt string of `secret` with `salt` (checked as passlib does: its
/// alphabet, at most 16 characters, 8 for md5).
pub fn hash(
    algorithm: Algorithm,
    secret: &[u8],
    salt: &str,
    rounds: Option<u64>,
) -> Result<String, String> {
    if salt.len() > algorithm.salt_size() {
        return Err(format!(
            "password_hash: salt too large ({} requires <= {} chars)",
            algorithm.name(),
            algorithm.salt_size()
        ));
    }
    if !salt.bytes().all(|b| ALPHABET.contains(&b)) {
        return Err(format!(
            "password_hash: invalid characters in {} salt (use ./0-9A-Za-z)",
            algorithm.name()
        ));
    }
    match algorithm {
        Algorithm::Md5 => {
            if rounds.is_some() {
                return Err("password_hash: md5 takes no rounds".into());
            }
            Ok(md5_crypt(secret, salt.as_bytes()))
        }
        Algorithm::Sha512 | Algorithm::Sha256 => {
            let default = if algorithm == Algorithm::Sha512 {
                656_000
            } else {
                535_000
            };
            let rounds = rounds.unwrap_or(default);
            if !(1000..=999_999_999).contains(&rounds) {
                return Err(format!(
                    "password_hash: rounds must be between 1000 and 999999999, got {rounds}"
                ));
            }
            Ok(if algorithm == Algorithm::Sha512 {
                sha_crypt::<Sha512>("6", &SHA512_ORDER, secret, salt.as_bytes(), rounds)
            } else {
                sha_crypt::<Sha256>("5", &SHA256_ORDER, secret, salt.as_bytes(), rounds)
            })
        }
    }
}

fn random_salt(len: usize) -> Result<String, Error> {
    let mut bytes = vec![0u8; len];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| invalid("password_hash: no randomness for a salt"))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(*b & 0x3f) as usize] as char)
        .collect())
}

/// `bytes` repeated (and cut) to `len` bytes.
fn repeat_to(bytes: &[u8], len: usize) -> Vec<u8> {
    bytes.iter().copied().cycle().take(len).collect()
}

/// Drepper's SHA-crypt over `D` (SHA-256 or SHA-512).
fn sha_crypt<D: Digest>(
    id: &str,
    order: &[(usize, usize, usize)],
    secret: &[u8],
    salt: &[u8],
    rounds: u64,
) -> String {
    let size = <D as Digest>::output_size();
    let alternate = D::new()
        .chain_update(secret)
        .chain_update(salt)
        .chain_update(secret)
        .finalize();
    let mut a = D::new().chain_update(secret).chain_update(salt);
    a.update(repeat_to(&alternate, secret.len()));
    let mut n = secret.len();
    while n > 0 {
        if n & 1 == 1 {
            a.update(&alternate);
        } else {
            a.update(secret);
        }
        n >>= 1;
    }
    let a = a.finalize();
    let mut dp = D::new();
    for _ in 0..secret.len() {
        dp.update(secret);
    }
    let p = repeat_to(&dp.finalize(), secret.len());
    let mut ds = D::new();
    for _ in 0..16 + a[0] as usize {
        ds.update(salt);
    }
    let s = repeat_to(&ds.finalize(), salt.len());
    let mut c = a.to_vec();
    for i in 0..rounds {
        let mut round = D::new();
        if i & 1 == 1 {
            round.update(&p);
        } else {
            round.update(&c);
        }
        if i % 3 != 0 {
            round.update(&s);
        }
        if i % 7 != 0 {
            round.update(&p);
        }
        if i & 1 == 1 {
            round.update(&c);
        } else {
            round.update(&p);
        }
        c = round.finalize().to_vec();
    }
    let mut out = format!("${id}$");
    // Ansible (passlib) writes the rounds unless they are the implicit 5000.
    if rounds != 5000 {
        out.push_str(&format!("rounds={rounds}$"));
    }
    out.push_str(std::str::from_utf8(salt).expect("salt is ASCII"));
    out.push('$');
    for &(x, y, z) in order {
        encode(&mut out, c[x], c[y], c[z], 4);
    }
    if size == 64 {
        encode(&mut out, 0, 0, c[63], 2);
    } else {
        encode(&mut out, 0, c[31], c[30], 3);
    }
    out
}

/// Which bytes of the final digest go together, in output order.
const SHA512_ORDER: [(usize, usize, usize); 21] = [
    (0, 21, 42),
    (22, 43, 1),
    (44, 2, 23),
    (3, 24, 45),
    (25, 46, 4),
    (47, 5, 26),
    (6, 27, 48),
    (28, 49, 7),
    (50, 8, 29),
    (9, 30, 51),
    (31, 52, 10),
    (53, 11, 32),
    (12, 33, 54),
    (34, 55, 13),
    (56, 14, 35),
    (15, 36, 57),
    (37, 58, 16),
    (59, 17, 38),
    (18, 39, 60),
    (40, 61, 19),
    (62, 20, 41),
];

const SHA256_ORDER: [(usize, usize, usize); 10] = [
    (0, 10, 20),
    (21, 1, 11),
    (12, 22, 2),
    (3, 13, 23),
    (24, 4, 14),
    (15, 25, 5),
    (6, 16, 26),
    (27, 7, 17),
    (18, 28, 8),
    (9, 19, 29),
];

/// Three bytes as `n` characters of crypt's base64, low bits first.
fn encode(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
    for _ in 0..n {
        out.push(ALPHABET[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

/// Poul-Henning Kamp's MD5-crypt (`$1$`).
fn md5_crypt(secret: &[u8], salt: &[u8]) -> String {
    let digest = |parts: &[&[u8]]| {
        let mut ctx = md5::Context::new();
        for part in parts {
            ctx.consume(part);
        }
        ctx.finalize().0
    };
    let alternate = digest(&[secret, salt, secret]);
    let mut ctx = md5::Context::new();
    ctx.consume(secret);
    ctx.consume(b"$1$");
    ctx.consume(salt);
    ctx.consume(repeat_to(&alternate, secret.len()));
    let mut n = secret.len();
    while n > 0 {
        if n & 1 == 1 {
            ctx.consume([0u8]);
        } else {
            ctx.consume(&secret[..1]);
        }
        n >>= 1;
    }
    let mut c = ctx.finalize().0;
    for i in 0..1000 {
        let mut ctx = md5::Context::new();
        if i & 1 == 1 {
            ctx.consume(secret);
        } else {
            ctx.consume(c);
        }
        if i % 3 != 0 {
            ctx.consume(salt);
        }
        if i % 7 != 0 {
            ctx.consume(secret);
        }
        if i & 1 == 1 {
            ctx.consume(c);
        } else {
            ctx.consume(secret);
        }
        c = ctx.finalize().0;
    }
    let mut out = format!("$1${}$", std::str::from_utf8(salt).expect("salt is ASCII"));
    for (x, y, z) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        encode(&mut out, c[x], c[y], c[z], 4);
    }
    encode(&mut out, 0, 0, c[11], 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::filters::{render, render_err};
    use serde_json::json;

    // Expected strings from passlib 1.7.4, which Ansible 2.19's
    // password_hash calls.
    #[test]
    fn sha512_and_sha256_match_ansible() {
        assert_eq!(
            render(
                "{{ 'secret' | password_hash('sha512', 'mysalt') }}",
                json!({})
            ),
            "$6$rounds=656000$mysalt$cDA0t8lm/qt.LT6DzpoHxJ.NwTpx.WTkOPwhseSva8pRixDSH2./ffedCjAMbTX1Uo1QNT7jJPJ6FIzU2i59K/"
        );
        assert_eq!(
            hash(Algorithm::Sha512, b"secret", "mysalt", Some(5000)).unwrap(),
            "$6$mysalt$UX6P1VKOf6dr0s2pg4pLNvIUB6hLXvP6M5f/Yj9hJgMPdAJ4oArvk5YUD9/XWtk1JOpVwt/JTsczMJr8sFVML1"
        );
        assert_eq!(
            render(
                "{{ 'secret' | password_hash('sha512', salt='mysalt', rounds=10000) }}",
                json!({})
            ),
            "$6$rounds=10000$mysalt$9XTP7570fxVN/uTspSrH6kRPdR4KKGzGz7.TmJjDYGrKSwZuavW/3YaLur8JX6WP75Czcxa.megIO0lKreY0R."
        );
        assert_eq!(
            hash(Algorithm::Sha256, b"secret", "mysalt", None).unwrap(),
            "$5$rounds=535000$mysalt$GnEktJhWXRuwViyPsEWK9s63HYW1GqXFqU5SdKDqol6"
        );
        let long = "a longer secret with ütf8 ünd more than sixty-four bytes in it, to test the p-sequence";
        assert_eq!(
            hash(
                Algorithm::Sha256,
                long.as_bytes(),
                "abcdefghijklmnop",
                Some(1000)
            )
            .unwrap(),
            "$5$rounds=1000$abcdefghijklmnop$B8KULPQIg5m.La85E9.7sE2jzzAf6ZVklMCr3dqwOZ3"
        );
    }

    #[test]
    fn md5_matches_ansible() {
        assert_eq!(
            render("{{ 'secret' | password_hash('md5', 'mysalt') }}", json!({})),
            "$1$mysalt$n/EfEiV74OYgBdqhKQzSW/"
        );
        let long = "a longer secret with ütf8 ünd more than sixty-four bytes in it, to test";
        assert_eq!(
            hash(Algorithm::Md5, long.as_bytes(), "abcdefgh", None).unwrap(),
            "$1$abcdefgh$Z7FmORmOgzN49vrswdj7B."
        );
    }

    #[test]
    fn bad_salts_are_errors_and_no_salt_is_random() {
        let err = render_err("{{ 'x' | password_hash('sha512', 'abcdefghijklmnopq') }}");
        assert!(err.contains("salt too large"), "{err}");
        let err = render_err("{{ 'x' | password_hash('sha512', 'a!b') }}");
        assert!(err.contains("invalid characters"), "{err}");
        let err = render_err("{{ 'x' | password_hash('whirlpool') }}");
        assert!(err.contains("not in the list"), "{err}");
        let one = render("{{ 'x' | password_hash('md5') }}", json!({}));
        let two = render("{{ 'x' | password_hash('md5') }}", json!({}));
        assert!(
            one.starts_with("$1$") && one.len() == 3 + 8 + 1 + 22,
            "{one}"
        );
        assert_ne!(one, two);
    }
}
