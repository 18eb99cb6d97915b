//! Rebuilding feed's Redis state from the key-value store after Redis lost it (`FLUSHALL`, a new
//! empty instance, failover to an empty replica): which records come back and where, and the
//! scripts the rebuild runs. Pure; the component's handler makes the host calls.
//!
//! `feed:built` ([`BUILT`]) marks a Redis whose feed state is complete. Every feed script that
//! reads a timeline, or finds a record missing, checks it in the same call and answers
//! [`crate::store::REBUILD`] when it is gone, so the check costs no round trip. Then one request
//! takes the lease ([`START`]), lists every `video:<id>` key of the key-value store into
//! [`PENDING`] ([`LIST`]), and restores them [`BATCH`] at a time ([`RESTORE`]): record,
//! timelines, id issuer and one upsert change each, so search-proxy's consumer (whose group is
//! recreated at the stream's start) syncs them again. Every step checks the lease and takes its
//! ids off [`PENDING`] atomically with what it restored, so a rebuild that dies midway is
//! continued by the next request, and a retried step restores nothing twice.

use edge_protocol::keys::Record;
use edge_spin::redis::arg;
use edge_spin::script::{Count, Script};
use spin_sdk::redis::RedisParameter;

use crate::store::{author_key, video_key, BUILT, CHANGES, CHANGES_MAXLEN, LAST_ID, LATEST};
use crate::video::Video;

/// Redis key: the lease of the request rebuilding.
pub(crate) const LOCK: &str = "feed:rebuild:lock";
/// Redis sorted set: ids listed from the key-value store and not restored yet, scored by id.
pub(crate) const PENDING: &str = "feed:rebuild:pending";
/// Redis key: set once [`PENDING`] holds every listed id.
pub(crate) const LISTED: &str = "feed:rebuild:listed";
/// How long the lease lasts without a step: a holder that died blocks the rebuild this long.
pub(crate) const LEASE_MS: u64 = 15_000;
/// Records restored per script call (and key-value reads between two calls).
pub(crate) const BATCH: u64 = 100;
/// Ids added to [`PENDING`] per script call while listing.
pub(crate) const LIST_CHUNK: usize = 1000;
/// How long one request keeps restoring before it hands the rest to the next request, well
/// under any request timeout.
pub(crate) const BUDGET_MS: u64 = 5_000;
/// How long a request waits for another one's rebuild to finish before answering 503: a
/// fresh install's rebuild (an empty store) takes milliseconds.
pub(crate) const WAIT_MS: u64 = 2_000;
/// The `Retry-After` of a 503 during a rebuild.
pub(crate) const RETRY_AFTER_SECS: u64 = 1;

/// The video ids of a key-value store's keys (`video:<id>`, canonical ids only).
pub(crate) fn video_ids(keys: &[String]) -> Vec<u64> {
    keys.iter()
        .filter_map(|key| match Record::parse(key)? {
            Record::Video(id) => Some(id),
            Record::User(_) => None,
        })
        .collect()
}

/// A record to restore, as read from the key-value store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Restore {
    /// The video id.
    pub id: u64,
    /// Its author.
    pub author: String,
    /// Its version: the restored change carries it, so search keeps what it has at that version.
    pub version: u64,
    /// The record as stored in Redis.
    pub json: String,
}

impl Restore {
    /// The record stored under `video:<id>`, or why it cannot be restored.
    pub(crate) fn from_record(id: u64, bytes: &[u8]) -> Result<Restore, String> {
        let video: Video = serde_json::from_slice(bytes).map_err(|e| format!("not a video record ({e})"))?;
        if video.id != id {
            return Err(format!("the record says id {}", video.id));
        }
        if video.author.is_empty() || video.version == 0 {
            return Err("the record has no author or no version".into());
        }
        let json = serde_json::to_string(&video).map_err(|e| e.to_string())?;
        Ok(Restore { id, author: video.author, version: video.version, json })
    }

    /// The timelines the create path lists it in. Every stored record is listed: a delete
    /// removes the record with its timeline entries, and an edit changes neither.
    pub(crate) fn timelines(&self) -> [String; 2] {
        [LATEST.to_owned(), author_key(&self.author)]
    }
}

/// Keys and arguments of [`RESTORE`] for `batch` (the readable records among `ids`) and `ids`
/// (every id the batch takes off [`PENDING`]); `release` hands the lease back if more remain.
pub(crate) fn restore_call(token: &str, release: bool, batch: &[Restore], ids: &[u64]) -> (Vec<String>, Vec<RedisParameter>) {
    let mut keys: Vec<String> = [LOCK, PENDING, CHANGES, LAST_ID, BUILT, LISTED].map(str::to_owned).into();
    let mut args = vec![arg(token), arg(LEASE_MS), arg(BATCH), arg(CHANGES_MAXLEN), arg(if release { "1" } else { "0" })];
    for restore in batch {
        keys.push(video_key(restore.id));
        keys.extend(restore.timelines());
        args.extend([arg(restore.id), arg(restore.json.as_str()), arg(restore.version)]);
    }
    args.extend(ids.iter().map(|&id| arg(id)));
    (keys, args)
}

