//! Variable names that hold secrets, whatever their values: `herd
//! inventory` shows them masked even when the value is not a registered
//! secret (a password typed into host_vars in clear).

use serde_json::{Map, Value};

use super::redact::MASK;

/// `vars` with the value of every secret-looking name replaced by the mask.
pub fn mask_secret_vars(vars: Map<String, Value>) -> Map<String, Value> {
    vars.into_iter()
        .map(|(k, v)| {
            let v = if is_secret_name(&k) {
                Value::from(MASK)
            } else {
                v
            };
            (k, v)
        })
        .collect()
}

/// Whether a variable name looks like it holds a secret. Name parts split
/// on `_`, `-`, `.`; a part containing password/passwd/passphrase/secret/
/// token, or equal to pass/pwd/key/apikey, marks a secret, unless the
/// last part says the value is a reference to one (file, path, dir, name,
/// id): `ansible_ssh_private_key_file` is a path, `secret_key` is a secret.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = lower
        .split(['_', '-', '.'])
        .filter(|p| !p.is_empty())
        .collect();
    if matches!(
        parts.last(),
        Some(&("file" | "path" | "dir" | "name" | "id"))
    ) {
        return false;
    }
    parts.iter().any(|part| {
        ["password", "passwd", "passphrase", "secret", "token"]
            .iter()
            .any(|word| part.contains(word))
            || matches!(*part, "pass" | "pwd" | "key" | "apikey")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_masked_and_paths_are_not() {
        for secret in [
            "ansible_become_password",
            "ansible_become_pass",
            "db_password",
            "api_token",
            "secret_key",
            "API_KEY",
            "vault-passphrase",
            "githubtoken",
        ] {
            assert!(is_secret_name(secret), "{secret} should be masked");
        }
        for plain in [
            "ansible_ssh_private_key_file",
            "ssl_key_path",
            "key_name",
            "passenger_version",
            "keyboard",
            "ansible_host",
            "bypass_proxy",
        ] {
            assert!(!is_secret_name(plain), "{plain} should be shown");
        }
    }
}
