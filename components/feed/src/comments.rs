//! Comments on videos: the record, what a post may say, one level of replies, the hot score,
//! the cursors of both orders, and reading the pages the scripts answer. Pure.
//!
//! A comment is a root (on the video) or a reply. A reply is filed under its thread's root
//! whatever it answers, and `reply_to` names the comment it answers, so a thread is one level
//! deep and pages by one sorted set.

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_http::handler::FromParam;
use edge_http::Problem;
use edge_protocol::ids::SEQ_BITS;
use serde::{Deserialize, Serialize};

use crate::cursor::Cursor;
use crate::danmaku::{self, Rules};
use crate::ids::{self, decimal_id, MAX_ID};

/// Comment text: up to 1,000 characters, line breaks allowed.
pub(crate) const TEXT: Rules = Rules { max: 1000, multiline: true };
/// Default and largest page of comments or replies.
pub(crate) const PAGE_DEFAULT: usize = 20;
/// See [`PAGE_DEFAULT`].
pub(crate) const PAGE_MAX: usize = 50;
/// Replies shown with each root in a page: the oldest ones; the rest are paged by thread.
pub(crate) const REPLIES_SHOWN: u64 = 3;
/// Milliseconds worth one decade of engagement in the hot score (12.5 h): a comment posted
/// this much later ranks level with one that has ten times its engagement.
pub(crate) const HOT_DECADE_MS: u64 = 45_000_000;
/// The hot score counts in millionths of a decade, so it is an integer (a sorted-set score
/// both sides read exactly).
const HOT_UNIT: u64 = 1_000_000;

/// Body of `POST /videos/:id/comments`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PostComment {
    /// The comment.
    pub text: String,
    /// The comment this one answers, on the same video; a root when absent.
    pub parent_id: Option<u64>,
}

/// A post that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Trimmed text.
    pub text: String,
    /// The comment answered, if any.
    pub parent: Option<u64>,
}

impl PostComment {
    /// Checks the text ([`TEXT`], `blocklist`) and that `parent_id` can be an id; whether it
    /// names a comment of the video is the script's to say.
    pub(crate) fn check(&self, blocklist: &[String]) -> Result<Checked, Problem> {
        let text = danmaku::check_text(&self.text, TEXT, blocklist)?;
        let parent = match self.parent_id {
            Some(id) if !(1..=MAX_ID).contains(&id) => return Err(invalid_parent()),
            parent => parent,
        };
        Ok(Checked { text, parent })
    }
}

/// The refusal of a `parent_id` that names no comment of the video.
pub(crate) fn invalid_parent() -> Problem {
    Problem::bad_request("invalid-parent", "parent_id must be the id of a comment on this video").with("field", "parent_id")
}

/// The 404 of a comment that does not exist, or not on this video.
pub(crate) fn no_comment() -> Problem {
    Problem::not_found("no-such-comment", "there is no comment with this id on this video")
}

/// A stored comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Comment {
    /// Id, issued like video ids (time-ordered, at most 2^53 - 1).
    pub id: u64,
    /// The video it is on.
    pub video: u64,
    /// The thread's root; `None` for a root.
    pub root: Option<u64>,
    /// The comment it answers (the root or another reply); `None` for a root.
    pub reply_to: Option<u64>,
    /// User id of the author.
    pub author: String,
    /// Text.
    pub text: String,
    /// When it was posted, ms since the Unix epoch (the id's timestamp).
    #[serde(default)]
    pub created_at: u64,
}

impl Comment {
    /// A record as Redis or the key-value store holds it; `created_at` is the id's timestamp.
    pub(crate) fn parse(json: &str) -> Option<Comment> {
        let mut comment: Comment = serde_json::from_str(json).ok()?;
        comment.created_at = ids::timestamp_ms(comment.id);
        Some(comment)
    }

    /// The thread it belongs to: its root's id, or its own for a root.
    pub(crate) fn thread(&self) -> u64 {
        self.root.unwrap_or(self.id)
    }
}

/// The JSON after a new record's reply_to field, for the post script to complete: it issues the
/// id and knows the thread's root only once it has read the parent.
pub(crate) fn record_tail(author: &str, text: &str) -> String {
    let fields = serde_json::json!({ "author": author, "text": text }).to_string();
    format!(",{}", &fields[1..])
}

/// A comment id in a route (`/videos/:id/comments/:cid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CommentId(pub(crate) u64);

