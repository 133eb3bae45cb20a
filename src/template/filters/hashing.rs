//! Digests of strings. Supported: md5, sha1, sha224, sha256, sha384, sha512
//! (the crates already in herd's dependency tree); Ansible's `hash` accepts
//! whatever Python's hashlib has, so others are a clear error here.
//! `password_hash` (crypt formats) is in `crypt`.

use minijinja::{Environment, Error, Value};
use sha1::Digest as _;
use sha2::{Sha224, Sha256, Sha384, Sha512};

use crate::template::value::{as_text, invalid};

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("hash", hash);
    env.add_filter("md5", |v: &Value| hash(v, Some("md5".into())));
    env.add_filter("sha1", |v: &Value| hash(v, Some("sha1".into())));
    env.add_filter("checksum", |v: &Value| hash(v, Some("sha1".into())));
    env.add_filter("to_uuid", to_uuid);
}

/// `'test1' | hash('sha1')` (sha1 is the default): a lowercase hex digest.
pub fn hash(value: &Value, kind: Option<String>) -> Result<String, Error> {
    let data = as_text(value)?;
    let data = data.as_bytes();
    let kind = kind.unwrap_or_else(|| "sha1".to_string());
    let digest: Vec<u8> = match kind.as_str() {
        "md5" => md5::compute(data).0.to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha224" => <Sha224 as sha2::Digest>::digest(data).to_vec(),
        "sha256" => <Sha256 as sha2::Digest>::digest(data).to_vec(),
        "sha384" => <Sha384 as sha2::Digest>::digest(data).to_vec(),
        "sha512" => <Sha512 as sha2::Digest>::digest(data).to_vec(),
        other => {
            return Err(invalid(format!(
                "hash type {other:?} is not supported (use md5, sha1, sha224, sha256, sha384 or sha512)"
            )));
        }
    };
    Ok(hex(&digest))
}

/// Ansible's namespace for `to_uuid`, so the same name gives the same UUID
/// as Ansible.
const ANSIBLE_NAMESPACE: [u8; 16] = [
    0x36, 0x1e, 0x6d, 0x51, 0xfa, 0xec, 0x44, 0x4a, 0x90, 0x79, 0x34, 0x13, 0x86, 0xda, 0x8e, 0x2e,
];

/// `name | to_uuid`: a name-based (version 5) UUID in Ansible's namespace.
pub fn to_uuid(value: &Value) -> Result<String, Error> {
    let mut hasher = sha1::Sha1::new();
    hasher.update(ANSIBLE_NAMESPACE);
    hasher.update(as_text(value)?.as_bytes());
    let mut bytes: [u8; 16] = hasher.finalize()[..16]
        .try_into()
        .expect("sha1 is 20 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex(&bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use crate::template::filters::{render, render_err};
    use serde_json::json;

    #[test]
    fn digests_match_known_values() {
        // Ansible docs: {{ 'test1' | hash('sha1') }}, {{ 'test1' | hash('md5') }}, {{ 'test2' | checksum }}
        assert_eq!(
            render("{{ 'test1' | hash('sha1') }}", json!({})),
            "b444ac06613fc8d63795be9ad0beaf55011936ac"
        );
        assert_eq!(
            render("{{ 'test1' | hash('md5') }}", json!({})),
            "5a105e8b9d40e1329780d62ea2265d8a"
        );
        assert_eq!(
            render("{{ 'test2' | checksum }}", json!({})),
            "109f4b3c50d7b0df729d299bc6f8e9ef9066971f"
        );
        assert_eq!(
            render("{{ 'test1' | md5 }}", json!({})),
            "5a105e8b9d40e1329780d62ea2265d8a"
        );
        assert_eq!(
            render("{{ 'abc' | hash('sha256') }}", json!({})),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(render_err("{{ 'a' | hash('blake2b') }}").contains("not supported"));
    }

    #[test]
    fn to_uuid_is_version_5_in_ansibles_namespace() {
        assert_eq!(
            render("{{ 'test' | to_uuid }}", json!({})),
            "f4fb6740-9e00-5ac4-9581-f24b6ecfe71e"
        );
    }
}
