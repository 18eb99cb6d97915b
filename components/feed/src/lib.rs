//! feed: video records, timelines, follows, danmaku, comments, likes, plays and the 24 h ranking.
//! Routes: `/videos/...`, `/users/...`, `/feed/...`, each answered by a handler in
//! [`endpoints`].
//!
//! State lives in Redis and changes only through the scripts in [`store`]; records are mirrored
//! to the key-value store (`video:<id>`) for reindexing, and for [`rebuild`]ing records and
//! timelines when Redis loses its data; comments are kept there too (`comment:<video>:<id>`). The rules (fields, ids, cursors, danmaku text and
//! merging, ranking buckets, what a rebuild restores, what a live stream sends) are the pure
//! modules.

mod adapter;
mod comments;
mod cursor;
mod danmaku;
mod endpoints;
mod follows;
mod ids;
mod keys;
mod library;
mod limits;
mod live;
mod notifications;
mod publish;
mod ranking;
mod rebuild;
mod settings;
mod share;
pub mod store;
mod video;

use edge_http::handler::{Answer, Input, Routes, Shape};
use edge_http::{Problem, Request};
use edge_spin::auth::{Authenticates, Backends};
use edge_spin::health::{self, Operator};
use edge_spin::redis::{text, Redis};
use edge_spin::script::Script;
use edge_spin::{kv_unavailable, Lazy};
use http::Method;
use spin_sdk::redis::{RedisParameter, RedisResult};
use std::cell::Cell;

use crate::video::Video;

/// Largest JSON body a feed endpoint reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every route this component answers as `(method, pattern, shape)`; the OpenAPI document is
/// checked against it.
pub fn operations() -> Vec<(Method, String, Shape)> {
    router().operations()
}

fn router() -> Routes<Feed> {
    Routes::new()
        .on(Method::GET, "/feed/health", health)
        .on(Method::POST, "/videos", endpoints::videos::create)
        .on(Method::GET, "/videos/:id", endpoints::videos::get)
        .on(Method::GET, "/videos/:id/source", endpoints::videos::source)
        .on(Method::GET, "/videos/:id/cover", endpoints::covers::cover)
        .on(Method::PATCH, "/videos/:id", endpoints::videos::update)
        .on(Method::DELETE, "/videos/:id", endpoints::videos::delete)
        .on(Method::PUT, "/videos/:id/like", endpoints::videos::like)
        .on(Method::DELETE, "/videos/:id/like", endpoints::videos::unlike)
        .on(Method::POST, "/videos/:id/plays", endpoints::videos::play)
        .on(Method::POST, "/videos/:id/danmaku", endpoints::danmaku::post)
        .on(Method::GET, "/videos/:id/danmaku", endpoints::danmaku::list)
        .on(Method::GET, "/videos/:id/danmaku/live", endpoints::live::stream)
        .on(Method::POST, "/videos/:id/comments", endpoints::comments::post)
        .on(Method::GET, "/videos/:id/comments", endpoints::comments::list)
        .on(Method::GET, "/videos/:id/comments/:cid/replies", endpoints::comments::replies)
        .on(Method::DELETE, "/videos/:id/comments/:cid", endpoints::comments::delete)
        .on(Method::PUT, "/videos/:id/comments/:cid/like", endpoints::comments::like)
        .on(Method::DELETE, "/videos/:id/comments/:cid/like", endpoints::comments::unlike)
        .on(Method::GET, "/feed/latest", endpoints::timelines::latest)
        .on(Method::GET, "/feed/following", endpoints::timelines::following)
        .on(Method::GET, "/feed/rankings", endpoints::timelines::ranking)
        .on(Method::GET, "/users/:id/videos", endpoints::timelines::by_author)
        .on(Method::PUT, "/videos/:id/favorite", endpoints::library::favorite)
        .on(Method::DELETE, "/videos/:id/favorite", endpoints::library::unfavorite)
        .on(Method::PUT, "/videos/:id/progress", endpoints::library::progress)
        .on(Method::GET, "/feed/favorites", endpoints::library::favorites)
        .on(Method::GET, "/feed/history", endpoints::library::history)
        .on(Method::DELETE, "/feed/history", endpoints::library::clear_history)
        .on(Method::GET, "/feed/notifications", endpoints::notifications::list)
        .on(Method::GET, "/feed/notifications/unread", endpoints::notifications::unread)
        .on(Method::POST, "/feed/notifications/read", endpoints::notifications::read)
        .on(Method::PUT, "/users/:id/follow", endpoints::follows::follow)
        .on(Method::DELETE, "/users/:id/follow", endpoints::follows::unfollow)
        .on(Method::GET, "/v/:id", endpoints::share::page)
        .on(Method::GET, "/oembed", endpoints::share::oembed)
}