/// Takes the lease unless the state is complete: KEYS = built marker, lease, listed, last id;
/// ARGV = token, lease ms. Answers `built`, `busy` (another request holds the lease), `list`
/// or `listed` (the lease is taken; list first, or restore). A Redis with feed's id issuer but
/// neither marker nor a rebuild under way was never lost: it predates the marker.
pub(crate) static START: Script =
    Script::new("rebuild-start", include_str!("scripts/rebuild-start.lua"), Count::Exactly(4), Count::Exactly(2));

/// Adds listed ids to the pending set: KEYS = lease, pending, listed; ARGV = token, lease ms,
/// last chunk (`1`/`0`), ids. Answers 1, or 0 when the lease was lost.
pub(crate) static LIST: Script =
    Script::new("rebuild-list", include_str!("scripts/rebuild-list.lua"), Count::Exactly(3), Count::AtLeast(3));

/// Restores a batch: KEYS = lease, pending, changes, last id, built marker, listed, then per
/// record its key and its timelines; ARGV = token, lease ms, batch size, stream length, release
/// (`1`/`0`), then per record its id, JSON and version, then every id to take off the pending
/// set. A record still in Redis is kept (it is newer or the same) and not announced twice; the
/// id issuer moves to at least the largest id. Answers `lost` (the lease is gone), `built`
/// (nothing pending: the marker is set and the lease released), or `more` and the next ids.
pub(crate) static RESTORE: Script =
    Script::new("rebuild-restore", include_str!("scripts/rebuild-restore.lua"), Count::AtLeast(6), Count::AtLeast(5));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids;

    fn record(id: u64, author: &str, version: u64) -> String {
        format!(
            r#"{{"id":{id},"author":"{author}","title":"t","description":"","tags":["a"],"cover_key":null,"object_key":"k","size":1,"content_type":"video/mp4","sha256":null,"created_at":5,"updated_at":6,"version":{version}}}"#
        )
    }

    #[test]
    fn only_canonical_video_keys_are_listed() {
        let keys: Vec<String> = [
            "video:12",
            "video:012",
            "video:x",
            "video:",
            "user:5",
            "videos:3",
            "search:cache:video:1",
            "video:9007199254740992",
            "video:9007199254740991",
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(video_ids(&keys), [12, ids::MAX_ID]);
    }

    #[test]
    fn a_record_comes_back_on_the_latest_and_its_authors_timeline() {
        let restore = Restore::from_record(42, record(42, "u1", 3).as_bytes()).unwrap();
        assert_eq!((restore.id, restore.author.as_str(), restore.version), (42, "u1", 3));
        assert_eq!(restore.timelines(), ["feed:latest", "feed:author:u1"]);
        assert!(restore.json.starts_with(r#"{"id":42,"#), "the scripts' id-first layout: {}", restore.json);
        let back: Video = serde_json::from_str(&restore.json).unwrap();
        assert_eq!(back, serde_json::from_str::<Video>(&record(42, "u1", 3)).unwrap());
    }

    #[test]
    fn records_that_are_not_the_keys_video_are_refused() {
        assert!(Restore::from_record(43, record(42, "u1", 1).as_bytes()).unwrap_err().contains("42"));
        assert!(Restore::from_record(42, record(42, "", 1).as_bytes()).is_err());
        assert!(Restore::from_record(42, record(42, "u1", 0).as_bytes()).is_err());
        assert!(Restore::from_record(42, b"{not json").is_err());
        assert!(Restore::from_record(42, br#"{"id":42}"#).is_err());
    }

    #[test]
    fn a_restore_call_passes_every_key_it_touches() {
        let a = Restore::from_record(7, record(7, "u1", 2).as_bytes()).unwrap();
        let b = Restore::from_record(9, record(9, "u2", 1).as_bytes()).unwrap();
        let (keys, args) = restore_call("t", false, &[a, b], &[7, 8, 9]);
        assert_eq!(
            keys,
            [LOCK, PENDING, CHANGES, LAST_ID, BUILT, LISTED, "video:7", LATEST, "feed:author:u1", "video:9", LATEST, "feed:author:u2"]
        );
        assert_eq!(args.len(), 5 + 2 * 3 + 3, "fixed, per record, then every id of the batch");
        let (keys, args) = restore_call("t", true, &[], &[]);
        assert_eq!((keys.len(), args.len()), (6, 5));
    }
}
