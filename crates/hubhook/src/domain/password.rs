//! Human passwords: argon2id hashes in the PHC string format (algorithm, parameters and salt travel
//! with the hash, so the parameters can be raised later without breaking existing accounts).
//!
//! Hashing costs tens of milliseconds by design: callers on an async runtime run it on a blocking
//! thread. It is never used on the webhook path (tokens are random; SHA-256 suffices there).

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};

/// Shortest password `hubhook user add` accepts.
pub const MIN_LENGTH: usize = 10;
/// Longer input is refused before hashing, so nobody can make the server hash megabytes.
pub const MAX_LENGTH: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_LENGTH} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_LENGTH} bytes long")]
    TooLong,
    #[error("could not hash the password: {0}")]
    Hash(String),
}

/// An argon2id hash (argon2 crate defaults: 19 MiB, 2 passes) with a fresh 128-bit salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    let mut salt = [0u8; 16];
    super::secret::fill_random(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `stored`; a stored value that does not parse matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_LENGTH {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A valid hash of a password nobody knows, verified against when an email is unknown, so that the
/// answer takes as long as for a known account with a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut random = [0u8; 24];
        super::secret::fill_random(&mut random);
        let secret: String = random.iter().map(|b| format!("{b:02x}")).collect();
        hash(&secret).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify_only_their_password() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("correct horse battery", "not a hash"));
    }

    #[test]
    fn length_limits() {
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert_eq!(hash(&"x".repeat(300)), Err(PasswordError::TooLong));
        assert!(!verify(&"x".repeat(300), decoy_hash()));
    }
}
