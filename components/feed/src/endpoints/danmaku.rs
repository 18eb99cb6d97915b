//! `/videos/:id/danmaku`: post a bullet comment, read a playback minute (floods merged) or what
//! came after an id. The text, time and merging rules are [`crate::danmaku`].

use edge_http::handler::{Answer, Json, Path, Query};
use edge_http::{json_response, Problem};
use edge_spin::auth::{Caller, MaybeCaller};
use edge_spin::redis::{arg, text};
use edge_spin::setting;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::danmaku::{self, Danmaku, Policy, PostDanmaku};
use crate::ids::VideoId;
use crate::{cursor, keys, no_video, settings, store, Feed};

/// Danmaku read from one segment at most.
const SEGMENT_READ_MAX: u64 = 5000;
/// Danmaku at the same text within this slice of playback merge into one counted item...
const MERGE_WINDOW_MS: u64 = 1000;
/// ...when there are at least this many.
const MERGE_MIN: usize = 3;

/// `POST /videos/:id/danmaku`: checked text at a playback time, rate-limited per user and
/// refused when the same user repeats it within `danmaku_repeat_secs` ([`danmaku::post`]).
pub(crate) async fn post(feed: &Feed, Caller(caller): Caller, Path(VideoId(id)): Path<VideoId>, Json(body): Json<PostDanmaku>) -> Answer {
    let policy = Policy { blocklist: blocklist()?, repeat_secs: setting(&settings::DANMAKU_REPEAT_SECS)? };
    Ok(json_response(StatusCode::CREATED, &danmaku::post(feed, &policy, id, caller.user_id, &body)?))
}

/// The blocked words (`danmaku_blocklist`) danmaku and comments are checked against; a variable
/// that cannot be read is a misconfiguration, never an empty list (which would let everything
/// through).
pub(crate) fn blocklist() -> Result<Vec<String>, Problem> {
    Ok(danmaku::parse_blocklist(&setting(&settings::DANMAKU_BLOCKLIST)?))
}

/// What `GET /videos/:id/danmaku` reads: one playback minute, or what came after an id.
#[derive(Deserialize)]
pub(crate) struct DanmakuQuery {
    segment: Option<u64>,
    after: Option<u64>,
    limit: Option<String>,
}

/// `GET /videos/:id/danmaku?segment=` (one playback minute, floods merged) or `?after=` (new
/// since an id, for a client catching up).
pub(crate) async fn list(feed: &Feed, _: MaybeCaller, Path(VideoId(id)): Path<VideoId>, Query(q): Query<DanmakuQuery>) -> Answer {
    let (set, min, max, limit) = match (q.segment, q.after) {
        (Some(segment), None) if segment <= danmaku::MAX_TIME_MS / danmaku::SEGMENT_MS => {
            (keys::danmaku_segment(id, segment), "-inf".to_owned(), "+inf".to_owned(), SEGMENT_READ_MAX)
        }
        (None, Some(after)) => {
            let limit = cursor::page_limit(q.limit.as_deref(), 200, 1000)? as u64;
            (keys::danmaku_recent(id), format!("({after}"), "+inf".to_owned(), limit)
        }
        _ => {
            return Err(Problem::bad_request(
                "invalid-query",
                format!(
                    "ask for one playback minute (segment=0..{}) or what came after an id (after=<id>)",
                    danmaku::MAX_TIME_MS / danmaku::SEGMENT_MS
                ),
            ))
        }
    };
    let reply = feed.run(&store::READ_DANMAKU, &[&keys::video(id), &set, keys::BUILT], vec![arg(min), arg(max), arg(limit)])?;
    if reply.first().and_then(text).as_deref() != Some("ok") {
        return Err(no_video());
    }
    let items: Vec<Danmaku> = reply.iter().skip(1).filter_map(|r| serde_json::from_str(&text(r)?).ok()).collect();
    let body = match q.segment {
        Some(segment) => json!({ "segment": segment, "items": danmaku::merge(items, MERGE_WINDOW_MS, MERGE_MIN) }),
        None => {
            let last = items.last().map(|d| d.id).or(q.after);
            json!({ "items": items, "last_id": last })
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}
