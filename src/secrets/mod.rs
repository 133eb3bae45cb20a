//! Secrets in age files: the user's identity, the project's recipients,
//! encrypting/decrypting, and masking decrypted values in everything herd
//! prints or stores.
//!
//! Vars files named `*.age` (`group_vars/db/secrets.yml.age`,
//! `vars_files: [secrets.yml.age]`) are decrypted in memory while loading;
//! their leaf strings are registered with [`redact`].

pub mod edit;
mod error;
pub mod files;
pub mod identity;
pub mod names;
pub mod recipients;
pub mod redact;
pub mod vault;

use std::path::Path;

use age::secrecy::SecretString;

pub use error::SecretsError;

/// Whether `path` names an encrypted file.
pub fn is_encrypted(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "age")
}

/// The text of a vars file, decrypted in memory if it is `*.age`. Returns
/// whether it was encrypted: the caller registers its values as secrets
/// once parsed.
pub fn read_vars_text(path: &Path) -> Result<(String, bool), SecretsError> {
    if !is_encrypted(path) {
        let text =
            std::fs::read_to_string(path).map_err(|e| SecretsError::io(path, "cannot read", e))?;
        return Ok((text, false));
    }
    let plain = vault::decrypt_file(path)?;
    let text = String::from_utf8(plain.to_vec()).map_err(|_| SecretsError::Corrupt {
        path: path.to_path_buf(),
        message: "decrypted contents are not UTF-8 text".into(),
    })?;
    Ok((text, true))
}

/// Parses a vars file's text. For an encrypted file the values are
/// registered as secrets, and a parse error keeps only its location: its
/// message could quote a secret.
pub fn parse_vars(
    text: &str,
    path: &Path,
    encrypted: bool,
) -> Result<serde_json::Map<String, serde_json::Value>, crate::yaml::YamlError> {
    let vars: Option<serde_json::Map<String, serde_json::Value>> =
        crate::yaml::from_str(text, path).map_err(|mut e| {
            if encrypted {
                e.message = "not a YAML mapping (details hidden for an encrypted file; check it with `herd secrets view`)".into();
            }
            e
        })?;
    let vars = vars.unwrap_or_default();
    if encrypted {
        vars.values().for_each(redact::register_leaves);
    }
    Ok(vars)
}

/// The passphrase for `path`: `HERD_PASSPHRASE`, else a terminal prompt.
pub fn passphrase(path: &Path) -> Result<SecretString, SecretsError> {
    if let Some(p) = std::env::var_os("HERD_PASSPHRASE").filter(|p| !p.is_empty()) {
        return Ok(SecretString::from(p.to_string_lossy().into_owned()));
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(SecretsError::NoPassphrase);
    }
    rpassword::prompt_password(format!("Passphrase for {}: ", path.display()))
        .map(SecretString::from)
        .map_err(|_| SecretsError::NoPassphrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_vars_are_registered_and_errors_do_not_quote_them() {
        let path = Path::new("s.yml.age");
        let vars = parse_vars("pw: parse-vars-secret\n", path, true).unwrap();
        assert_eq!(vars["pw"], "parse-vars-secret");
        assert_eq!(redact::redact("parse-vars-secret"), redact::MASK);

        let err = parse_vars("just-a-bare-secret-string\n", path, true).unwrap_err();
        assert!(!err.to_string().contains("bare-secret"), "{err}");
        assert!(err.to_string().contains("s.yml.age"), "{err}");
    }
}
