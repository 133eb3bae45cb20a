//! Encrypting and decrypting age files (ASCII-armored, so they diff and
//! paste well and `age -d` reads them). Plaintext only ever lives in memory
//! here; callers decide where it goes.

use std::io::{Read, Write};
use std::path::Path;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::SecretString;
use age::secrecy::zeroize::Zeroizing;

/// Decrypted bytes, overwritten with zeros when dropped.
pub type Plaintext = Zeroizing<Vec<u8>>;

use super::{SecretsError, identity, recipients};

/// `plaintext` encrypted to `keys`, armored.
pub fn encrypt(plaintext: &[u8], keys: &[age::x25519::Recipient]) -> Result<Vec<u8>, SecretsError> {
    let encryptor = age::Encryptor::with_recipients(keys.iter().map(|k| k as &dyn age::Recipient))
        .map_err(|e| SecretsError::Encrypt(e.to_string()))?;
    write_armored(encryptor, plaintext)
}

/// `plaintext` encrypted with a passphrase (scrypt), armored.
pub fn encrypt_with_passphrase(
    plaintext: &[u8],
    passphrase: SecretString,
) -> Result<Vec<u8>, SecretsError> {
    write_armored(age::Encryptor::with_user_passphrase(passphrase), plaintext)
}

fn write_armored(encryptor: age::Encryptor, plaintext: &[u8]) -> Result<Vec<u8>, SecretsError> {
    let fail = |e: std::io::Error| SecretsError::Encrypt(e.to_string());
    let armor = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).map_err(fail)?;
    let mut writer = encryptor.wrap_output(armor).map_err(fail)?;
    writer.write_all(plaintext).map_err(fail)?;
    // Both layers must be finished, or the file is truncated.
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(fail)
}

/// A writer that encrypts everything written through it to `keys` (binary
/// age format, for large files such as backup archives). Call `finish()`
/// on it, or the file is truncated.
pub fn encrypt_to<W: Write>(
    output: W,
    keys: &[age::x25519::Recipient],
) -> Result<age::stream::StreamWriter<W>, SecretsError> {
    let encryptor = age::Encryptor::with_recipients(keys.iter().map(|k| k as &dyn age::Recipient))
        .map_err(|e| SecretsError::Encrypt(e.to_string()))?;
    encryptor
        .wrap_output(output)
        .map_err(|e| SecretsError::Encrypt(e.to_string()))
}

/// A reader of the decrypted contents of the age file at `path` (armored
/// or binary, for the identity in use), without holding it all in memory.
pub fn open_decrypted(path: &Path) -> Result<impl Read + use<>, SecretsError> {
    let file = std::fs::File::open(path).map_err(|e| SecretsError::io(path, "cannot read", e))?;
    let corrupt = |message: String| SecretsError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(std::io::BufReader::new(file)))
        .map_err(|e| corrupt(e.to_string()))?;
    let ids = identity::load(&identity::path())?;
    decryptor
        .decrypt(ids.iter().map(|i| i as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => {
                let mut header = Vec::new();
                let _ = std::fs::File::open(path)
                    .and_then(|f| f.take(64 * 1024).read_to_end(&mut header));
                no_match(path, &header, &ids)
            }
            other => corrupt(other.to_string()),
        })
}

/// Reads and decrypts the age file at `path` with the identity in use, or a
/// passphrase for passphrase-encrypted files.
pub fn decrypt_file(path: &Path) -> Result<Plaintext, SecretsError> {
    let data = std::fs::read(path).map_err(|e| SecretsError::io(path, "cannot read", e))?;
    decrypt(path, &data, &identity::path())
}

