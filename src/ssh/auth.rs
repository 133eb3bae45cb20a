//! Client authentication, in OpenSSH's order: ssh-agent identities (those
//! matching an IdentityFile first; only those with IdentitiesOnly), then the
//! identity files themselves, each with its certificate (`KEY-cert.pub` or a
//! CertificateFile) before the plain key.
//!
//! Private keys are loaded once per run and shared by every host
//! ([`KeyStore`]): a passphrase is asked at most once per key, the prompt is
//! serialized so parallel hosts do not interleave prompts, and the costly
//! key derivation of a protected key runs once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{AuthResult, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{Certificate, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};

use super::config::Secret;
use super::error::ConnectError;
use super::session::ClientHandler;
use super::target::Target;

/// A loaded key, no such file, or why the key cannot be used.
type Loaded = Result<Option<Arc<PrivateKey>>, String>;

/// Private keys loaded for this run, by path.
pub(crate) struct KeyStore {
    passphrase: Option<Secret>,
    prompt: bool,
    /// Held while loading a key, so one prompt at a time and one load per key.
    keys: tokio::sync::Mutex<HashMap<PathBuf, Loaded>>,
}

impl KeyStore {
    pub fn new(passphrase: Option<Secret>, prompt: bool) -> KeyStore {
        KeyStore {
            passphrase,
            prompt,
            keys: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The private key at `path`; `Ok(None)` if there is no such file;
    /// `Err` says why a key that exists cannot be used (never the secret).
    pub async fn load(&self, path: &Path) -> Result<Option<Arc<PrivateKey>>, String> {
        let mut keys = self.keys.lock().await;
        if let Some(result) = keys.get(path) {
            return result.clone();
        }
        let result = self.load_uncached(path).await;
        keys.insert(path.to_path_buf(), result.clone());
        result
    }

    async fn load_uncached(&self, path: &Path) -> Result<Option<Arc<PrivateKey>>, String> {
        let text = match tokio::fs::read_to_string(path).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read key {}: {e}", path.display())),
        };
        let shown = path.display().to_string();
        match russh::keys::decode_secret_key(&text, None) {
            Ok(key) => return Ok(Some(Arc::new(key))),
            Err(russh::keys::Error::KeyIsEncrypted) => {}
            Err(e) => return Err(format!("cannot use key {shown}: {e}")),
        }
        if let Some(passphrase) = &self.passphrase {
            return decrypt(text, passphrase.clone())
                .await
                .map(|key| Some(Arc::new(key)))
                .map_err(|_| format!("HERD_KEY_PASSPHRASE does not unlock key {shown}"));
        }
        if self.prompt && tty_available() {
            for _ in 0..3 {
                let prompt = format!("Enter passphrase for key '{shown}': ");
                let Some(passphrase) = prompt_secret(prompt).await else {
                    break;
                };
                match decrypt(text.clone(), passphrase).await {
                    Ok(key) => return Ok(Some(Arc::new(key))),
                    Err(_) => eprintln!("Bad passphrase, try again."),
                }
            }
            return Err(format!("no valid passphrase given for key {shown}"));
        }
        Err(format!(
            "key {shown} is passphrase-protected: set HERD_KEY_PASSPHRASE, run herd from a terminal, or add the key to ssh-agent"
        ))
    }
}

/// Key derivation (bcrypt) is deliberately slow: keep it off the runtime.
async fn decrypt(text: String, passphrase: Secret) -> Result<PrivateKey, ()> {
    tokio::task::spawn_blocking(move || {
        russh::keys::decode_secret_key(&text, Some(passphrase.expose())).map_err(|_| ())
    })
    .await
    .map_err(|_| ())?
}

fn tty_available() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

/// Reads a line from /dev/tty with echo off.
async fn prompt_secret(prompt: String) -> Option<Secret> {
    tokio::task::spawn_blocking(move || read_tty_secret(&prompt).ok())
        .await
        .ok()
        .flatten()
}

fn read_tty_secret(prompt: &str) -> std::io::Result<Secret> {
    use std::io::{BufRead, Write};
    use std::os::unix::io::AsRawFd;
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios calls on an open terminal descriptor with a zeroed,
    // then kernel-filled struct.
    let saved = unsafe {
        let mut term: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut term) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let saved = term;
        term.c_lflag &= !libc::ECHO;
        term.c_lflag |= libc::ECHONL;
        libc::tcsetattr(fd, libc::TCSANOW, &term);
        saved
    };
    tty.write_all(prompt.as_bytes())?;
    tty.flush()?;
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    // SAFETY: restoring the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read?;
    Ok(Secret::new(line.trim_end_matches(['\n', '\r'])))
}

/// An identity file and what sits beside it.
struct Identity {
    path: PathBuf,
    /// From `KEY.pub`, to match agent keys without decrypting the file.
    public: Option<PublicKey>,
    certificates: Vec<(PathBuf, Certificate)>,
}

