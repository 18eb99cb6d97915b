//! Danmaku: bullet comments pinned to a playback time. Checking a post (length, blocked words;
//! [`check_text`] serves comments too), the text key that tells repeats apart from new comments,
//! the per-minute storage segments, and merging a burst of identical comments into one counted
//! item on read. Pure.

use std::collections::HashMap;

use edge_http::Problem;
use serde::{Deserialize, Serialize};

/// Longest text, in characters.
pub(crate) const TEXT_MAX: usize = 100;
/// Latest playback time a danmaku may be pinned to: 24 hours.
pub(crate) const MAX_TIME_MS: u64 = 86_400_000;
/// Danmaku are stored and read per minute of playback, so a player fetches the minute it is
/// about to play rather than the whole video's comments.
pub(crate) const SEGMENT_MS: u64 = 60_000;

/// How a danmaku is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// Flies across the video (the default).
    #[default]
    Scroll,
    /// Pinned to the top.
    Top,
    /// Pinned to the bottom.
    Bottom,
}

/// Body of a post.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PostDanmaku {
    /// Playback time it belongs to, ms from the start of the video.
    pub time_ms: u64,
    /// The comment.
    pub text: String,
    /// `#rrggbb`; the player's default when absent.
    pub color: Option<String>,
    /// `scroll` (default), `top` or `bottom`.
    pub mode: Option<String>,
}

/// A post that passed every check; it becomes a [`Danmaku`] once it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Playback time, ms.
    pub time_ms: u64,
    /// Trimmed text.
    pub text: String,
    /// Lowercase `#rrggbb`.
    pub color: Option<String>,
    /// Display mode.
    pub mode: Mode,
}

/// A stored danmaku.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Danmaku {
    /// Unique id.
    pub id: u64,
    /// Playback time, ms.
    pub time_ms: u64,
    /// User id of the poster.
    pub user: String,
    /// Text.
    pub text: String,
    /// Lowercase `#rrggbb`.
    pub color: Option<String>,
    /// Display mode.
    pub mode: Mode,
    /// When it was posted, ms since the Unix epoch.
    pub posted_at: u64,
}

/// What a reader gets: a danmaku, or a burst of identical ones shown once with their count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Merged {
    /// The id (for a burst, the smallest).
    pub id: u64,
    /// Playback time (for a burst, the earliest).
    pub time_ms: u64,
    /// Text (for a burst, the earliest one's spelling).
    pub text: String,
    /// Colour.
    pub color: Option<String>,
    /// Display mode.
    pub mode: Mode,
    /// The poster; `None` for a burst, which has many.
    pub user: Option<String>,
    /// How many danmaku this item stands for (1 unless merged).
    pub count: usize,
}

impl From<Danmaku> for Merged {
    /// A danmaku shown on its own.
    fn from(d: Danmaku) -> Self {
        Merged { id: d.id, time_ms: d.time_ms, text: d.text, color: d.color, mode: d.mode, user: Some(d.user), count: 1 }
    }
}

impl PostDanmaku {
    /// Checks time, text, colour and mode; text containing a `blocklist` entry is refused.
    pub(crate) fn check(&self, blocklist: &[String]) -> Result<Checked, Problem> {
        if self.time_ms > MAX_TIME_MS {
            return Err(Problem::bad_request("invalid-time", "time_ms must be within the first 24 hours of playback")
                .with("field", "time_ms")
                .with("limit", MAX_TIME_MS));
        }
        let text = clean_text(&self.text, blocklist)?;
        let color = match &self.color {
            Some(c) if c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit()) => Some(c.to_ascii_lowercase()),
            Some(_) => {
                return Err(
                    Problem::bad_request("invalid-color", "color must be #rrggbb in hex, for example #ffcc00").with("field", "color")
                )
            }
            None => None,
        };
        let mode = match self.mode.as_deref() {
            None | Some("scroll") => Mode::Scroll,
            Some("top") => Mode::Top,
            Some("bottom") => Mode::Bottom,
            Some(_) => return Err(Problem::bad_request("invalid-mode", "mode must be scroll, top or bottom").with("field", "mode")),
        };
        Ok(Checked { time_ms: self.time_ms, text, color, mode })
    }
}

impl Checked {
    /// The danmaku to store.
    pub(crate) fn into_danmaku(self, id: u64, user: String, posted_at: u64) -> Danmaku {
        Danmaku { id, time_ms: self.time_ms, user, text: self.text, color: self.color, mode: self.mode, posted_at }
    }
}

