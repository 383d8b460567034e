//! Standard Webhooks signing (<https://www.standardwebhooks.com>): `webhook-id`, `webhook-timestamp`
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the decoded
//! bytes of a `whsec_<base64>` secret. Several signatures are separated by spaces (secret rotation).

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::secret::fill_random;

pub const SECRET_PREFIX: &str = "whsec_";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a signing secret must be whsec_ followed by base64")]
pub struct BadSecret;

/// A new secret: 24 random bytes (192 bits), as Svix and the spec's examples use.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    fill_random(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

fn key_bytes(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD.decode(b64).map_err(|_| BadSecret)
}

/// `v1,<base64 signature>` for one secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let key = key_bytes(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut out = String::from("v1,");
    STANDARD.encode_string(mac.finalize().into_bytes(), &mut out);
    Ok(out)
}

/// The `webhook-signature` header value for every secret currently valid (newest first).
pub fn signature_header(
    secrets: &[&str],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, BadSecret> {
    let mut parts = Vec::with_capacity(secrets.len());
    for s in secrets {
        parts.push(sign(s, msg_id, timestamp, body)?);
    }
    Ok(parts.join(" "))
}

/// Checks a secret's shape when a subscription is made (so a typo fails then, not at delivery).
pub fn check_secret(secret: &str) -> Result<(), BadSecret> {
    let key = key_bytes(secret)?;
    if key.is_empty() || !secret.starts_with(SECRET_PREFIX) {
        return Err(BadSecret);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks reference implementations (its libraries' test
    /// suites sign this message with this secret and expect this signature).
    #[test]
    fn matches_the_reference_test_vector() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_sends_both_signatures_and_bad_secrets_are_refused() {
        let a = new_secret();
        let b = new_secret();
        assert!(check_secret(&a).is_ok());
        let h = signature_header(&[&a, &b], "msg_1", 1, b"{}").unwrap();
        let parts: Vec<_> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign(&a, "msg_1", 1, b"{}").unwrap());
        assert_eq!(parts[1], sign(&b, "msg_1", 1, b"{}").unwrap());
        assert_ne!(parts[0], parts[1]);
        assert_eq!(check_secret("whsec_!!!"), Err(BadSecret));
        assert_eq!(check_secret("nope"), Err(BadSecret));
    }
}
