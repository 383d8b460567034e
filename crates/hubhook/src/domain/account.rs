//! Accounts of the web pages: how an email is normalised (one rule for storing it, looking it up
//! and counting its failed logins) and what a department may be.

/// The longest email an account may have (RFC 5321's limit for a path).
pub const MAX_EMAIL: usize = 254;
/// The longest department name.
pub const MAX_DEPARTMENT: usize = 100;

/// An email as hubhook keys accounts by it: surrounding whitespace removed, ASCII letters
/// lower-cased, every other character kept as typed. Both stores compare the stored email with this
/// form exactly (SQLite's `NOCASE` folds ASCII only; PostgreSQL compares the exact text too), and
/// the login limiter counts failures under it, so two spellings that reach the same account always
/// share one count.
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}

/// A normalised email fit for a new account: one `@` with something on each side, no whitespace or
/// control characters, at most [`MAX_EMAIL`] bytes.
pub fn parse_email(raw: &str) -> Option<String> {
    let email = normalize_email(raw);
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && email.len() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(email)
}

/// Why a department name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepartmentError {
    #[error("a department name is at most {MAX_DEPARTMENT} characters, without control characters")]
    Invalid,
}

/// A department as given: trimmed; empty means none.
pub fn parse_department(raw: &str) -> Result<Option<String>, DepartmentError> {
    let d = raw.trim();
    if d.chars().count() > MAX_DEPARTMENT || d.chars().any(char::is_control) {
        return Err(DepartmentError::Invalid);
    }
    Ok(Some(d.to_owned()).filter(|d| !d.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_ascii_folded_only() {
        assert_eq!(normalize_email(" Ana@Hotel.PT \t"), "ana@hotel.pt");
        assert_eq!(normalize_email("Alice@X"), normalize_email("alice@x "));
        // Non-ASCII letters are kept as typed: the stores do not fold them either, so a spelling
        // that differs there names another (non-existent) account, counted on its own.
        assert_eq!(normalize_email("ÉLISE@X"), "Élise@x");
        assert_ne!(normalize_email("ÉLISE@X"), normalize_email("élise@x"));
    }

    #[test]
    fn emails() {
        assert_eq!(
            parse_email(" Ana@Hotel.PT ").as_deref(),
            Some("ana@hotel.pt")
        );
        for bad in ["", "ana", "@hotel", "ana@", "a b@c", "a@b@c", "a@b\u{7}"] {
            assert_eq!(parse_email(bad), None, "{bad:?}");
        }
        assert_eq!(parse_email(&format!("{}@x", "a".repeat(260))), None);
    }

    #[test]
    fn departments() {
        assert_eq!(parse_department("  "), Ok(None));
        assert_eq!(
            parse_department(" Housekeeping "),
            Ok(Some("Housekeeping".into()))
        );
        assert!(parse_department(&"x".repeat(101)).is_err());
        assert!(parse_department("a\nb").is_err());
    }
}