/// What a post's settings allow: the blocked words and the repeat window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Words no danmaku may contain ([`parse_blocklist`]'s entries).
    pub blocklist: Vec<String>,
    /// How long the same text from the same user on the same video counts as a repeat, seconds.
    pub repeat_secs: u64,
}

/// What storing a post found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Stored under this id, in its playback minute and the recent list, and the video's live
    /// viewers woken.
    Posted(u64),
    /// The same user said the same ([`dedup_key_text`]) on this video within the window.
    Repeat,
    /// There is no such video.
    NoVideo,
}

/// What posting needs from outside.
pub(crate) trait Ports {
    /// Wall-clock time, ms since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Counts one post of `user` against the per-user limit; the 429 when over it.
    fn count_post(&self, user: &str) -> Result<(), Problem>;
    /// In one step: unless `item.user` said `repeat` on `video` within `repeat_secs`, issues the
    /// id, stores `item` under it (in [`segment`] of its time and the recent list) and rings
    /// the video's doorbell.
    fn store(&self, video: u64, item: &Danmaku, repeat: &str, repeat_secs: u64) -> Result<Stored, Problem>;
}

/// Posts `body` by `user` on `video`: checked first, so a refused text costs no limit; then
/// counted against the user's limit; then stored unless it repeats. Answers the stored
/// danmaku.
pub(crate) fn post(ports: &impl Ports, policy: &Policy, video: u64, user: String, body: &PostDanmaku) -> Result<Danmaku, Problem> {
    let checked = body.check(&policy.blocklist)?;
    ports.count_post(&user)?;
    let repeat = dedup_key_text(&checked.text);
    let mut item = checked.into_danmaku(0, user, ports.now_ms());
    match ports.store(video, &item, &repeat, policy.repeat_secs)? {
        Stored::Posted(id) => {
            item.id = id;
            Ok(item)
        }
        Stored::Repeat => Err(Problem::conflict(
            "repeated-danmaku",
            format!("you sent the same text in the last {} seconds (danmaku_repeat_secs)", policy.repeat_secs),
        )
        .with("limit", policy.repeat_secs)),
        Stored::NoVideo => Err(crate::no_video()),
    }
}

/// What a text may be: how long, and whether it may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Longest text, in characters.
    pub max: usize,
    /// Line breaks are kept (`\r\n` counts as one `\n`); no other control character is.
    pub multiline: bool,
}

/// Danmaku: one short line.
pub(crate) const DANMAKU_TEXT: Rules = Rules { max: TEXT_MAX, multiline: false };

/// Danmaku text: trimmed, 1 to 100 characters on one line, and free of `blocklist` entries
/// (see [`check_text`]).
pub(crate) fn clean_text(raw: &str, blocklist: &[String]) -> Result<String, Problem> {
    check_text(raw, DANMAKU_TEXT, blocklist)
}

/// A text by `rules`: trimmed, 1 to `rules.max` characters, and free of `blocklist` entries (as
/// [`parse_blocklist`] returns them) after normalisation, so `B a.d`, `ｂａｄ` and `b，a。d` all
/// match `bad`. Entries match anywhere in the text, across line breaks too. The refusal never
/// names the entry.
pub(crate) fn check_text(raw: &str, rules: Rules, blocklist: &[String]) -> Result<String, Problem> {
    let unified = if rules.multiline { raw.replace("\r\n", "\n") } else { raw.to_owned() };
    let text = unified.trim();
    let len = text.chars().count();
    let bad_char = text.chars().any(|c| c.is_control() && !(rules.multiline && c == '\n'));
    if len == 0 || len > rules.max || bad_char {
        let max = rules.max;
        let detail = if rules.multiline {
            format!("text is 1 to {max} characters, without control characters other than line breaks")
        } else {
            format!("text is 1 to {max} characters on one line, without control characters")
        };
        return Err(Problem::bad_request("invalid-text", detail).with("field", "text").with("limit", max));
    }
    let normalized = normalize(text, true);
    // An empty entry would match everything; parse_blocklist never returns one.
    if blocklist.iter().any(|entry| !entry.is_empty() && normalized.contains(entry.as_str())) {
        return Err(Problem::bad_request("blocked-content", "the text contains words that are not allowed here").with("field", "text"));
    }
    Ok(text.to_owned())
}

/// The blocklist from a configuration value: entries separated by commas or line breaks,
/// normalised like the text they are matched against; empty entries are dropped.
pub(crate) fn parse_blocklist(var: &str) -> Vec<String> {
    var.split([',', '\n']).map(|entry| normalize(entry, true)).filter(|entry| !entry.is_empty()).collect()
}

