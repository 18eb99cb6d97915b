//! Which live danmaku a page shows: each id once, a merged item again when its count grows,
//! and the newest event id a new stream resumes after. Pure; the `EventSource` side is
//! `web::LiveDanmaku`.

use std::collections::BTreeMap;

/// The danmaku a page shows, by id, with the count each shows with, and the newest id the
/// stream delivered.
#[derive(Debug)]
pub struct Shown {
    counts: BTreeMap<u64, u64>,
    capacity: usize,
    newest: Option<u64>,
}

impl Shown {
    /// Remembers at most `capacity` ids (the largest: danmaku ids grow over time).
    pub fn new(capacity: usize) -> Self {
        Shown { counts: BTreeMap::new(), capacity: capacity.max(1), newest: None }
    }

    /// Records that item `id` shows with `count` copies. True when that is news to show:
    /// an id not shown yet, or a merged item whose count grew; false for a repeat.
    pub fn admit(&mut self, id: u64, count: u64) -> bool {
        let count = count.max(1);
        if let Some(shown) = self.counts.get_mut(&id) {
            if *shown >= count {
                return false;
            }
            *shown = count;
            return true;
        }
        self.counts.insert(id, count);
        while self.counts.len() > self.capacity {
            self.counts.pop_first();
        }
        true
    }

    /// The stream delivered everything up to `id` (an event's id).
    pub fn note_event(&mut self, id: u64) {
        self.newest = Some(self.newest.map_or(id, |n| n.max(id)));
    }

    /// Where a new stream resumes: the newest event id, if any.
    pub fn newest(&self) -> Option<u64> {
        self.newest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_id_shows_once_and_merged_counts_grow() {
        let mut s = Shown::new(10);
        assert!(s.admit(7, 1));
        assert!(!s.admit(7, 1), "a replayed item");
        assert!(s.admit(8, 3), "a merged group");
        assert!(s.admit(8, 5), "the group grew: show the new count");
        assert!(!s.admit(8, 4), "an older count");
        assert!(!s.admit(8, 5));
        assert!(!s.admit(7, 0), "a count of 0 is 1");
    }

    #[test]
    fn only_the_largest_ids_are_kept() {
        let mut s = Shown::new(3);
        for id in [5, 1, 9, 7] {
            assert!(s.admit(id, 1));
        }
        assert!(!s.admit(9, 1) && !s.admit(7, 1) && !s.admit(5, 1));
        assert!(s.admit(1, 1), "the smallest id was forgotten");
    }

    #[test]
    fn the_newest_event_id_only_grows() {
        let mut s = Shown::new(3);
        assert_eq!(s.newest(), None);
        s.admit(100, 1);
        assert_eq!(s.newest(), None, "ids the page shows are not stream positions");
        s.note_event(40);
        s.note_event(12);
        assert_eq!(s.newest(), Some(40));
    }
}
