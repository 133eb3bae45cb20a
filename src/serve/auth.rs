//! The bearer token that guards a non-loopback `herd serve`.
//!
//! The token is compared in constant time (over SHA-256 digests, so the
//! lengths compared are equal too): timing must not tell an attacker how
//! many leading characters they guessed right.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::ServeError;

/// Shortest token accepted: a guessable token is no guard.
const MIN_LEN: usize = 16;

/// A token read from `--token-file`; only its digest is kept.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// Reads the token: the file's text without surrounding whitespace.
    pub fn from_file(path: &Path) -> Result<Token, ServeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServeError::TokenFile {
            path: path.to_path_buf(),
            source,
        })?;
        let token = text.trim();
        if token.chars().count() < MIN_LEN {
            return Err(ServeError::WeakToken {
                path: path.to_path_buf(),
                len: token.chars().count(),
            });
        }
        Ok(Token::new(token))
    }

    fn new(token: &str) -> Token {
        Token {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(given) = authorization.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        let given = given.trim_ascii();
        let digest: [u8; 32] = Sha256::digest(given).into();
        // Every byte is compared whatever the earlier ones were.
        digest
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let token = Token::new("0123456789abcdef");
        assert!(token.accepts(Some(b"Bearer 0123456789abcdef")));
        assert!(!token.accepts(Some(b"Bearer 0123456789abcdeF")));
        assert!(!token.accepts(Some(b"Bearer 0123456789abcde")));
        assert!(!token.accepts(Some(b"Basic 0123456789abcdef")));
        assert!(!token.accepts(Some(b"0123456789abcdef")));
        assert!(!token.accepts(None));
    }

    #[test]
    fn short_or_missing_token_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "short\n").unwrap();
        let err = Token::from_file(&file).unwrap_err().to_string();
        assert!(err.contains("too short (5 characters)"), "{err}");
        std::fs::write(&file, "  0123456789abcdef\n").unwrap();
        assert!(
            Token::from_file(&file)
                .unwrap()
                .accepts(Some(b"Bearer 0123456789abcdef"))
        );
        let err = Token::from_file(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read the token file"), "{err}");
    }
}