/// The segment holding playback time `time_ms`.
pub(crate) fn segment(time_ms: u64) -> u64 {
    time_ms / SEGMENT_MS
}

/// The key under which texts count as the same: normalised, so `Nice!` and `ｎｉｃｅ` repeat
/// each other. Text of punctuation alone (`???`, `！！！`) keeps its punctuation, so `???` and
/// `!!!` stay different.
pub(crate) fn dedup_key_text(text: &str) -> String {
    let key = normalize(text, true);
    if key.is_empty() {
        normalize(text, false)
    } else {
        key
    }
}

/// Merges, on read, every group of at least `min_count` danmaku (never fewer than 2) with the
/// same [`dedup_key_text`] in the same `window_ms` slice of playback into one item counting
/// them; the rest pass through with count 1. Slices start at multiples of `window_ms`, so with a
/// window dividing [`SEGMENT_MS`] merging one segment at a time gives the same result as
/// merging the whole video. Sorted by time, then id.
pub(crate) fn merge(items: Vec<Danmaku>, window_ms: u64, min_count: usize) -> Vec<Merged> {
    let mut groups: HashMap<(String, u64), Vec<Danmaku>> = HashMap::new();
    for item in items {
        groups.entry((dedup_key_text(&item.text), item.time_ms / window_ms.max(1))).or_default().push(item);
    }
    let mut merged = Vec::new();
    for mut group in groups.into_values() {
        if group.len() < min_count.max(2) {
            merged.extend(group.into_iter().map(Merged::from));
            continue;
        }
        group.sort_by_key(|d| (d.time_ms, d.id));
        let id = group.iter().map(|d| d.id).min().unwrap_or_default();
        let count = group.len();
        merged.push(Merged { id, user: None, count, ..Merged::from(group.swap_remove(0)) });
    }
    merged.sort_by_key(|m| (m.time_ms, m.id));
    merged
}

