//! Keyset paging over descending ids: opaque cursors and page sizes. Pure.

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_http::Problem;
use serde::Deserialize;

use crate::ids::decimal_id;

/// A page request of a newest-first list (`?cursor=&limit=`): where the last page ended and how
/// many to list.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

impl PageQuery {
    /// Where the page starts (`None`: at the top) and its size: `default` when absent, else 1 to
    /// `max`.
    pub(crate) fn read(&self, default: usize, max: usize) -> Result<(Option<Cursor>, usize), Problem> {
        let limit = page_limit(self.limit.as_deref(), default, max)?;
        let after = self.cursor.as_deref().map(Cursor::decode).transpose()?;
        Ok((after, limit))
    }
}

/// Where the next page of a newest-first list starts: it holds only ids below `before`.
///
/// Keyset rather than offset paging, so items added while a client pages neither repeat nor
/// shift the pages it has not read yet. Clients see an opaque, versioned token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Exclusive upper bound of the next page's ids.
    pub before: u64,
}

impl Cursor {
    /// The cursor after `page` when it is full (`limit` ids), else `None`: the list has ended.
    /// A full page may happen to be the last one; the next request then comes back empty, which
    /// is cheaper than reading one extra id from every source on every page.
    pub(crate) fn after(page: &[u64], limit: usize) -> Option<Cursor> {
        match page.last() {
            Some(&before) if page.len() >= limit => Some(Cursor { before }),
            _ => None,
        }
    }

    /// The Redis score bound a page after `cursor` reads below: `(<before>`, or `+inf` for the
    /// first page.
    pub(crate) fn score_bound(cursor: Option<Cursor>) -> String {
        cursor.map_or_else(|| "+inf".to_owned(), |c| format!("({}", c.before))
    }

    /// The token sent to clients: base64url (no padding) of `v1:<id>`.
    pub(crate) fn encode(&self) -> String {
        Base64UrlUnpadded::encode_string(format!("v1:{}", self.before).as_bytes())
    }

    /// Reads a token made by [`Cursor::encode`]; anything else is 400 `invalid-cursor`.
    pub(crate) fn decode(token: &str) -> Result<Cursor, Problem> {
        let bytes = Base64UrlUnpadded::decode_vec(token).ok();
        let before = bytes.as_deref().and_then(|b| b.strip_prefix(b"v1:")).and_then(|id| std::str::from_utf8(id).ok());
        match before.and_then(decimal_id) {
            Some(before) => Ok(Cursor { before }),
            None => Err(Problem::bad_request(
                "invalid-cursor",
                "cursor must be a value returned as next_cursor by this endpoint; omit it for the first page",
            )
            .with("field", "cursor")),
        }
    }
}

/// The page size from a `limit` query value: `default` when absent, else 1 to `max`.
pub(crate) fn page_limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, Problem> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<usize>() {
        Ok(limit) if raw.bytes().all(|b| b.is_ascii_digit()) && (1..=max).contains(&limit) => Ok(limit),
        _ => Err(Problem::bad_request("invalid-limit", format!("limit must be a whole number from 1 to {max}"))
            .with("field", "limit")
            .with("max", max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::MAX_ID;

    #[test]
    fn cursors_round_trip_and_are_opaque() {
        let cursor = Cursor { before: 1_234_567_890_123 };
        let token = cursor.encode();
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{token}");
        assert!(!token.contains("1234567890123"));
        assert_eq!(Cursor::decode(&token).unwrap(), cursor);
        assert_eq!(Cursor::decode(&Cursor { before: MAX_ID }.encode()).unwrap().before, MAX_ID);
    }

    #[test]
    fn a_page_query_reads_its_limit_then_its_cursor() {
        let query =
            |cursor: Option<&str>, limit: Option<&str>| PageQuery { cursor: cursor.map(str::to_owned), limit: limit.map(str::to_owned) };
        assert_eq!(query(None, None).read(20, 100).unwrap(), (None, 20));
        let token = Cursor { before: 42 }.encode();
        assert_eq!(query(Some(&token), Some("5")).read(20, 100).unwrap(), (Some(Cursor { before: 42 }), 5));
        assert_eq!(query(Some("nope"), Some("0")).read(20, 100).unwrap_err().code(), "invalid-limit");
        assert_eq!(query(Some("nope"), None).read(20, 100).unwrap_err().code(), "invalid-cursor");
        assert_eq!(Cursor::score_bound(None), "+inf");
        assert_eq!(Cursor::score_bound(Some(Cursor { before: 42 })), "(42");
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let enc = |s: &str| Base64UrlUnpadded::encode_string(s.as_bytes());
        let too_big = enc(&format!("v1:{}", MAX_ID + 1));
        for bad in [enc("v1:0"), enc("v2:5"), enc("v1:"), enc("v1:5x"), enc("v1:-5"), enc("5"), too_big] {
            assert_eq!(Cursor::decode(&bad).unwrap_err().code(), "invalid-cursor", "{bad}");
        }
        for bad in ["", "!!!", "djE6NQ==", "djE6NR"] {
            assert_eq!(Cursor::decode(bad).unwrap_err().code(), "invalid-cursor", "{bad}");
        }
        assert_eq!(Cursor::decode("djE6NQ").unwrap().before, 5, "the canonical form of v1:5 decodes");
    }

    #[test]
    fn a_next_cursor_follows_only_full_pages() {
        assert_eq!(Cursor::after(&[9, 7, 4], 3), Some(Cursor { before: 4 }));
        assert_eq!(Cursor::after(&[9, 7], 3), None);
        assert_eq!(Cursor::after(&[], 0), None);
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(page_limit(None, 20, 100).unwrap(), 20);
        assert_eq!(page_limit(Some("100"), 20, 100).unwrap(), 100);
        assert_eq!(page_limit(Some("1"), 20, 100).unwrap(), 1);
        for bad in ["0", "101", "", "-1", "+5", "ten", "99999999999999999999999"] {
            assert_eq!(page_limit(Some(bad), 20, 100).unwrap_err().code(), "invalid-limit", "{bad:?}");
        }
    }
}