/// Decrypts `data` (the contents of `path`, armored or binary).
pub fn decrypt(path: &Path, data: &[u8], identity_path: &Path) -> Result<Plaintext, SecretsError> {
    let corrupt = |message: String| SecretsError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    let decryptor =
        age::Decryptor::new(ArmoredReader::new(data)).map_err(|e| corrupt(e.to_string()))?;
    let result = if decryptor.is_scrypt() {
        let mut id = age::scrypt::Identity::new(super::passphrase(path)?);
        id.set_max_work_factor(22);
        decryptor
            .decrypt(std::iter::once(&id as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                    SecretsError::WrongPassphrase {
                        path: path.to_path_buf(),
                    }
                }
                other => corrupt(other.to_string()),
            })
    } else {
        let ids = identity::load(identity_path)?;
        decryptor
            .decrypt(ids.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => no_match(path, data, &ids),
                other => corrupt(other.to_string()),
            })
    };
    let mut plaintext = Plaintext::default();
    result?
        .read_to_end(&mut plaintext)
        .map_err(|e| corrupt(e.to_string()))?;
    Ok(plaintext)
}

/// The "not for you" error: your key, the file's stanza types (x25519
/// stanzas do not reveal which key they are for) and the project's keys.
fn no_match(path: &Path, data: &[u8], ids: &[age::x25519::Identity]) -> SecretsError {
    let identity = ids
        .iter()
        .map(|i| i.to_public().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let project = recipients::find_for(path)
        .and_then(|file| recipients::read(&file).ok())
        .map(|keys| {
            keys.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("none found (no {})", recipients::FILE));
    SecretsError::NoMatchingIdentity {
        path: path.to_path_buf(),
        identity,
        stanzas: stanza_summary(data),
        project,
    }
}

/// Whether `data` is a passphrase (scrypt) file rather than one for recipients.
pub fn is_passphrase_file(data: &[u8]) -> bool {
    age::Decryptor::new(ArmoredReader::new(data)).is_ok_and(|d| d.is_scrypt())
}

/// "2 X25519 recipients" from the file header.
pub fn stanza_summary(data: &[u8]) -> String {
    let mut plain = Vec::new();
    let _ = ArmoredReader::new(data)
        .take(64 * 1024)
        .read_to_end(&mut plain);
    let header = String::from_utf8_lossy(&plain);
    let mut counts: Vec<(String, usize)> = Vec::new();
    for line in header.lines().take_while(|l| !l.starts_with("---")) {
        let kind = line.strip_prefix("-> ").and_then(|r| r.split(' ').next());
        // age adds random "grease" stanzas to keep the format extensible.
        if let Some(kind) = kind.filter(|k| !k.ends_with("-grease")) {
            match counts.iter_mut().find(|(k, _)| k == kind) {
                Some((_, n)) => *n += 1,
                None => counts.push((kind.to_string(), 1)),
            }
        }
    }
    counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind} recipient{}", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn identity_file(dir: &Path, id: &age::x25519::Identity) -> std::path::PathBuf {
        let path = dir.join("id.txt");
        std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).unwrap();
        path
    }

    #[test]
    fn round_trip_and_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let me = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let data = encrypt(b"password: s3cret\n", &[me.to_public()]).unwrap();
        assert!(data.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
        let file = dir.path().join("s.yml.age");
        let mine = identity_file(dir.path(), &me);
        assert_eq!(
            *decrypt(&file, &data, &mine).unwrap(),
            b"password: s3cret\n"
        );

        let theirs = dir.path().join("other.txt");
        std::fs::write(&theirs, format!("{}\n", other.to_string().expose_secret())).unwrap();
        let err = decrypt(&file, &data, &theirs).unwrap_err().to_string();
        assert!(err.contains("s.yml.age"), "{err}");
        assert!(err.contains("1 X25519 recipient"), "{err}");
        assert!(!err.contains("grease"), "{err}");
        assert!(err.contains(&other.to_public().to_string()), "{err}");

        let cut = &data[..data.len() / 2];
        let err = decrypt(&file, cut, &mine).unwrap_err();
        assert!(matches!(err, SecretsError::Corrupt { .. }), "{err}");
    }
}