impl FromParam for CommentId {
    fn from_param(_: &str, raw: &str) -> Result<Self, Problem> {
        decimal_id(raw)
            .map(CommentId)
            .ok_or_else(|| Problem::bad_request("invalid-id", format!("a comment id is a decimal number from 1 to {MAX_ID}")))
    }
}

/// The hot score of comment `id` with `likes` and `replies`: `1e6 × (log10(1 + likes + 2 ×
/// replies) + created_ms / 45e6)`, rounded, with `created_ms` from the feed epoch. The time term
/// is fixed when the comment is posted, so nothing is recomputed as comments age, new comments
/// enter high, and a page boundary stays put while others post. The scripts that re-score
/// compute it in Lua (`comment-hot.lua`, prepended to each).
pub fn hot_score(id: u64, likes: u64, replies: u64) -> u64 {
    let time = (id >> SEQ_BITS) / (HOT_DECADE_MS / HOT_UNIT);
    let engagement = (HOT_UNIT as f64 * ((1 + likes + 2 * replies) as f64).log10()).round() as u64;
    time + engagement
}

/// The order of a page of roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sort {
    /// Newest first.
    New,
    /// Highest [`hot_score`] first.
    Hot,
}

impl Sort {
    /// The `sort` query value: `new` (the default) or `hot`.
    pub(crate) fn parse(raw: Option<&str>) -> Result<Sort, Problem> {
        match raw {
            None | Some("new") => Ok(Sort::New),
            Some("hot") => Ok(Sort::Hot),
            Some(_) => Err(Problem::bad_request("invalid-sort", "sort must be new or hot").with("field", "sort")),
        }
    }
}

/// Where the next page of roots starts: below `(score, id)` in the order's descending
/// `(score, id)` order (for [`Sort::New`] the score is the id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bound {
    /// The last listed root's score.
    pub score: u64,
    /// The last listed root's id: ties on the score are ordered by it.
    pub id: u64,
}

impl Bound {
    /// The token sent to clients: for `new` a timeline cursor ([`Cursor`]), for `hot`
    /// base64url of `v1h:<score>:<id>`.
    pub(crate) fn encode(&self, sort: Sort) -> String {
        match sort {
            Sort::New => Cursor { before: self.id }.encode(),
            Sort::Hot => Base64UrlUnpadded::encode_string(format!("v1h:{}:{}", self.score, self.id).as_bytes()),
        }
    }

    /// Reads a token [`Bound::encode`] made for `sort`; anything else is 400 `invalid-cursor`.
    pub(crate) fn decode(sort: Sort, token: &str) -> Result<Bound, Problem> {
        match sort {
            Sort::New => Cursor::decode(token).map(|c| Bound { score: c.before, id: c.before }),
            Sort::Hot => {
                let bytes = Base64UrlUnpadded::decode_vec(token).ok();
                let text = bytes.as_deref().and_then(|b| std::str::from_utf8(b).ok());
                let (score, id) = text.and_then(|t| t.strip_prefix("v1h:")).and_then(|t| t.split_once(':')).ok_or_else(invalid_cursor)?;
                let score = if score == "0" { Some(0) } else { decimal_id(score) };
                match (score, decimal_id(id)) {
                    (Some(score), Some(id)) => Ok(Bound { score, id }),
                    _ => Err(invalid_cursor()),
                }
            }
        }
    }
}

/// The cursor of a thread's replies, oldest first: base64url of `v1r:<id>`, the last id listed.
pub(crate) fn encode_after(id: u64) -> String {
    Base64UrlUnpadded::encode_string(format!("v1r:{id}").as_bytes())
}

/// Reads a token [`encode_after`] made; anything else is 400 `invalid-cursor`.
pub(crate) fn decode_after(token: &str) -> Result<u64, Problem> {
    let bytes = Base64UrlUnpadded::decode_vec(token).ok();
    let id = bytes.as_deref().and_then(|b| b.strip_prefix(b"v1r:")).and_then(|id| std::str::from_utf8(id).ok());
    id.and_then(decimal_id).ok_or_else(invalid_cursor)
}

fn invalid_cursor() -> Problem {
    Problem::bad_request("invalid-cursor", "cursor must be a value returned as next_cursor by this endpoint; omit it for the first page")
        .with("field", "cursor")
}

/// A comment as listed: the record, its likes and whether the caller liked it (signed in
/// only); a root also carries its reply count and its first replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Listed {
    /// The record.
    #[serde(flatten)]
    pub comment: Comment,
    /// How many users like it.
    pub likes: u64,
    /// Whether the caller likes it; absent without a token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liked: Option<bool>,
    /// Replies in its thread (roots only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_count: Option<u64>,
    /// The oldest [`REPLIES_SHOWN`] replies (roots only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replies: Option<Vec<Listed>>,
}