/// The JSON schema of every request body a handler reads, by type name (the OpenAPI document
/// is checked against them).
#[cfg(feature = "schema")]
pub fn body_schemas() -> Vec<(&'static str, serde_json::Value)> {
    use edge_http::handler::body_schema;
    vec![
        body_schema::<video::CreateVideo>(),
        body_schema::<video::UpdateVideo>(),
        body_schema::<danmaku::PostDanmaku>(),
        body_schema::<comments::PostComment>(),
        body_schema::<endpoints::library::Progress>(),
    ]
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Answer {
    let (endpoint, params) = router().find(request.method(), request.uri().path())?;
    let feed = Feed::default();
    let input = || Input { request: &request, params: &params, state: &feed };
    let answer = endpoint.call(input()).await;
    // A Redis that lost feed's state is rebuilt by the request that notices (or by another one
    // meanwhile); then the request runs again, its first attempt having changed nothing.
    if !feed.lost.take() {
        return answer;
    }
    rebuild::run(&feed)?;
    endpoint.call(input()).await
}

/// `GET /feed/health`: the key-value store and Redis.
async fn health(_: &Feed, Operator(detailed): Operator) -> Answer {
    let redis = edge_spin::setting(&edge_spin::settings::REDIS_ADDRESS)?;
    Ok(health::report("feed", vec![health::key_value("default"), health::redis(&redis)], detailed))
}

/// What one request may need, each opened on first use.
#[derive(Default)]
struct Feed {
    backends: Backends,
    kv: Lazy<spin_sdk::key_value::Store>,
    /// Set once this request found feed's Redis state gone ([`Feed::lost`]).
    lost: Cell<bool>,
}

impl Authenticates for Feed {
    fn backends(&self) -> &Backends {
        &self.backends
    }
}

fn no_video() -> Problem {
    Problem::not_found("no-such-video", "there is no video with this id")
}

/// A stored record; `created_at` is the id's timestamp, the one clock every instance agrees on.
fn parse_video(json: &str) -> Option<Video> {
    let mut video: Video = serde_json::from_str(json).ok()?;
    video.created_at = ids::timestamp_ms(video.id);
    video.updated_at = video.updated_at.max(video.created_at);
    Some(video)
}

/// Records from `id, record` pairs (missing records skipped) and the ids they came from.
fn pairs(reply: &[RedisResult]) -> (Vec<Video>, Vec<u64>) {
    let ids = reply.iter().step_by(2).filter_map(|r| text(r)?.parse().ok()).collect();
    let videos = reply.iter().skip(1).step_by(2).filter_map(|r| parse_video(&text(r)?)).collect();
    (videos, ids)
}

impl Feed {
    fn redis(&self) -> Result<&Redis, Problem> {
        self.backends.redis()
    }

    /// Notes that feed's Redis state is gone, so [`dispatch`] rebuilds it and runs the request
    /// again; the 503 is what the request answers if the rebuild cannot finish now.
    fn lost(&self) -> Problem {
        self.lost.set(true);
        rebuild::rebuilding()
    }

    /// Runs a feed script; its answer [`store::REBUILD`] (the state is gone) becomes
    /// [`Feed::lost`].
    fn run<K: AsRef<str>>(&self, script: &Script, keys: &[K], args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, Problem> {
        let reply = self.redis()?.run(script, keys, args)?;
        match reply.first() {
            Some(RedisResult::Binary(answer)) if answer == store::REBUILD.as_bytes() => Err(self.lost()),
            _ => Ok(reply),
        }
    }

    /// The key-value store: records' truth, read by a rebuild and for follows.
    fn kv(&self) -> Result<&spin_sdk::key_value::Store, Problem> {
        self.kv.get_or_try(|| spin_sdk::key_value::Store::open_default().map_err(kv_unavailable))
    }

    /// Saves the record's copy in the key-value store, the truth a rebuild restores from.
    fn mirror(&self, video: &Video) -> Result<(), Problem> {
        edge_spin::kv::set_json(self.kv()?, &keys::video(video.id), video)
    }

    /// A record; the marker comes in the same `MGET`, so a record that is missing only because
    /// Redis lost it is told from one that does not exist.
    fn load(&self, id: u64) -> Result<Video, Problem> {
        let mut reply = self.redis()?.mget(&[&keys::video(id), keys::BUILT])?.into_iter();
        match (reply.next().flatten(), reply.next().flatten()) {
            (Some(json), _) => String::from_utf8(json).ok().and_then(|json| parse_video(&json)).ok_or_else(no_video),
            (None, Some(_)) => Err(no_video()),
            (None, None) => Err(self.lost()),
        }
    }

    /// Each group of `width` values (an id first) followed by that video's record, read in one
    /// `MGET`; a video deleted since its id was read has a nil record and is skipped later.
    fn with_records(&self, reply: Vec<RedisResult>, width: usize) -> Result<Vec<RedisResult>, Problem> {
        let groups: Vec<&[RedisResult]> = reply.chunks(width).filter(|group| group.len() == width).collect();
        let keys: Vec<String> =
            groups.iter().map(|group| text(&group[0]).and_then(|id| ids::decimal_id(&id)).map_or_else(String::new, keys::video)).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let records = self.redis()?.mget(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
        let mut out = Vec::with_capacity(groups.len() * (width + 1));
        for (group, record) in groups.into_iter().zip(records) {
            out.extend(group.iter().cloned());
            out.push(record.map_or(RedisResult::Nil, RedisResult::Binary));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve() {
        let r = router();
        let find = |m: Method, p: &str| r.find(&m, p).unwrap().0.name();
        assert_eq!(find(Method::POST, "/videos"), "feed::endpoints::videos::create");
        assert_eq!(find(Method::GET, "/videos/12/danmaku"), "feed::endpoints::danmaku::list");
        assert_eq!(find(Method::PUT, "/users/abc/follow"), "feed::endpoints::follows::follow");
        assert_eq!(find(Method::GET, "/feed/rankings"), "feed::endpoints::timelines::ranking");
        assert_eq!(r.find(&Method::POST, "/videos/12").unwrap_err().status(), http::StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn stored_records_take_their_creation_time_from_the_id() {
        let id = (1000u64 << edge_protocol::ids::SEQ_BITS) | 7;
        let json = format!(
            r#"{{"id":{id},"author":"a","title":"t","description":"","tags":[],"cover_key":null,"object_key":"k","size":1,"content_type":"video/mp4","sha256":null,"created_at":0,"updated_at":5,"version":1}}"#
        );
        let video = parse_video(&json).unwrap();
        assert_eq!(video.created_at, ids::FEED_EPOCH_MS + 1000);
        assert_eq!(video.updated_at, video.created_at);
    }
}
