//! What an uploader remembers in `localStorage` to resume after a reload: the file can only be
//! recognised by its name, size and modification time, and the server holds the truth about
//! which parts it has.

use serde::{Deserialize, Serialize};

use crate::challenge::Hashed;

/// The saved record of an unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    /// The server's upload id.
    pub id: String,
    /// The file's content key and part digests, so a resumed upload does not hash again.
    pub hashed: Hashed,
    /// The file's name, shown when offering to resume.
    pub filename: String,
    /// Its size.
    pub size: u64,
    /// When the upload started, ms since the Unix epoch.
    pub started_at: u64,
}

/// Prefix of every key this SDK writes to `localStorage`.
pub const PREFIX: &str = "video-edge:upload:";

/// The `localStorage` key for `user`'s upload of a file.
pub fn key(user: &str, filename: &str, size: u64, last_modified: u64) -> String {
    format!("{PREFIX}{user}:{size}:{last_modified}:{filename}")
}

/// Whether `key` is one of `user`'s saved uploads.
pub fn belongs_to(key: &str, user: &str) -> bool {
    key.strip_prefix(PREFIX).and_then(|rest| rest.strip_prefix(user)).is_some_and(|rest| rest.starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_identify_the_user_and_the_file() {
        let k = key("42", "cat: the movie.mp4", 10, 7);
        assert_eq!(k, "video-edge:upload:42:10:7:cat: the movie.mp4");
        assert!(belongs_to(&k, "42"));
        assert!(!belongs_to(&k, "4"), "a prefix of another user's id is not that user");
        assert_ne!(k, key("42", "cat: the movie.mp4", 11, 7));
    }

    #[test]
    fn records_round_trip() {
        let hashed = Hashed { content_key: "ab".into(), checksums: vec!["cd".into()] };
        let s = Saved { id: "u1".into(), hashed, filename: "a.mp4".into(), size: 3, started_at: 9 };
        assert_eq!(serde_json::from_str::<Saved>(&serde_json::to_string(&s).unwrap()).unwrap(), s);
    }
}
