//! Accounts: username rules, password policy, the stored user record and ids.

use edge_http::Problem;
use serde::{Deserialize, Serialize};

/// Shortest and longest username, after normalisation.
pub(crate) const USERNAME_LEN: std::ops::RangeInclusive<usize> = 3..=32;
/// Shortest and longest password, in characters.
pub(crate) const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=128;
/// Longest display name, in characters.
pub(crate) const DISPLAY_NAME_MAX: usize = 64;

/// A stored account (key-value `user:<id>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct User {
    /// Opaque id.
    pub id: String,
    /// Normalised username (unique).
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Roles, for example `admin`: from the settings each time the account is loaded
    /// ([`crate::settings::Settings::roles_of`]), never stored, and any stored with an older
    /// record ignored.
    #[serde(skip)]
    pub roles: Vec<String>,
    /// Banned accounts cannot sign in.
    #[serde(default)]
    pub banned: bool,
    /// Creation time, ms since the Unix epoch.
    pub created_at: u64,
    /// Bumped by every save, so search applies changes in order.
    #[serde(default)]
    pub version: u64,
}

/// What the API shows of a user.
#[derive(Debug, Serialize)]
pub(crate) struct PublicUser<'a> {
    /// Opaque id.
    pub id: &'a str,
    /// Username.
    pub username: &'a str,
    /// Display name.
    pub display_name: &'a str,
    /// Roles.
    pub roles: &'a [String],
    /// Creation time, ms since the Unix epoch.
    pub created_at: u64,
}

impl User {
    /// The public view.
    pub(crate) fn public(&self) -> PublicUser<'_> {
        PublicUser {
            id: &self.id,
            username: &self.username,
            display_name: &self.display_name,
            roles: &self.roles,
            created_at: self.created_at,
        }
    }
}

/// Key-value key of a user record.
pub(crate) fn user_key(id: &str) -> String {
    edge_protocol::keys::user_key(id)
}

/// Normalises a username: trimmed, ASCII lowercase; letters, digits, `_`, `.` and `-` only,
/// 3 to 32 long, starting with a letter or digit. Case-insensitive, so `Ann` and `ann` are
/// one account and look-alike Unicode cannot impersonate anyone.
pub(crate) fn normalize_username(raw: &str) -> Result<String, Problem> {
    let name = raw.trim().to_ascii_lowercase();
    let valid = USERNAME_LEN.contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !valid {
        return Err(Problem::bad_request(
            "invalid-username",
            "a username is 3 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit",
        )
        .with("field", "username"));
    }
    Ok(name)
}

/// Checks a new password: 8 to 128 characters, not only whitespace, not the username.
pub(crate) fn check_password(password: &str, username: &str) -> Result<(), Problem> {
    let chars = password.chars().count();
    let fail = |detail: &str| Err(Problem::bad_request("weak-password", detail.to_owned()).with("field", "password"));
    if !PASSWORD_LEN.contains(&chars) {
        return fail("a password is 8 to 128 characters");
    }
    if password.trim().is_empty() || password.eq_ignore_ascii_case(username) {
        return fail("choose a password that is not blank and not your username");
    }
    Ok(())
}

/// Checks a display name: 1 to 64 characters, no control characters; defaults to the username.
pub(crate) fn display_name(raw: Option<&str>, username: &str) -> Result<String, Problem> {
    let name = raw.map(str::trim).filter(|n| !n.is_empty()).unwrap_or(username);
    if name.chars().count() > DISPLAY_NAME_MAX || name.chars().any(char::is_control) {
        return Err(
            Problem::bad_request("invalid-display-name", "a display name is 1 to 64 printable characters").with("field", "display_name")
        );
    }
    Ok(name.to_owned())
}

/// Random bytes from the host.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The host's random source failing is not recoverable; ids would collide.
    getrandom::fill(&mut bytes).expect("the host provides randomness");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_restricted() {
        assert_eq!(normalize_username("  Ann.B_2 ").unwrap(), "ann.b_2");
        for bad in ["ab", "_ann", "ann b", "ánn", "a".repeat(33).as_str(), "ann\u{200b}"] {
            assert_eq!(normalize_username(bad).unwrap_err().code(), "invalid-username", "{bad:?}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(check_password("correct horse", "ann").is_ok());
        assert!(check_password("短密码", "ann").is_err());
        assert!(check_password("        ", "ann").is_err());
        assert!(check_password("annabelle", "AnnaBelle").is_err());
        assert!(check_password(&"x".repeat(129), "ann").is_err());
        assert!(check_password("密码密码密码密码", "ann").is_ok(), "8 characters, not bytes");
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name(None, "ann").unwrap(), "ann");
        assert_eq!(display_name(Some("  小安 "), "ann").unwrap(), "小安");
        assert!(display_name(Some("a\u{7}b"), "ann").is_err());
        assert!(display_name(Some(&"x".repeat(65)), "ann").is_err());
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }
}
