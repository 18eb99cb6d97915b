//! `/videos` and `/videos/:id`: publish, read, edit, delete, like, count a play, and where a
//! player fetches the file. The record's rules are [`crate::video`].

use edge_http::handler::{Answer, Json, Path};
use edge_http::{json_response, no_content, Problem};
use edge_protocol::receipt::PlayTicket;
use edge_spin::auth::{Caller, MaybeCaller};
use edge_spin::limit::PerClient;
use edge_spin::redis::{arg, int, now_ms, text};
use edge_spin::{kv_unavailable, setting};
use http::StatusCode;
use serde_json::json;

use crate::endpoints::{library, notifications};
use crate::ids::VideoId;
use crate::limits::{self, Likes};
use crate::notifications::Kind;
use crate::ranking::{self, LIKE_SHARDS, LIKE_WEIGHT, PLAY_WEIGHT};
use crate::video::{CreateVideo, UpdateVideo};
use crate::{keys, no_video, parse_video, publish, settings, store, Feed};

/// How long a play ticket lets a player fetch the video (its range requests each come back).
const PLAY_TICKET_MS: u64 = 60 * 60 * 1000;

/// `POST /videos`: publishes an upload, proven by upload-sign's receipt, once
/// ([`publish::publish`]).
pub(crate) async fn create(feed: &Feed, Caller(caller): Caller, Json(body): Json<CreateVideo>) -> Answer {
    let key = setting(&settings::UPLOAD_RECEIPT_KEY)?;
    let video = publish::publish(feed, key.as_bytes(), &caller.user_id, &body)?;
    Ok(json_response(StatusCode::CREATED, &video.view()))
}

/// `GET /videos/:id`: the record with its like and play counts (and, signed in, whether the
/// caller liked it).
pub(crate) async fn get(feed: &Feed, MaybeCaller(caller): MaybeCaller, Path(VideoId(id)): Path<VideoId>) -> Answer {
    let user = caller.as_ref().map(|p| p.user_id.as_str()).unwrap_or("");
    let shard = ranking::like_shard(user, LIKE_SHARDS);
    let mut keys = vec![keys::video(id), keys::BUILT.to_owned()];
    keys.extend(keys::counters(id, LIKE_SHARDS, true));
    let reply = feed.run(&store::VIDEO, &keys, vec![arg(u64::from(LIKE_SHARDS)), arg(user), arg(u64::from(shard))])?;
    let video = reply.first().and_then(text).and_then(|json| parse_video(&json)).ok_or_else(no_video)?;
    let count = |i: usize| reply.get(i).and_then(int).unwrap_or(0);
    let mut view = serde_json::to_value(video.view()).unwrap_or_default();
    view["likes"] = json!(count(1));
    view["plays"] = json!(count(2));
    view["comments"] = json!(count(4));
    if let Some(caller) = &caller {
        view["liked"] = json!(count(3) == 1);
        let (favorited, position_ms) = library::personal(feed, &caller.user_id, id)?;
        view["favorited"] = json!(favorited);
        view["position_ms"] = json!(position_ms);
    }
    Ok(json_response(StatusCode::OK, &view))
}

/// `GET /videos/:id/source`: where a player fetches the video, upload-sign's `/uploads/play`,
/// which redirects the holder of this ticket to a presigned `GET` of the object. feed decides
/// who may play what (any published video); upload-sign alone holds the store's credentials.
pub(crate) async fn source(feed: &Feed, _: MaybeCaller, Path(VideoId(id)): Path<VideoId>) -> Answer {
    let video = feed.load(id)?;
    let key = setting(&settings::UPLOAD_RECEIPT_KEY)?;
    let expires_at = now_ms() + PLAY_TICKET_MS;
    let ticket = PlayTicket { key: video.object_key, expires_at }.sign(key.as_bytes());
    Ok(json_response(
        StatusCode::OK,
        &json!({ "url": format!("/uploads/play?ticket={ticket}"), "content_type": video.content_type, "expires_at": expires_at }),
    ))
}