fn identities(target: &Target) -> Vec<Identity> {
    let extra_certs: Vec<(PathBuf, Certificate)> = target
        .certificate_files
        .iter()
        .filter_map(|p| Some((p.clone(), russh::keys::load_openssh_certificate(p).ok()?)))
        .collect();
    target
        .identity_files
        .iter()
        .filter(|path| path.exists())
        .map(|path| {
            let public = russh::keys::load_public_key(with_suffix(path, ".pub")).ok();
            let mut certificates = Vec::new();
            let cert_path = with_suffix(path, "-cert.pub");
            if let Ok(cert) = russh::keys::load_openssh_certificate(&cert_path) {
                certificates.push((cert_path, cert));
            }
            if let Some(public) = &public {
                certificates.extend(
                    extra_certs
                        .iter()
                        .filter(|(_, c)| c.public_key() == public.key_data())
                        .cloned(),
                );
            }
            Identity {
                path: path.clone(),
                public,
                certificates,
            }
        })
        .collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Authenticates `handle` as `target.user`, trying every identity in turn.
/// Returns the public key the server accepted (`herd keys revoke` must not
/// remove the key herd itself logs in with).
pub(crate) async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    target: &Target,
    keys: &KeyStore,
) -> Result<PublicKey, ConnectError> {
    let mut attempt = Attempt {
        handle,
        user: &target.user,
        rsa_hash: None,
        tried: Vec::new(),
        notes: Vec::new(),
    };
    let identities = identities(target);
    let mut agent_keys: Vec<PublicKey> = Vec::new();

    if let Some(socket) = &target.agent_socket {
        match agent_identities(socket).await {
            Ok((mut agent, list)) => {
                let wanted = |key: &PublicKey| {
                    identities.iter().any(|i| {
                        i.public
                            .as_ref()
                            .is_some_and(|p| p.key_data() == key.key_data())
                    })
                };
                // Keys named by IdentityFile first, like OpenSSH.
                let (mut ordered, others): (Vec<_>, Vec<_>) = list
                    .into_iter()
                    .partition(|id| wanted(&identity_public(id)));
                if !target.identities_only {
                    ordered.extend(others);
                }
                for id in ordered {
                    let public = identity_public(&id);
                    agent_keys.push(public.clone());
                    match attempt.agent(&mut agent, id).await {
                        Ok(true) => return Ok(public),
                        Ok(false) => {}
                        Err(stop) => return Err(attempt.failed(target, Some(stop))),
                    }
                }
            }
            Err(note) => attempt.notes.push(note),
        }
    }

    for identity in &identities {
        let in_agent = identity
            .public
            .as_ref()
            .is_some_and(|p| agent_keys.iter().any(|k| k.key_data() == p.key_data()));
        if in_agent && identity.certificates.is_empty() {
            continue;
        }
        let key = match keys.load(&identity.path).await {
            Ok(Some(key)) => key,
            Ok(None) => continue,
            Err(note) => {
                attempt.notes.push(note);
                continue;
            }
        };
        for (cert_path, cert) in &identity.certificates {
            let label = format!("certificate {}", cert_path.display());
            let result = attempt
                .handle
                .authenticate_openssh_cert(attempt.user, key.clone(), cert.clone())
                .await;
            match attempt.outcome(label, result) {
                Ok(true) => return Ok(key.public_key().clone()),
                Ok(false) => {}
                Err(stop) => return Err(attempt.failed(target, Some(stop))),
            }
        }
        if in_agent {
            continue;
        }
        let hash = if key.algorithm().is_rsa() {
            attempt.rsa_hash().await
        } else {
            None
        };
        let label = format!("publickey {}", identity.path.display());
        let public = key.public_key().clone();
        let result = attempt
            .handle
            .authenticate_publickey(attempt.user, PrivateKeyWithHashAlg::new(key, hash))
            .await;
        match attempt.outcome(label, result) {
            Ok(true) => return Ok(public),
            Ok(false) => {}
            Err(stop) => return Err(attempt.failed(target, Some(stop))),
        }
    }
    Err(attempt.failed(target, None))
}

async fn agent_identities(
    socket: &Path,
) -> Result<(AgentClient<tokio::net::UnixStream>, Vec<AgentIdentity>), String> {
    let why =
        |e: &dyn std::fmt::Display| format!("ssh-agent at {} not usable: {e}", socket.display());
    let mut agent = AgentClient::connect_uds(socket)
        .await
        .map_err(|e| why(&e))?;
    let list = agent.request_identities().await.map_err(|e| why(&e))?;
    Ok((agent, list))
}

fn identity_public(id: &AgentIdentity) -> PublicKey {
    match id {
        AgentIdentity::PublicKey { key, .. } => key.clone(),
        AgentIdentity::Certificate { certificate, .. } => {
            PublicKey::from(certificate.public_key().clone())
        }
    }
}

/// The state of one host's authentication.
struct Attempt<'a> {
    handle: &'a mut Handle<ClientHandler>,
    user: &'a str,
    /// Asked of the server once, and only when an RSA key comes up.
    rsa_hash: Option<Option<HashAlg>>,
    tried: Vec<String>,
    notes: Vec<String>,
}

