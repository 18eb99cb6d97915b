//! A user's library: favorites and watch history, each one key-value document per user
//! (`favorites:<user>`, `history:<user>`), newest first. Pure: the rules of adding, moving,
//! capping and paging a [`Shelf`].
//!
//! The key-value store is the truth and the only copy, so a Redis loss costs nothing here. Two
//! writes of one user's shelf at the same moment (two tabs) can lose one of them; a user's own
//! library sees too few concurrent writes for that to matter more than a read-modify-write.

use serde::{Deserialize, Serialize};

use crate::cursor::Cursor;

/// Most favorites one user keeps; adding past it is refused.
pub(crate) const MAX_FAVORITES: usize = 1000;
/// History entries kept; the oldest fall off.
pub(crate) const MAX_HISTORY: usize = 200;
/// Longest playback position or duration accepted (24 h).
pub(crate) const MAX_POSITION_MS: u64 = 24 * 3600 * 1000;

/// One video on a shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The video's id.
    pub video: u64,
    /// When it was added or last watched (ms since the Unix epoch), unique within the shelf so
    /// it can page by [`Cursor`].
    pub at: u64,
    /// Where playback stopped (history only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_ms: Option<u64>,
    /// The video's length as the player reported it (history only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// A newest-first list of videos, each at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Shelf {
    /// Newest first; `at` strictly decreasing.
    pub items: Vec<Entry>,
}

/// What [`Shelf::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// The video is now on the shelf (or already was).
    Kept,
    /// The shelf is full; nothing changed.
    Full,
}

impl Shelf {
    /// The entry for `video`, if any.
    pub(crate) fn find(&self, video: u64) -> Option<&Entry> {
        self.items.iter().find(|e| e.video == video)
    }

    /// A time after every entry's, and at least `now_ms`, so entries stay strictly ordered even
    /// within one millisecond.
    fn next_at(&self, now_ms: u64) -> u64 {
        self.items.first().map_or(now_ms, |newest| now_ms.max(newest.at + 1))
    }

    /// Favorites: adds `video` at the front, unless it is there already (adding twice keeps the
    /// first time) or the shelf holds `cap` entries.
    pub(crate) fn add(&mut self, video: u64, now_ms: u64, cap: usize) -> Added {
        if self.find(video).is_some() {
            return Added::Kept;
        }
        if self.items.len() >= cap {
            return Added::Full;
        }
        let at = self.next_at(now_ms);
        self.items.insert(0, Entry { video, at, position_ms: None, duration_ms: None });
        Added::Kept
    }

    /// History: moves `video` to the front with its latest position, dropping the oldest entry
    /// past `cap`.
    pub(crate) fn watched(&mut self, video: u64, position_ms: u64, duration_ms: Option<u64>, now_ms: u64, cap: usize) {
        let earlier = self.remove(video);
        let duration_ms = duration_ms.or(earlier.and_then(|e| e.duration_ms));
        let at = self.next_at(now_ms);
        self.items.insert(0, Entry { video, at, position_ms: Some(position_ms), duration_ms });
        self.items.truncate(cap);
    }

    /// Takes `video` off the shelf, answering its entry.
    pub(crate) fn remove(&mut self, video: u64) -> Option<Entry> {
        let index = self.items.iter().position(|e| e.video == video)?;
        Some(self.items.remove(index))
    }

    /// Up to `limit` entries older than the cursor, and the cursor after them when the page is
    /// full. Keyset paging on `at`, so additions while a client pages do not shift its pages.
    pub(crate) fn page(&self, cursor: Option<Cursor>, limit: usize) -> (&[Entry], Option<Cursor>) {
        let start = cursor.map_or(0, |c| self.items.iter().position(|e| e.at < c.before).unwrap_or(self.items.len()));
        let page = &self.items[start..(start + limit).min(self.items.len())];
        let ats: Vec<u64> = page.iter().map(|e| e.at).collect();
        (page, Cursor::after(&ats, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn videos(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.video).collect()
    }

    #[test]
    fn favorites_are_newest_first_idempotent_and_capped() {
        let mut shelf = Shelf::default();
        assert_eq!(shelf.add(1, 1000, 3), Added::Kept);
        assert_eq!(shelf.add(2, 1000, 3), Added::Kept);
        assert_eq!(shelf.add(1, 5000, 3), Added::Kept);
        assert_eq!(videos(&shelf.items), [2, 1], "adding twice keeps the first place");
        assert_eq!(shelf.items[0].at, 1001, "times stay unique within one millisecond");
        assert_eq!(shelf.add(3, 2000, 3), Added::Kept);
        assert_eq!(shelf.add(4, 3000, 3), Added::Full);
        assert_eq!(videos(&shelf.items), [3, 2, 1]);
        assert_eq!(shelf.remove(2).map(|e| e.video), Some(2));
        assert_eq!(shelf.remove(2), None);
        assert_eq!(shelf.add(4, 3000, 3), Added::Kept);
    }

    #[test]
    fn history_moves_a_video_to_the_front_keeps_its_duration_and_drops_the_oldest() {
        let mut shelf = Shelf::default();
        shelf.watched(1, 5_000, Some(60_000), 1000, 2);
        shelf.watched(2, 1_000, None, 2000, 2);
        shelf.watched(1, 9_000, None, 3000, 2);
        assert_eq!(videos(&shelf.items), [1, 2]);
        assert_eq!(shelf.find(1).map(|e| (e.position_ms, e.duration_ms)), Some((Some(9_000), Some(60_000))));
        shelf.watched(3, 0, None, 4000, 2);
        assert_eq!(videos(&shelf.items), [3, 1], "the oldest fell off");
    }

    #[test]
    fn pages_do_not_repeat_or_skip_when_entries_are_added_between_them() {
        let mut shelf = Shelf::default();
        for video in 1..=5 {
            shelf.add(video, video * 10, 100);
        }
        let (first, next) = shelf.page(None, 2);
        assert_eq!(videos(first), [5, 4]);
        shelf.add(6, 100, 100);
        let (second, next) = shelf.page(next, 2);
        assert_eq!(videos(second), [3, 2]);
        let (third, next) = shelf.page(next, 2);
        assert_eq!((videos(third), next), (vec![1], None));
    }
}