/// A page of roots as `comment-page.lua` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    /// Comments on the video, replies included.
    pub total: u64,
    /// The roots, in order.
    pub items: Vec<Listed>,
    /// Where the next page starts, when this one is full.
    pub next: Option<Bound>,
}

/// A script reply's words in order, nil as empty.
struct Words<'a>(std::slice::Iter<'a, Option<String>>);

impl Words<'_> {
    fn text(&mut self) -> Option<&str> {
        self.0.next().map(|w| w.as_deref().unwrap_or(""))
    }

    fn number(&mut self) -> Option<u64> {
        self.text()?.parse().ok()
    }

    /// One listed comment (record, likes, liked); `None` inside when its record is gone.
    fn listed(&mut self, signed_in: bool) -> Option<Option<Listed>> {
        let record = self.text()?.to_owned();
        let likes = self.number()?;
        let liked = self.number()? == 1;
        let listed = Comment::parse(&record).map(|comment| Listed {
            comment,
            likes,
            liked: signed_in.then_some(liked),
            reply_count: None,
            replies: None,
        });
        Some(listed)
    }
}

/// Reads `comment-page.lua`'s `ok` answer: `ok, total, picked, last score, last id`, then per
/// root its record, likes, liked, reply count and shown replies, then each shown reply's record,
/// likes and liked. A record deleted meanwhile is skipped; the cursor still moves past it.
/// `None` for an answer of another shape.
pub(crate) fn read_page(words: &[Option<String>], limit: usize, signed_in: bool) -> Option<Page> {
    let mut w = Words(words.iter());
    if w.text()? != "ok" {
        return None;
    }
    let (total, picked, score, id) = (w.number()?, w.number()? as usize, w.number()?, w.number()?);
    let mut items = Vec::with_capacity(picked);
    for _ in 0..picked {
        let root = w.listed(signed_in)?;
        let reply_count = w.number()?;
        let shown = w.number()?;
        let mut replies = Vec::new();
        for _ in 0..shown {
            replies.extend(w.listed(signed_in)?);
        }
        if let Some(root) = root {
            items.push(Listed { reply_count: Some(reply_count), replies: Some(replies), ..root });
        }
    }
    let next = (picked > 0 && picked >= limit).then_some(Bound { score, id });
    Some(Page { total, items, next })
}

/// A page of one thread's replies as `comment-replies.lua` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Replies {
    /// The comment whose replies these are.
    pub parent: Comment,
    /// Replies in the thread.
    pub total: u64,
    /// The replies, oldest first.
    pub items: Vec<Listed>,
    /// The id the next page starts after, when this one is full.
    pub next: Option<u64>,
}

