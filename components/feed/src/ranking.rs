//! Rankings and like shards. Plays and likes add to an hourly sorted set (`rank:h:<hour>`,
//! video id → score); the 24-hour ranking is the union of the last 24 hours' sets, so old
//! activity falls out of the window an hour at a time with no rescoring job. Pure.

use edge_http::Problem;

use crate::cursor::page_limit;
use crate::keys;

/// Length of one ranking bucket: an hour.
pub(crate) const BUCKET_MS: u64 = 3_600_000;
/// Buckets in the ranking window: 24 hours.
pub(crate) const WINDOW_BUCKETS: u64 = 24;
/// How long a bucket key lives: the window plus one hour, so a bucket written late in its hour
/// still covers the whole window, and nothing needs deleting.
pub(crate) const BUCKET_TTL_SECS: u64 = (WINDOW_BUCKETS + 1) * BUCKET_MS / 1000;
/// Score a play adds.
pub(crate) const PLAY_WEIGHT: f64 = 1.0;
/// Score a like adds: a like is rarer than a play and a stronger sign that viewers value it.
pub(crate) const LIKE_WEIGHT: f64 = 5.0;
/// Most entries in a ranking, and the default.
pub(crate) const TOP_MAX: usize = 200;
/// Set keys one video's likes are spread over.
///
/// A hot video takes many likes at once; sharding by user spreads those writes over 16 set
/// keys (and Redis cluster slots) instead of one. A user's like lives in exactly one shard, so
/// like, unlike and "have I liked it" touch one key; the count is the sum of the shards' `SCARD`.
pub(crate) const LIKE_SHARDS: u32 = 16;

/// The bucket holding time `now_ms` (ms since the Unix epoch).
pub(crate) fn bucket(now_ms: u64) -> u64 {
    now_ms / BUCKET_MS
}

/// Keys of the buckets in the window ending at `now_ms`, newest first: the current hour and
/// the 23 before it.
pub(crate) fn window_keys(now_ms: u64) -> Vec<String> {
    let current = bucket(now_ms);
    (0..WINDOW_BUCKETS).filter_map(|back| current.checked_sub(back)).map(keys::ranking_bucket).collect()
}

/// Entries to return from a `limit` query value: 1 to 200, all 200 when absent.
pub(crate) fn top_limit(raw: Option<&str>) -> Result<usize, Problem> {
    page_limit(raw, TOP_MAX, TOP_MAX)
}

/// The like shard of `user_id`, in `0..shards`: FNV-1a of its bytes, fixed by definition so
/// every build and every instance agrees (std's hasher may change between Rust releases).
pub(crate) fn like_shard(user_id: &str, shards: u32) -> u32 {
    let hash = user_id.bytes().fold(0x811c_9dc5_u32, |hash, b| (hash ^ u32::from(b)).wrapping_mul(0x0100_0193));
    hash % shards.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_hours_and_the_window_is_the_last_24() {
        let now = 1_750_000_000_000;
        assert_eq!(bucket(now), 486_111);
        assert_eq!(bucket(486_111 * BUCKET_MS), 486_111);
        assert_eq!(bucket(486_111 * BUCKET_MS - 1), 486_110);
        assert_eq!(keys::ranking_bucket(486_111), "rank:h:486111");
        let keys = window_keys(now);
        assert_eq!(keys.len(), 24);
        assert_eq!((keys[0].as_str(), keys[23].as_str()), ("rank:h:486111", "rank:h:486088"));
        assert_eq!(window_keys(BUCKET_MS), ["rank:h:1", "rank:h:0"], "no negative buckets");
        assert_eq!(BUCKET_TTL_SECS, 90_000);
    }

    #[test]
    fn top_limits() {
        assert_eq!(top_limit(None).unwrap(), 200);
        assert_eq!(top_limit(Some("10")).unwrap(), 10);
        assert_eq!(top_limit(Some("201")).unwrap_err().code(), "invalid-limit");
        assert_eq!(top_limit(Some("0")).unwrap_err().code(), "invalid-limit");
    }

    #[test]
    fn like_shards_are_stable_and_spread() {
        // FNV-1a 32-bit reference values: "" = 0x811c9dc5, "a" = 0xe40c292c, "foobar" = 0xbf9cf968.
        assert_eq!(like_shard("", u32::MAX), 0x811c_9dc5);
        assert_eq!(like_shard("a", u32::MAX), 0xe40c_292c);
        assert_eq!(like_shard("foobar", u32::MAX), 0xbf9c_f968);
        assert_eq!(like_shard("foobar", LIKE_SHARDS), 0xbf9c_f968 % 16);
        assert_eq!(like_shard("anyone", 0), 0);
        let mut used = [0u32; LIKE_SHARDS as usize];
        for i in 0..1600 {
            used[like_shard(&format!("{i:032x}"), LIKE_SHARDS) as usize] += 1;
        }
        assert!(used.iter().all(|&n| (50..=150).contains(&n)), "{used:?}");
    }
}