impl Attempt<'_> {
    async fn rsa_hash(&mut self) -> Option<HashAlg> {
        if let Some(hash) = self.rsa_hash {
            return hash;
        }
        // No server-sig-algs extension: rsa-sha2-256 still works on every
        // OpenSSH since 7.2, while ssh-rsa (SHA-1) is refused since 8.8.
        let hash = match self.handle.best_supported_rsa_hash().await {
            Ok(Some(hash)) => hash,
            _ => Some(HashAlg::Sha256),
        };
        self.rsa_hash = Some(hash);
        hash
    }

    async fn agent(
        &mut self,
        agent: &mut AgentClient<tokio::net::UnixStream>,
        id: AgentIdentity,
    ) -> Result<bool, String> {
        let public = identity_public(&id);
        let hash = if public.algorithm().is_rsa() {
            self.rsa_hash().await
        } else {
            None
        };
        let fingerprint = public.fingerprint(HashAlg::Sha256);
        let (label, result) = match id {
            AgentIdentity::PublicKey { key, comment } => (
                format!("publickey (agent) {fingerprint} {comment}"),
                self.handle
                    .authenticate_publickey_with(self.user, key, hash, agent)
                    .await,
            ),
            AgentIdentity::Certificate {
                certificate,
                comment,
            } => (
                format!("certificate (agent) {fingerprint} {comment}"),
                self.handle
                    .authenticate_certificate_with(self.user, certificate, hash, agent)
                    .await,
            ),
        };
        match result {
            Ok(result) => self.outcome(label, Ok(result)),
            Err(e) => {
                // The agent refused to sign; the connection is still usable.
                self.tried.push(label);
                self.notes.push(format!("ssh-agent could not sign: {e}"));
                Ok(false)
            }
        }
    }

    /// `Ok(true)`: authenticated. `Err`: the connection is gone, stop trying.
    fn outcome(
        &mut self,
        label: String,
        result: Result<AuthResult, russh::Error>,
    ) -> Result<bool, String> {
        self.tried.push(label);
        match result {
            Ok(AuthResult::Success) => Ok(true),
            Ok(AuthResult::Failure { .. }) => Ok(false),
            Err(e) => Err(format!(
                "the server closed the connection during authentication ({e}); too many keys for its MaxAuthTries?"
            )),
        }
    }

    fn failed(self, target: &Target, stop: Option<String>) -> ConnectError {
        let mut notes = self.notes;
        notes.extend(stop);
        ConnectError::Auth {
            host: target.name.clone(),
            user: target.user.clone(),
            tried: self.tried,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keygen(dir: &Path, name: &str, kind: &str, passphrase: &str) -> PathBuf {
        let path = dir.join(name);
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", passphrase, "-C", "test", "-f"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path
    }

    #[tokio::test]
    async fn loads_plain_and_protected_keys() {
        let dir = tempfile::tempdir().unwrap();
        let plain = keygen(dir.path(), "plain", "ed25519", "");
        let rsa = keygen(dir.path(), "rsa", "rsa", "");
        let ecdsa = keygen(dir.path(), "ecdsa", "ecdsa", "");
        let locked = keygen(dir.path(), "locked", "ed25519", "s3cret pass");

        let store = KeyStore::new(None, false);
        assert!(store.load(&plain).await.unwrap().is_some());
        assert!(
            store
                .load(&rsa)
                .await
                .unwrap()
                .unwrap()
                .algorithm()
                .is_rsa()
        );
        assert!(store.load(&ecdsa).await.unwrap().is_some());
        assert!(
            store
                .load(&dir.path().join("missing"))
                .await
                .unwrap()
                .is_none()
        );
        let err = store.load(&locked).await.unwrap_err();
        assert!(err.contains("HERD_KEY_PASSPHRASE"), "{err}");

        let store = KeyStore::new(Some(Secret::new("s3cret pass")), false);
        let key = store.load(&locked).await.unwrap().unwrap();
        // Cached: the same Arc comes back.
        assert!(Arc::ptr_eq(
            &key,
            &store.load(&locked).await.unwrap().unwrap()
        ));

        let store = KeyStore::new(Some(Secret::new("wrong")), false);
        let err = store.load(&locked).await.unwrap_err();
        assert!(
            err.contains("does not unlock") && !err.contains("wrong"),
            "{err}"
        );
    }

    #[test]
    fn finds_certificates_beside_keys() {
        let dir = tempfile::tempdir().unwrap();
        let ca = keygen(dir.path(), "ca", "ed25519", "");
        let key = keygen(dir.path(), "id", "ed25519", "");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-s"])
            .arg(&ca)
            .args(["-I", "test", "-n", "someone"])
            .arg(with_suffix(&key, ".pub"))
            .status()
            .unwrap();
        assert!(status.success());
        let target = Target {
            identity_files: vec![key.clone(), dir.path().join("absent")],
            ..crate::ssh::target::tests_support::target()
        };
        let ids = identities(&target);
        assert_eq!(ids.len(), 1);
        assert!(ids[0].public.is_some());
        assert_eq!(ids[0].certificates.len(), 1);
        assert_eq!(ids[0].certificates[0].0, with_suffix(&key, "-cert.pub"));
    }
}