/// Reads `comment-replies.lua`'s `ok` answer: `ok, parent record, total, picked, last id`, then
/// per reply its record, likes and liked. `None` for an answer of another shape.
pub(crate) fn read_replies(words: &[Option<String>], limit: usize, signed_in: bool) -> Option<Replies> {
    let mut w = Words(words.iter());
    if w.text()? != "ok" {
        return None;
    }
    let parent = Comment::parse(w.text()?)?;
    let (total, picked, last) = (w.number()?, w.number()? as usize, w.number()?);
    let mut items = Vec::with_capacity(picked);
    for _ in 0..picked {
        items.extend(w.listed(signed_in)?);
    }
    let next = (picked > 0 && picked >= limit).then_some(last);
    Some(Replies { parent, total, items, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(json: &str) -> PostComment {
        serde_json::from_str(json).unwrap()
    }

    fn id_at(ms: u64, seq: u64) -> u64 {
        (ms << SEQ_BITS) | seq
    }

    fn words(list: &[&str]) -> Vec<Option<String>> {
        list.iter().map(|w| (!w.is_empty()).then(|| (*w).to_owned())).collect()
    }

    fn record(id: u64, root: Option<u64>) -> String {
        let root = root.map_or("null".to_owned(), |r| r.to_string());
        format!(r#"{{"id":{id},"video":7,"root":{root},"reply_to":{root},"author":"ann","text":"t{id}"}}"#)
    }

    #[test]
    fn posts_are_checked() {
        let checked = post(r#"{"text":" line 1\r\nline 2 ","parent_id":12}"#).check(&[]).unwrap();
        assert_eq!(checked, Checked { text: "line 1\nline 2".into(), parent: Some(12) });
        assert_eq!(post(r#"{"text":"x"}"#).check(&[]).unwrap().parent, None);
        assert!(post(&format!(r#"{{"text":"{}"}}"#, "字".repeat(1000))).check(&[]).is_ok());
        let cases = [
            (r#"{"text":"   "}"#, "invalid-text"),
            (r#"{"text":"a\u0007b"}"#, "invalid-text"),
            (r#"{"text":"x","parent_id":0}"#, "invalid-parent"),
            (r#"{"text":"x","parent_id":9007199254740992}"#, "invalid-parent"),
        ];
        for (json, code) in cases {
            assert_eq!(post(json).check(&[]).unwrap_err().code(), code, "{json}");
        }
        let long = post(&format!(r#"{{"text":"{}"}}"#, "x".repeat(1001))).check(&[]).unwrap_err();
        assert_eq!((long.code(), long.extension("limit").and_then(|v| v.as_u64())), ("invalid-text", Some(1000)));
        let blocked = post(r#"{"text":"so B.A.D\nword"}"#).check(&danmaku::parse_blocklist("badword")).unwrap_err();
        assert_eq!(blocked.code(), "blocked-content");
        assert!(serde_json::from_str::<PostComment>(r#"{"text":"x","author":"u2"}"#).is_err());
        assert!(serde_json::from_str::<PostComment>(r#"{"text":"x","parent_id":-1}"#).is_err());
        assert!(serde_json::from_str::<PostComment>(r#"{"text":"x","parent_id":"12"}"#).is_err());
    }

    #[test]
    fn records_take_their_time_from_the_id_and_the_post_script_completes_them() {
        let id = id_at(1000, 3);
        let comment = Comment::parse(&record(id, Some(5))).unwrap();
        assert_eq!((comment.created_at, comment.thread(), comment.reply_to), (ids::FEED_EPOCH_MS + 1000, 5, Some(5)));
        assert_eq!(Comment::parse(&record(id, None)).unwrap().thread(), id);
        assert!(Comment::parse(r#"{"id":1}"#).is_none());
        let tail = record_tail("u\"1", "a\nb");
        let completed = format!(r#"{{"id":{id},"video":7,"root":null,"reply_to":null{tail}"#);
        let parsed = Comment::parse(&completed).unwrap();
        assert_eq!((parsed.author.as_str(), parsed.text.as_str(), parsed.root), ("u\"1", "a\nb", None));
        let json = serde_json::to_string(&parsed).unwrap();
        assert!(json.starts_with(&format!(r#"{{"id":{id},"video":7,"root":null,"reply_to":null,"author""#)), "{json}");
    }

    #[test]
    fn comment_ids_in_routes_are_canonical() {
        assert_eq!(CommentId::from_param("cid", "42").unwrap(), CommentId(42));
        for bad in ["", "0", "042", "x", "-1", "9007199254740992"] {
            assert_eq!(CommentId::from_param("cid", bad).unwrap_err().code(), "invalid-id", "{bad:?}");
        }
    }

    #[test]
    fn the_hot_score_decays_by_a_decade_every_twelve_and_a_half_hours() {
        let early = id_at(1_000_000, 0);
        let later = id_at(1_000_000 + HOT_DECADE_MS, 0);
        assert_eq!(hot_score(early, 0, 0), 1_000_000 / 45);
        assert_eq!(hot_score(later, 0, 0), hot_score(early, 0, 0) + 1_000_000, "12.5 h later is one decade up");
        assert_eq!(hot_score(early, 9, 0), hot_score(later, 0, 0), "and level with ten times the engagement");
        assert_eq!(hot_score(early, 0, 2) - hot_score(early, 0, 0), 698_970, "a reply counts as two likes: log10(5)");
        assert!(hot_score(early, 3, 0) > hot_score(early, 2, 0));
        assert!(hot_score(id_at(1, 0), 0, 0) < hot_score(id_at(46, 0), 0, 0));
        assert!(hot_score(ids::MAX_ID, 1 << 40, 1 << 40) < 1 << 53, "exact as a sorted-set score");
    }

    #[test]
    fn cursors_round_trip_per_order_and_refuse_everything_else() {
        let bound = Bound { score: 1_234_567, id: 98_765 };
        for sort in [Sort::New, Sort::Hot] {
            let token = bound.encode(sort);
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{token}");
            let back = Bound::decode(sort, &token).unwrap();
            assert_eq!(back.id, 98_765);
        }
        assert_eq!(Bound::decode(Sort::Hot, &bound.encode(Sort::Hot)).unwrap(), bound);
        assert_eq!(Bound::decode(Sort::New, &bound.encode(Sort::New)).unwrap(), Bound { score: 98_765, id: 98_765 });
        assert_eq!(Bound::decode(Sort::Hot, &Base64UrlUnpadded::encode_string(b"v1h:0:5")).unwrap(), Bound { score: 0, id: 5 });
        let enc = |s: &str| Base64UrlUnpadded::encode_string(s.as_bytes());
        let bad_hot = [bound.encode(Sort::New), enc("v1h:5"), enc("v1h::5"), enc("v1h:01:5"), enc("v1h:5:0"), enc("v1h:-5:5"), "%%".into()];
        for bad in bad_hot {
            assert_eq!(Bound::decode(Sort::Hot, &bad).unwrap_err().code(), "invalid-cursor", "{bad}");
        }
        assert_eq!(Bound::decode(Sort::New, &bound.encode(Sort::Hot)).unwrap_err().code(), "invalid-cursor");
        assert_eq!(decode_after(&encode_after(77)).unwrap(), 77);
        for bad in [enc("v1r:0"), enc("v1:5"), enc("v1r:5x"), String::new()] {
            assert_eq!(decode_after(&bad).unwrap_err().code(), "invalid-cursor", "{bad}");
        }
        assert_eq!(Sort::parse(None).unwrap(), Sort::New);
        assert_eq!(Sort::parse(Some("hot")).unwrap(), Sort::Hot);
        assert_eq!(Sort::parse(Some("HOT")).unwrap_err().code(), "invalid-sort");
    }

    #[test]
    fn pages_are_read_with_their_replies_and_skip_records_gone_meanwhile() {
        let (root, reply, gone) = (id_at(10, 0), id_at(11, 0), id_at(9, 0));
        let rec_root = record(root, None);
        let rec_reply = record(reply, Some(root));
        let reply_words = ["ok", "5", "2", "4400", &gone.to_string()];
        let mut list = reply_words.to_vec();
        list.extend([rec_root.as_str(), "2", "1", "1", "1", rec_reply.as_str(), "0", "0"]);
        list.extend(["", "0", "0", "0", "0"]);
        let page = read_page(&words(&list), 2, true).unwrap();
        assert_eq!((page.total, page.items.len(), page.next), (5, 1, Some(Bound { score: 4400, id: gone })));
        let first = &page.items[0];
        assert_eq!((first.likes, first.liked, first.reply_count), (2, Some(true), Some(1)));
        let replies = first.replies.as_ref().unwrap();
        assert_eq!((replies.len(), replies[0].comment.id, replies[0].liked, replies[0].reply_count), (1, reply, Some(false), None));
        let json = serde_json::to_value(first).unwrap();
        assert_eq!(
            (json["id"].as_u64(), json["reply_count"].as_u64(), json["replies"][0]["reply_to"].as_u64()),
            (Some(root), Some(1), Some(root))
        );
        assert!(json["replies"][0].get("replies").is_none());

        let anonymous = read_page(&words(&list), 3, false).unwrap();
        assert_eq!((anonymous.items[0].liked, anonymous.next), (None, None), "a short page ends the list");
        assert!(serde_json::to_value(&anonymous.items[0]).unwrap().get("liked").is_none());
        assert_eq!(read_page(&words(&["ok", "0", "0", "0", "0"]), 20, true).unwrap(), Page { total: 0, items: vec![], next: None });
        assert!(read_page(&words(&["missing"]), 20, true).is_none());
        assert!(read_page(&words(&list[..8]), 2, true).is_none(), "a truncated answer");
    }

    #[test]
    fn reply_pages_are_read_oldest_first() {
        let (root, a, b) = (id_at(10, 0), id_at(11, 0), id_at(12, 0));
        let (rec_root, rec_a, rec_b) = (record(root, None), record(a, Some(root)), record(b, Some(root)));
        let list = ["ok", rec_root.as_str(), "7", "2", &b.to_string(), rec_a.as_str(), "1", "0", rec_b.as_str(), "0", "1"];
        let replies = read_replies(&words(&list), 2, true).unwrap();
        assert_eq!((replies.parent.id, replies.total, replies.next), (root, 7, Some(b)));
        assert_eq!(
            replies.items.iter().map(|r| (r.comment.id, r.likes, r.liked)).collect::<Vec<_>>(),
            [(a, 1, Some(false)), (b, 0, Some(true))]
        );
        assert_eq!(read_replies(&words(&list), 3, false).unwrap().next, None);
        assert!(read_replies(&words(&["missing"]), 2, true).is_none());
    }
}