/// Folds full-width ASCII to half-width, lowercases, and removes whitespace and (when
/// `strip_punctuation`) ASCII, CJK and general punctuation, which includes the zero-width
/// characters used to slip words past filters.
fn normalize(text: &str, strip_punctuation: bool) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .filter(|c| !(c.is_whitespace() || (strip_punctuation && is_punctuation(*c))))
        .collect()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c,
            '\u{00A1}' | '\u{00A7}' | '\u{00AB}' | '\u{00AD}' | '\u{00B6}' | '\u{00B7}' | '\u{00BB}' | '\u{00BF}' // Latin-1
            | '\u{2000}'..='\u{206F}' // general punctuation, zero-width spaces and joiners
            | '\u{3000}'..='\u{3004}' // CJK punctuation (、。〃), skipping 々〆〇
            | '\u{3008}'..='\u{303F}' // CJK brackets and marks
            | '\u{30FB}'              // katakana middle dot
            | '\u{FE10}'..='\u{FE1F}' // vertical forms
            | '\u{FE30}'..='\u{FE6F}' // CJK compatibility and small forms
            | '\u{FEFF}'              // zero-width no-break space
            | '\u{FF61}'..='\u{FF65}' // half-width CJK punctuation
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(json: &str) -> PostDanmaku {
        serde_json::from_str(json).unwrap()
    }

    fn item(id: u64, time_ms: u64, user: &str, text: &str) -> Danmaku {
        Danmaku { id, time_ms, user: user.into(), text: text.into(), color: None, mode: Mode::Scroll, posted_at: 0 }
    }

    /// The ports in memory: a limit of `limit` posts, a repeat window that never expires.
    #[derive(Default)]
    struct Memory {
        limit: usize,
        counted: std::cell::RefCell<Vec<String>>,
        stored: std::cell::RefCell<Vec<(u64, Danmaku, String)>>,
    }

    impl Ports for Memory {
        fn now_ms(&self) -> u64 {
            1_000
        }

        fn count_post(&self, user: &str) -> Result<(), Problem> {
            let mut counted = self.counted.borrow_mut();
            if counted.len() >= self.limit {
                return Err(Problem::too_many_requests("danmaku-rate-limited", "slow down", 10));
            }
            counted.push(user.to_owned());
            Ok(())
        }

        fn store(&self, video: u64, item: &Danmaku, repeat: &str, _: u64) -> Result<Stored, Problem> {
            let mut stored = self.stored.borrow_mut();
            if video != 7 {
                return Ok(Stored::NoVideo);
            }
            if stored.iter().any(|(v, d, r)| *v == video && d.user == item.user && r == repeat) {
                return Ok(Stored::Repeat);
            }
            stored.push((video, item.clone(), repeat.to_owned()));
            Ok(Stored::Posted(stored.len() as u64))
        }
    }

    fn policy() -> Policy {
        Policy { blocklist: parse_blocklist("spoiler"), repeat_secs: 30 }
    }

    #[test]
    fn a_post_is_checked_then_counted_then_stored_with_its_id_poster_and_time() {
        let m = Memory { limit: 2, ..Memory::default() };
        let refused = super::post(&m, &policy(), 7, "ann".into(), &post(r#"{"time_ms":5,"text":"s p o i l e r"}"#)).unwrap_err();
        assert_eq!(refused.code(), "blocked-content");
        assert!(m.counted.borrow().is_empty(), "a refused text costs no limit");
        let item = super::post(&m, &policy(), 7, "ann".into(), &post(r#"{"time_ms":65000,"text":" Nice! "}"#)).unwrap();
        assert_eq!((item.id, item.user.as_str(), item.text.as_str(), item.posted_at, item.time_ms), (1, "ann", "Nice!", 1_000, 65_000));
        assert_eq!(m.stored.borrow()[0].2, "nice", "repeats are told apart by the normalised text");
    }

    #[test]
    fn a_repeat_a_post_over_the_limit_and_a_missing_video_store_nothing() {
        let m = Memory { limit: 3, ..Memory::default() };
        super::post(&m, &policy(), 7, "ann".into(), &post(r#"{"time_ms":5,"text":"nice"}"#)).unwrap();
        let repeat = super::post(&m, &policy(), 7, "ann".into(), &post(r#"{"time_ms":9,"text":"ＮＩＣＥ!"}"#)).unwrap_err();
        assert_eq!(
            (repeat.status(), repeat.code(), repeat.extension("limit").cloned()),
            (409.try_into().unwrap(), "repeated-danmaku", Some(30.into()))
        );
        assert!(super::post(&m, &policy(), 7, "bob".into(), &post(r#"{"time_ms":9,"text":"nice"}"#)).is_ok(), "another user may say it");
        assert_eq!(
            super::post(&m, &policy(), 7, "ann".into(), &post(r#"{"time_ms":9,"text":"new"}"#)).unwrap_err().code(),
            "danmaku-rate-limited"
        );
        assert_eq!(m.stored.borrow().len(), 2);
        let m = Memory { limit: 1, ..Memory::default() };
        assert_eq!(super::post(&m, &policy(), 8, "ann".into(), &post(r#"{"time_ms":5,"text":"hi"}"#)).unwrap_err().code(), "no-such-video");
    }

    #[test]
    fn posts_are_checked_field_by_field() {
        let checked = post(r##"{"time_ms":1500,"text":" hi ","color":"#FFcc00","mode":"top"}"##).check(&[]).unwrap();
        assert_eq!(checked, Checked { time_ms: 1500, text: "hi".into(), color: Some("#ffcc00".into()), mode: Mode::Top });
        let stored = checked.into_danmaku(9, "u1".into(), 77);
        assert_eq!((stored.id, stored.user.as_str(), stored.posted_at, stored.time_ms), (9, "u1", 77, 1500));
        assert_eq!(post(r#"{"time_ms":0,"text":"x"}"#).check(&[]).unwrap().mode, Mode::Scroll);
        assert!(post(r#"{"time_ms":86400000,"text":"x"}"#).check(&[]).is_ok());
        let cases = [
            (r#"{"time_ms":86400001,"text":"x"}"#, "invalid-time"),
            (r#"{"time_ms":0,"text":"x","color":"red"}"#, "invalid-color"),
            (r##"{"time_ms":0,"text":"x","color":"#ffcc0g"}"##, "invalid-color"),
            (r##"{"time_ms":0,"text":"x","color":"#fc0"}"##, "invalid-color"),
            (r#"{"time_ms":0,"text":"x","mode":"Top"}"#, "invalid-mode"),
            (r#"{"time_ms":0,"text":"  "}"#, "invalid-text"),
        ];
        for (json, code) in cases {
            assert_eq!(post(json).check(&[]).unwrap_err().code(), code, "{json}");
        }
        assert!(serde_json::from_str::<PostDanmaku>(r#"{"time_ms":-1,"text":"x"}"#).is_err());
        assert!(serde_json::from_str::<PostDanmaku>(r#"{"time_ms":1,"text":"x","user":"u2"}"#).is_err());
    }

    #[test]
    fn text_is_one_short_line() {
        assert_eq!(clean_text(" 前方高能 ", &[]).unwrap(), "前方高能");
        assert!(clean_text(&"字".repeat(100), &[]).is_ok());
        for bad in ["", "a\nb", "a\rb", "a\u{0}", &"字".repeat(101)] {
            assert_eq!(clean_text(bad, &[]).unwrap_err().code(), "invalid-text", "{bad:?}");
        }
    }

    #[test]
    fn multiline_text_keeps_line_breaks_and_nothing_else() {
        let rules = Rules { max: 5, multiline: true };
        assert_eq!(check_text(" a\r\nb\n ", rules, &[]).unwrap(), "a\nb");
        assert_eq!(check_text("ab\n\ncd", Rules { max: 6, multiline: true }, &[]).unwrap(), "ab\n\ncd");
        assert!(check_text("字字字字字", rules, &[]).is_ok());
        for bad in ["", " \n ", "a\rb", "a\tb", "a\u{0}", "a\u{1b}[31m", "字字字字字字"] {
            let problem = check_text(bad, rules, &[]).unwrap_err();
            assert_eq!((problem.code(), problem.extension("limit").and_then(|v| v.as_u64())), ("invalid-text", Some(5)), "{bad:?}");
        }
        let blocklist = parse_blocklist("badword");
        assert_eq!(check_text("bad\nword", Rules { max: 100, multiline: true }, &blocklist).unwrap_err().code(), "blocked-content");
    }

    #[test]
    fn blocked_words_are_found_through_disguises() {
        let blocklist = parse_blocklist("Bad Word,\n 垃圾 ,, \r\n，");
        assert_eq!(blocklist, ["badword", "垃圾"]);
        let disguised = ["a bad word here", "BADWORD", "ｂａｄ　ｗｏｒｄ", "b.a-d w_o!r?d", "b\u{200b}adword", "真是垃·圾！", "垃，圾"];
        for text in disguised {
            let problem = clean_text(text, &blocklist).unwrap_err();
            assert_eq!(problem.code(), "blocked-content", "{text:?}");
            assert!(!problem.detail().contains("bad") && !problem.detail().contains("垃圾"));
        }
        for text in ["bad", "good word", "垃", "拉圾"] {
            assert!(clean_text(text, &blocklist).is_ok(), "{text:?}");
        }
        assert!(clean_text("anything", &[String::new()]).is_ok(), "an empty entry blocks nothing");
    }

    #[test]
    fn segments_and_dedup_keys() {
        assert_eq!((segment(0), segment(59_999), segment(60_000), segment(MAX_TIME_MS)), (0, 0, 1, 1440));
        assert_eq!(dedup_key_text("Nice shot!"), dedup_key_text("ｎｉｃｅ　ＳＨＯＴ"));
        assert_eq!(dedup_key_text("？？？"), "???");
        assert_ne!(dedup_key_text("???"), dedup_key_text("!!!"));
        assert_ne!(dedup_key_text("哈哈"), dedup_key_text("哈哈哈"));
    }

    #[test]
    fn bursts_merge_and_the_rest_pass_through() {
        let items = vec![
            item(5, 1_200, "u1", "NICE!"),
            item(3, 1_900, "u2", "nice"),
            item(8, 1_100, "u3", "ｎｉｃｅ"),
            item(4, 2_100, "u4", "nice"),  // next window
            item(2, 1_300, "u5", "hello"), // alone
            item(1, 1_500, "u6", "???"),
            item(7, 1_600, "u7", "!!!"), // not a repeat of ???
        ];
        let merged = merge(items.clone(), 1_000, 3);
        let summary: Vec<_> = merged.iter().map(|m| (m.id, m.time_ms, m.text.as_str(), m.user.as_deref(), m.count)).collect();
        assert_eq!(
            summary,
            [
                (3, 1_100, "ｎｉｃｅ", None, 3),
                (2, 1_300, "hello", Some("u5"), 1),
                (1, 1_500, "???", Some("u6"), 1),
                (7, 1_600, "!!!", Some("u7"), 1),
                (4, 2_100, "nice", Some("u4"), 1),
            ]
        );
        assert_eq!(merge(items.clone(), 1_000, 4).len(), 7, "a burst smaller than min_count is not merged");
        let unmerged = merge(items.clone(), 0, 1);
        assert!(unmerged.len() == 7 && unmerged.iter().all(|m| m.user.is_some()), "zero window, min_count below 2");
        let json = serde_json::to_value(&merge(items, 1_000, 3)[1]).unwrap();
        assert_eq!((json["count"].as_u64(), json["user"].as_str()), (Some(1), Some("u5")));
        assert_eq!(json["mode"], "scroll");
    }
}