/// `PATCH /videos/:id`: the author edits title, description, tags or cover, at the version read.
pub(crate) async fn update(feed: &Feed, Caller(caller): Caller, Path(VideoId(id)): Path<VideoId>, Json(body): Json<UpdateVideo>) -> Answer {
    let author = caller.user_id;
    let mut video = feed.load(id)?;
    if video.author != author {
        return Err(Problem::forbidden("not-your-video", "only the author can edit this video"));
    }
    let (expected, cover) = (video.version, video.cover_key.clone());
    if !video.apply(&body, now_ms())? {
        return Ok(json_response(StatusCode::OK, &video.view()));
    }
    if let Some(new) = video.cover_key.as_deref().filter(|new| cover.as_deref() != Some(new)) {
        publish::require_checked_cover(feed, new)?;
    }
    let json = serde_json::to_string(&video).unwrap_or_default();
    let reply = feed.run(
        &store::UPDATE,
        &[keys::video(id).as_str(), keys::CHANGES, keys::BUILT],
        vec![arg(&author), arg(expected), arg(json), arg(store::CHANGES_MAXLEN)],
    )?;
    match reply.first().and_then(text).as_deref() {
        Some("ok") => {}
        Some("missing") => return Err(no_video()),
        Some("not-owner") => return Err(Problem::forbidden("not-your-video", "only the author can edit this video")),
        Some(other) => {
            let current: u64 = other.strip_prefix("conflict:").and_then(|v| v.parse().ok()).unwrap_or(0);
            return Err(Problem::conflict(
                "version-conflict",
                "the video was edited since you read it; fetch it again and reapply your edit",
            )
            .with("version", current));
        }
        None => return Err(Problem::misconfigured("the update script answered nothing")),
    }
    feed.mirror(&video)?;
    Ok(json_response(StatusCode::OK, &video.view()))
}

/// `DELETE /videos/:id`: the author removes the video from every timeline and the store.
pub(crate) async fn delete(feed: &Feed, Caller(caller): Caller, Path(VideoId(id)): Path<VideoId>) -> Answer {
    let author = caller.user_id;
    let keys = [keys::video(id), keys::LATEST.to_owned(), keys::author(&author), keys::CHANGES.to_owned(), keys::BUILT.to_owned()];
    let reply = feed.run(&store::DELETE, &keys, vec![arg(&author), arg(store::CHANGES_MAXLEN)])?;
    match reply.first().and_then(text).as_deref() {
        Some("ok") => {
            feed.kv()?.delete(&keys::video(id)).map_err(kv_unavailable)?;
            Ok(no_content())
        }
        Some("not-owner") => Err(Problem::forbidden("not-your-video", "only the author can delete this video")),
        _ => Err(no_video()),
    }
}

/// `PUT /videos/:id/like`: idempotent; answers the new count. A change sooner than
/// `like_interval_ms` after the caller's last one on this video is refused.
pub(crate) async fn like(feed: &Feed, _: PerClient<Likes>, caller: Caller, id: Path<VideoId>) -> Answer {
    set_like(feed, caller, id, true)
}

/// `DELETE /videos/:id/like`: as [`like`].
pub(crate) async fn unlike(feed: &Feed, _: PerClient<Likes>, caller: Caller, id: Path<VideoId>) -> Answer {
    set_like(feed, caller, id, false)
}

fn set_like(feed: &Feed, Caller(caller): Caller, Path(VideoId(id)): Path<VideoId>, like: bool) -> Answer {
    let user = caller.user_id;
    let shard = keys::likes(id, ranking::like_shard(&user, LIKE_SHARDS));
    let bucket = keys::ranking_bucket(ranking::bucket(now_ms()));
    let op = if like { "like" } else { "unlike" };
    let interval = setting(&settings::LIKE_INTERVAL_MS)?;
    let args = vec![arg(&user), arg(op), arg(LIKE_WEIGHT.to_string()), arg(ranking::BUCKET_TTL_SECS), arg(id), arg(interval)];
    let mut names = vec![keys::video(id), shard, bucket, keys::BUILT.to_owned(), keys::like_gap(id, &user)];
    names.extend(keys::counters(id, LIKE_SHARDS, false));
    let reply = feed.run(&store::LIKE, &names, args)?;
    match reply.first().and_then(int) {
        Some(likes) if likes >= 0 => {
            if like {
                notifications::send(feed, Kind::LikeVideo, &keys::video(id), &user, id, None);
            }
            Ok(json_response(StatusCode::OK, &json!({ "liked": like, "likes": likes })))
        }
        Some(-2) => Err(limits::like_too_fast(&reply, interval, "video")),
        _ => Err(no_video()),
    }
}

/// `POST /videos/:id/plays`: counts a play once per user per `play_window_secs`.
pub(crate) async fn play(feed: &Feed, Caller(caller): Caller, Path(VideoId(id)): Path<VideoId>) -> Answer {
    let user = caller.user_id;
    let window = setting(&settings::PLAY_WINDOW_SECS)?;
    let keys = [
        keys::video(id),
        keys::play_seen(id, &user),
        keys::plays(id, ranking::like_shard(&user, LIKE_SHARDS)),
        keys::ranking_bucket(ranking::bucket(now_ms())),
        keys::BUILT.to_owned(),
    ];
    let args = vec![arg(window), arg(PLAY_WEIGHT.to_string()), arg(ranking::BUCKET_TTL_SECS), arg(id)];
    match feed.run(&store::PLAY, &keys, args)?.first().and_then(int) {
        Some(counted) if counted >= 0 => Ok(json_response(StatusCode::OK, &json!({ "counted": counted == 1 }))),
        _ => Err(no_video()),
    }
}
