//! The caller's library: `/videos/:id/favorite`, `/feed/favorites`, `/videos/:id/progress` and
//! `/feed/history`. Rules are [`crate::library`]; each shelf is one key-value document.

use edge_http::handler::{Answer, Json, Path, Query};
use edge_http::{json_response, no_content, Problem};
use edge_spin::auth::Caller;
use edge_spin::kv_unavailable;
use edge_spin::redis::now_ms;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::cursor::PageQuery;
use crate::ids::VideoId;
use crate::library::{Added, Entry, Shelf, MAX_FAVORITES, MAX_HISTORY, MAX_POSITION_MS};
use crate::{keys, parse_video, Feed};

/// Default and largest page of a shelf.
const PAGE_DEFAULT: usize = 20;
const PAGE_MAX: usize = 100;

/// `PUT /videos/:id/progress`: where the caller's player is in a video.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Progress {
    /// Playback position in milliseconds (0 to 24 h).
    position_ms: u64,
    /// The video's length in milliseconds, when the player knows it.
    duration_ms: Option<u64>,
}

/// `PUT /videos/:id/favorite`: idempotent; at most 1,000 favorites.
pub(crate) async fn favorite(feed: &Feed, Caller(caller): Caller, Path(VideoId(id)): Path<VideoId>) -> Answer {
    feed.load(id)?;
    let key = keys::favorites(&caller.user_id);
    let mut shelf = read(feed, &key)?;
    if shelf.add(id, now_ms(), MAX_FAVORITES) == Added::Full {
        return Err(Problem::bad_request(
            "too-many-favorites",
            format!("you can keep at most {MAX_FAVORITES} favorites; remove some first"),
        )
        .with("limit", MAX_FAVORITES));
    }
    write(feed, &key, &shelf)?;
    Ok(json_response(StatusCode::OK, &json!({ "favorited": true })))
}

/// `DELETE /videos/:id/favorite`: idempotent.
pub(crate) async fn unfavorite(feed: &Feed, Caller(caller): Caller, Path(VideoId(id)): Path<VideoId>) -> Answer {
    let key = keys::favorites(&caller.user_id);
    let mut shelf = read(feed, &key)?;
    if shelf.remove(id).is_some() {
        write(feed, &key, &shelf)?;
    }
    Ok(json_response(StatusCode::OK, &json!({ "favorited": false })))
}

/// `GET /feed/favorites`: the caller's favorites, newest first.
pub(crate) async fn favorites(feed: &Feed, Caller(caller): Caller, Query(page): Query<PageQuery>) -> Answer {
    let shelf = read(feed, &keys::favorites(&caller.user_id))?;
    list(feed, &shelf, &page, |entry| json!({ "favorited_at": entry.at }))
}

/// `PUT /videos/:id/progress`: the player reports where it is (the page at most every 10 s, and
/// on pause, end and leaving); the video moves to the front of the caller's history.
pub(crate) async fn progress(feed: &Feed, Caller(caller): Caller, Path(VideoId(id)): Path<VideoId>, Json(body): Json<Progress>) -> Answer {
    for (field, value) in [("position_ms", Some(body.position_ms)), ("duration_ms", body.duration_ms)] {
        if value.is_some_and(|ms| ms > MAX_POSITION_MS) {
            return Err(Problem::bad_request("invalid-progress", format!("{field} must be from 0 to {MAX_POSITION_MS} (24 h)"))
                .with("field", field));
        }
    }
    feed.load(id)?;
    let key = keys::history(&caller.user_id);
    let mut shelf = read(feed, &key)?;
    shelf.watched(id, body.position_ms, body.duration_ms, now_ms(), MAX_HISTORY);
    write(feed, &key, &shelf)?;
    Ok(no_content())
}

/// `GET /feed/history`: what the caller watched, most recent first, with where they stopped.
pub(crate) async fn history(feed: &Feed, Caller(caller): Caller, Query(page): Query<PageQuery>) -> Answer {
    let shelf = read(feed, &keys::history(&caller.user_id))?;
    list(
        feed,
        &shelf,
        &page,
        |entry| json!({ "watched_at": entry.at, "position_ms": entry.position_ms.unwrap_or(0), "duration_ms": entry.duration_ms }),
    )
}

/// `DELETE /feed/history`: the caller clears their history.
pub(crate) async fn clear_history(feed: &Feed, Caller(caller): Caller) -> Answer {
    feed.kv()?.delete(&keys::history(&caller.user_id)).map_err(kv_unavailable)?;
    Ok(no_content())
}

/// The caller's favorite and history entry for one video, for `GET /videos/:id`.
pub(crate) fn personal(feed: &Feed, user: &str, id: u64) -> Result<(bool, Option<u64>), Problem> {
    let favorited = read(feed, &keys::favorites(user))?.find(id).is_some();
    let position = read(feed, &keys::history(user))?.find(id).and_then(|e| e.position_ms);
    Ok((favorited, position))
}

fn read(feed: &Feed, key: &str) -> Result<Shelf, Problem> {
    Ok(edge_spin::kv::get_json::<Shelf>(feed.kv()?, key)?.unwrap_or_default())
}

fn write(feed: &Feed, key: &str, shelf: &Shelf) -> Result<(), Problem> {
    edge_spin::kv::set_json(feed.kv()?, key, shelf)
}

/// One page of a shelf as `{items: [{video, ...fields(entry)}], next_cursor}`, records read in
/// one `MGET` with the built marker (records missing because Redis lost them are rebuilt, not
/// skipped); a video deleted since it was shelved is left out.
fn list(feed: &Feed, shelf: &Shelf, page: &PageQuery, fields: impl Fn(&Entry) -> Value) -> Answer {
    let (after, limit) = page.read(PAGE_DEFAULT, PAGE_MAX)?;
    let (entries, next) = shelf.page(after, limit);
    let mut keys: Vec<String> = entries.iter().map(|e| keys::video(e.video)).collect();
    keys.push(keys::BUILT.to_owned());
    let mut records = feed.redis()?.mget(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
    if records.pop().flatten().is_none() {
        return Err(feed.lost());
    }
    let items: Vec<Value> = entries
        .iter()
        .zip(records)
        .filter_map(|(entry, record)| {
            let video = parse_video(std::str::from_utf8(&record?).ok()?)?;
            let mut item = fields(entry);
            item["video"] = serde_json::to_value(video.view()).ok()?;
            Some(item)
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "items": items, "next_cursor": next.map(|c| c.encode()) })))
}
