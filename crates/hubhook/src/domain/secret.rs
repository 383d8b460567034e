//! Secrets: random tokens shown once, stored as SHA-256 hashes, compared in constant time.
//!
//! Tokens are 256 random bits, so a plain SHA-256 is the right tool (argon2 is for human passwords and
//! would cost milliseconds on every webhook).

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub type TokenHash = [u8; 32];

pub fn fill_random(buf: &mut [u8]) {
    // The OS generator failing is not a recoverable condition for a service that mints secrets.
    getrandom::fill(buf).expect("the operating system's random generator failed");
}

/// A new API key's public id: `key_` and 8 hex digits, shown on the pages and in `apikey create`.
pub fn new_key_id() -> String {
    let mut public = [0u8; 4];
    fill_random(&mut public);
    let mut id = String::with_capacity(12);
    id.push_str("key_");
    for b in public {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// A new random token: 32 bytes, URL-safe base64 without padding (43 characters).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    let mut s = String::with_capacity(prefix.len() + 43);
    s.push_str(prefix);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, &mut s);
    s
}

pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares a presented token with a stored hash without leaking, through timing, how much matched.
pub fn token_matches(presented: &str, stored: &TokenHash) -> bool {
    hash_token(presented).ct_eq(stored).into()
}

pub fn hash_from_slice(raw: &[u8]) -> Option<TokenHash> {
    raw.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_verify_only_themselves() {
        let a = new_token("");
        let b = new_token("");
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        let h = hash_token(&a);
        assert!(token_matches(&a, &h));
        assert!(!token_matches(&b, &h));
        assert!(!token_matches("", &h));
    }
}
