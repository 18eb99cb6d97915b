//! feed: video records, timelines, follows, danmaku, likes, plays and the 24 h ranking.
//! Routes: `/videos/...`, `/users/...`, `/feed/...`.
//!
//! State lives in Redis and changes only through the scripts in [`store`]; records are mirrored
//! to the key-value store (`video:<id>`) for reindexing, and for [`rebuild`]ing records and
//! timelines when Redis loses its data. The rules (fields, ids, cursors, danmaku text and
//! merging, ranking buckets, what a rebuild restores) are the pure modules.

mod cursor;
mod danmaku;
mod ids;
mod ranking;
mod rebuild;
mod store;
mod video;

use edge_auth::receipt::{PlayTicket, Receipt};
use edge_auth::Principal;
use edge_http::{json_body, json_response, no_content, query, Params, Problem, Request, Response, Router};
use edge_spin::redis::{arg, int, now_ms, text, Decision, Redis};
use edge_spin::{auth as bearer, health, kv_unavailable, number_variable as number};
use http::{HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::redis::RedisResult;

use crate::cursor::Cursor;
use crate::danmaku::{Danmaku, PostDanmaku};
use crate::ranking::{LIKE_SHARDS, LIKE_WEIGHT, PLAY_WEIGHT};
use crate::rebuild::Restore;
use crate::video::{CreateVideo, UpdateVideo, UploadedObject, Video};

/// Largest JSON body a feed endpoint reads.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Default and largest timeline page.
const PAGE_DEFAULT: usize = 20;
const PAGE_MAX: usize = 100;
/// Authors the following feed reads per page: the most recently followed ones.
const FOLLOWING_FANOUT: u64 = 500;
/// Most users one user may follow.
const MAX_FOLLOWS: u64 = 2000;
/// Danmaku read from one segment at most.
const SEGMENT_READ_MAX: u64 = 5000;
/// Danmaku kept per video for reconnecting clients.
const RECENT_KEPT: u64 = 5000;
/// How long a play ticket lets a player fetch the video (its range requests each come back).
const PLAY_TICKET_MS: u64 = 60 * 60 * 1000;
/// Danmaku at the same text within this slice of playback merge into one counted item...
const MERGE_WINDOW_MS: u64 = 1000;
/// ...when there are at least this many.
const MERGE_MIN: usize = 3;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
    Create,
    Get,
    Source,
    Update,
    Delete,
    Like,
    Unlike,
    Play,
    PostDanmaku,
    Danmaku,
    Latest,
    Following,
    Ranking,
    AuthorVideos,
    Follow,
    Unfollow,
}

/// Every route this component answers as `(method, pattern)`; the OpenAPI document is checked
/// against it.
pub fn routes() -> Vec<(Method, String)> {
    router().routes()
}

fn router() -> Router<Endpoint> {
    use Endpoint::*;
    Router::new()
        .route(Method::GET, "/feed/health", Health)
        .route(Method::POST, "/videos", Create)
        .route(Method::GET, "/videos/:id", Get)
        .route(Method::GET, "/videos/:id/source", Source)
        .route(Method::PATCH, "/videos/:id", Update)
        .route(Method::DELETE, "/videos/:id", Delete)
        .route(Method::PUT, "/videos/:id/like", Like)
        .route(Method::DELETE, "/videos/:id/like", Unlike)
        .route(Method::POST, "/videos/:id/plays", Play)
        .route(Method::POST, "/videos/:id/danmaku", PostDanmaku)
        .route(Method::GET, "/videos/:id/danmaku", Danmaku)
        .route(Method::GET, "/feed/latest", Latest)
        .route(Method::GET, "/feed/following", Following)
        .route(Method::GET, "/feed/rankings", Ranking)
        .route(Method::GET, "/users/:id/videos", AuthorVideos)
        .route(Method::PUT, "/users/:id/follow", Follow)
        .route(Method::DELETE, "/users/:id/follow", Unfollow)
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Result<Response, Problem> {
    let (endpoint, params) = router().find(request.method(), request.uri().path())?;
    if let Endpoint::Health = endpoint {
        let redis = edge_spin::variable("redis_address")?;
        return Ok(health::report("feed", vec![health::key_value("default"), health::redis(&redis)]));
    }
    let redis = Redis::open()?;
    // Reads are public; a token, when sent, must be valid and personalises them.
    let caller = if request.headers().contains_key(http::header::AUTHORIZATION) {
        Some(bearer::authenticate(&request, &bearer::verifier()?, &redis)?)
    } else {
        None
    };
    let feed = Feed { redis, caller };
    // A Redis that lost feed's state is rebuilt by the request that notices (or by another one
    // meanwhile); then the request runs again, its first attempt having changed nothing.
    match feed.answer(endpoint, &request, &params) {
        Err(problem) if problem.code() == REBUILDING => {
            feed.rebuild()?;
            feed.answer(endpoint, &request, &params)
        }
        answer => answer,
    }
}

fn kv() -> Result<spin_sdk::key_value::Store, Problem> {
    spin_sdk::key_value::Store::open_default().map_err(kv_unavailable)
}

fn no_video() -> Problem {
    Problem::not_found("no-such-video", "there is no video with this id")
}

/// The code of the 503 answered while feed's Redis state is being rebuilt.
const REBUILDING: &str = "feed-rebuilding";

fn rebuilding() -> Problem {
    Problem::unavailable(REBUILDING, "feed is restoring its videos and timelines after its Redis lost them; retry shortly")
        .with("retry_after", rebuild::RETRY_AFTER_SECS)
        .header(http::header::RETRY_AFTER, HeaderValue::from(rebuild::RETRY_AFTER_SECS))
}

/// `Err(rebuilding())` when a script found feed's Redis state gone ([`store::REBUILD`]).
fn built(reply: Vec<RedisResult>) -> Result<Vec<RedisResult>, Problem> {
    match reply.first() {
        Some(RedisResult::Binary(answer)) if answer == store::REBUILD.as_bytes() => Err(rebuilding()),
        _ => Ok(reply),
    }
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

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<String>,
}

#[derive(Deserialize)]
struct DanmakuQuery {
    segment: Option<u64>,
    after: Option<u64>,
    limit: Option<String>,
}

#[derive(Deserialize)]
struct RankingQuery {
    limit: Option<String>,
}

struct Feed {
    redis: Redis,
    caller: Option<Principal>,
}

impl Feed {
    fn answer(&self, endpoint: Endpoint, r: &Request, params: &Params) -> Result<Response, Problem> {
        match endpoint {
            Endpoint::Health => unreachable!("answered by dispatch"),
            Endpoint::Create => self.create(r),
            Endpoint::Get => self.get(params),
            Endpoint::Source => self.source(params),
            Endpoint::Update => self.update(r, params),
            Endpoint::Delete => self.delete(params),
            Endpoint::Like => self.like(params, true),
            Endpoint::Unlike => self.like(params, false),
            Endpoint::Play => self.play(params),
            Endpoint::PostDanmaku => self.post_danmaku(r, params),
            Endpoint::Danmaku => self.danmaku(r, params),
            Endpoint::Latest => self.timeline(r, store::LATEST.to_owned()),
            Endpoint::Following => self.following(r),
            Endpoint::Ranking => self.ranking(r),
            Endpoint::AuthorVideos => self.timeline(r, store::author_key(params.get("id").unwrap_or(""))),
            Endpoint::Follow => self.follow(params, true),
            Endpoint::Unfollow => self.follow(params, false),
        }
    }

    fn caller(&self) -> Result<&Principal, Problem> {
        self.caller.as_ref().ok_or_else(|| bearer::problem(edge_auth::AuthError::Missing))
    }

    fn mirror(&self, video: &Video) -> Result<(), Problem> {
        kv()?.set_json(store::video_key(video.id), video).map_err(kv_unavailable)
    }

    /// A record; the marker comes in the same `MGET`, so a record that is missing only because
    /// Redis lost it is told from one that does not exist.
    fn load(&self, id: u64) -> Result<Video, Problem> {
        let mut reply = self.redis.mget(&[&store::video_key(id), store::BUILT])?.into_iter();
        match (reply.next().flatten(), reply.next().flatten()) {
            (Some(json), _) => String::from_utf8(json).ok().and_then(|json| parse_video(&json)).ok_or_else(no_video),
            (None, Some(_)) => Err(no_video()),
            (None, None) => Err(rebuilding()),
        }
    }

    fn create(&self, request: &Request) -> Result<Response, Problem> {
        let body: CreateVideo = json_body(request, BODY_LIMIT)?;
        let author = self.caller()?.user_id.clone();
        let key = edge_spin::variable("upload_receipt_key")?;
        let receipt = Receipt::verify(&body.receipt, key.as_bytes()).ok_or_else(|| {
            Problem::bad_request("invalid-receipt", "the receipt is not one upload-sign issued; complete an upload and send its receipt")
                .with("field", "receipt")
        })?;
        let upload_id = receipt.upload_id.clone();
        let object = UploadedObject {
            owner: receipt.owner,
            key: receipt.key,
            size: receipt.size,
            content_type: receipt.content_type,
            sha256: receipt.sha256,
        };
        let mut video = Video::create(0, &author, &body, object)?;
        video.updated_at = now_ms();
        let json = serde_json::to_string(&video).unwrap_or_default();
        let rest =
            store::after_id_placeholder(&json).ok_or_else(|| Problem::misconfigured("video records must serialise with the id first"))?;
        let keys = [
            store::LAST_ID.to_owned(),
            format!("feed:receipt:{upload_id}"),
            store::LATEST.to_owned(),
            store::author_key(&author),
            store::CHANGES.to_owned(),
            store::BUILT.to_owned(),
        ];
        let reply = built(self.redis.run(&store::CREATE, &keys, vec![arg(ids::FEED_EPOCH_MS), arg(rest), arg(store::CHANGES_MAXLEN)])?)?;
        let id = match reply.first().and_then(text).and_then(|t| t.parse::<i64>().ok()) {
            Some(id) if id > 0 => id as u64,
            _ => return Err(Problem::conflict("receipt-used", "this upload already has a video").with("field", "receipt")),
        };
        video.id = id;
        video.created_at = ids::timestamp_ms(id);
        video.updated_at = video.updated_at.max(video.created_at);
        self.mirror(&video)?;
        Ok(json_response(StatusCode::CREATED, &video))
    }

    fn get(&self, params: &Params) -> Result<Response, Problem> {
        let id = ids::parse_id(params.get("id").unwrap_or(""))?;
        let caller = self.caller.as_ref().map(|p| p.user_id.as_str()).unwrap_or("");
        let shard = ranking::like_shard(caller, LIKE_SHARDS);
        let mut keys = vec![store::video_key(id), store::BUILT.to_owned()];
        keys.extend(store::counter_keys(id, LIKE_SHARDS, true));
        let reply = built(self.redis.run(&store::VIDEO, &keys, vec![arg(u64::from(LIKE_SHARDS)), arg(caller), arg(u64::from(shard))])?)?;
        let video = reply.first().and_then(text).and_then(|json| parse_video(&json)).ok_or_else(no_video)?;
        let count = |i: usize| reply.get(i).and_then(int).unwrap_or(0);
        let mut view = serde_json::to_value(&video).unwrap_or_default();
        view["likes"] = json!(count(1));
        view["plays"] = json!(count(2));
        if self.caller.is_some() {
            view["liked"] = json!(count(3) == 1);
        }
        Ok(json_response(StatusCode::OK, &view))
    }

    /// Where a player fetches the video: upload-sign's `/uploads/play`, which redirects the
    /// holder of this ticket to a presigned `GET` of the object. feed decides who may play what
    /// (any published video); upload-sign alone holds the store's credentials.
    fn source(&self, params: &Params) -> Result<Response, Problem> {
        let video = self.load(ids::parse_id(params.get("id").unwrap_or(""))?)?;
        let key = edge_spin::variable("upload_receipt_key")?;
        let expires_at = now_ms() + PLAY_TICKET_MS;
        let ticket = PlayTicket { key: video.object_key, expires_at }.sign(key.as_bytes());
        Ok(json_response(
            StatusCode::OK,
            &json!({ "url": format!("/uploads/play?ticket={ticket}"), "content_type": video.content_type, "expires_at": expires_at }),
        ))
    }

    fn update(&self, request: &Request, params: &Params) -> Result<Response, Problem> {
        let id = ids::parse_id(params.get("id").unwrap_or(""))?;
        let body: UpdateVideo = json_body(request, BODY_LIMIT)?;
        let author = self.caller()?.user_id.clone();
        let mut video = self.load(id)?;
        if video.author != author {
            return Err(Problem::forbidden("not-your-video", "only the author can edit this video"));
        }
        let expected = video.version;
        if !video.apply(&body, now_ms())? {
            return Ok(json_response(StatusCode::OK, &video));
        }
        let json = serde_json::to_string(&video).unwrap_or_default();
        let reply = built(self.redis.run(
            &store::UPDATE,
            &[store::video_key(id).as_str(), store::CHANGES, store::BUILT],
            vec![arg(&author), arg(expected), arg(json), arg(store::CHANGES_MAXLEN)],
        )?)?;
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
        self.mirror(&video)?;
        Ok(json_response(StatusCode::OK, &video))
    }

    fn delete(&self, params: &Params) -> Result<Response, Problem> {
        let id = ids::parse_id(params.get("id").unwrap_or(""))?;
        let author = self.caller()?.user_id.clone();
        let keys = [
            store::video_key(id),
            store::LATEST.to_owned(),
            store::author_key(&author),
            store::CHANGES.to_owned(),
            store::BUILT.to_owned(),
        ];
        let reply = built(self.redis.run(&store::DELETE, &keys, vec![arg(&author), arg(store::CHANGES_MAXLEN)])?)?;
        match reply.first().and_then(text).as_deref() {
            Some("ok") => {
                kv()?.delete(&store::video_key(id)).map_err(kv_unavailable)?;
                Ok(no_content())
            }
            Some("not-owner") => Err(Problem::forbidden("not-your-video", "only the author can delete this video")),
            _ => Err(no_video()),
        }
    }

    fn like(&self, params: &Params, like: bool) -> Result<Response, Problem> {
        let id = ids::parse_id(params.get("id").unwrap_or(""))?;
        let user = self.caller()?.user_id.clone();
        let shard = store::likes_key(id, ranking::like_shard(&user, LIKE_SHARDS));
        let bucket = ranking::bucket_key(ranking::bucket(now_ms()));
        let op = if like { "like" } else { "unlike" };
        let args = vec![arg(&user), arg(op), arg(LIKE_WEIGHT.to_string()), arg(ranking::BUCKET_TTL_SECS), arg(id)];
        let mut keys = vec![store::video_key(id), shard, bucket, store::BUILT.to_owned()];
        keys.extend(store::counter_keys(id, LIKE_SHARDS, false));
        let reply = built(self.redis.run(&store::LIKE, &keys, args)?)?;
        match reply.first().and_then(int) {
            Some(likes) if likes >= 0 => Ok(json_response(StatusCode::OK, &json!({ "liked": like, "likes": likes }))),
            _ => Err(no_video()),
        }
    }

    fn play(&self, params: &Params) -> Result<Response, Problem> {
        let id = ids::parse_id(params.get("id").unwrap_or(""))?;
        let user = self.caller()?.user_id.clone();
        let window = number("play_window_secs", 1..=30 * 86_400)?;
        let keys = [
            store::video_key(id),
            format!("plays:seen:{id}:{user}"),
            store::plays_key(id, ranking::like_shard(&user, LIKE_SHARDS)),
            ranking::bucket_key(ranking::bucket(now_ms())),
            store::BUILT.to_owned(),
        ];
        let args = vec![arg(window), arg(PLAY_WEIGHT.to_string()), arg(ranking::BUCKET_TTL_SECS), arg(id)];
        match built(self.redis.run(&store::PLAY, &keys, args)?)?.first().and_then(int) {
            Some(counted) if counted >= 0 => Ok(json_response(StatusCode::OK, &json!({ "counted": counted == 1 }))),
            _ => Err(no_video()),
        }
    }

    fn post_danmaku(&self, request: &Request, params: &Params) -> Result<Response, Problem> {
        let id = ids::parse_id(params.get("id").unwrap_or(""))?;
        let body: PostDanmaku = json_body(request, BODY_LIMIT)?;
        let user = self.caller()?.user_id.clone();
        let checked = body.check(&danmaku::parse_blocklist(&spin_sdk::variables::get("danmaku_blocklist").unwrap_or_default()))?;
        let per_10s = number("danmaku_per_ten_seconds", 1..=1_000_000)?;
        if let Decision::Limited { retry_after } =
            self.redis.limit(&[(&format!("dm:rate:{user}"), per_10s)], 10_000, &edge_http::random_id())?
        {
            return Err(Problem::too_many_requests(
                "danmaku-rate-limited",
                format!("at most {per_10s} danmaku per 10 seconds (danmaku_per_ten_seconds)"),
                retry_after,
            )
            .with("limit", per_10s));
        }
        let repeat_secs = number("danmaku_repeat_secs", 1..=86_400)?;
        let time_ms = checked.time_ms;
        let repeat_key = format!("dm:dup:{id}:{user}:{}", danmaku::dedup_key_text(&checked.text));
        let mut item = checked.into_danmaku(0, user, now_ms());
        let json = serde_json::to_string(&item).unwrap_or_default();
        let rest = store::after_id_placeholder(&json).ok_or_else(|| Problem::misconfigured("danmaku must serialise with the id first"))?;
        let keys = [
            store::video_key(id),
            repeat_key,
            format!("dm:seq:{id}"),
            format!("dm:{id}:{}", danmaku::segment(time_ms)),
            format!("dm:recent:{id}"),
            store::BUILT.to_owned(),
        ];
        let reply = built(self.redis.run(&store::DANMAKU, &keys, vec![arg(repeat_secs), arg(rest), arg(time_ms), arg(RECENT_KEPT)])?)?;
        match reply.first().and_then(int) {
            Some(n) if n > 0 => {
                item.id = n as u64;
                Ok(json_response(StatusCode::CREATED, &item))
            }
            Some(0) => Err(Problem::conflict(
                "repeated-danmaku",
                format!("you sent the same text in the last {repeat_secs} seconds (danmaku_repeat_secs)"),
            )
            .with("limit", repeat_secs)),
            _ => Err(no_video()),
        }
    }

    fn danmaku(&self, request: &Request, params: &Params) -> Result<Response, Problem> {
        let id = ids::parse_id(params.get("id").unwrap_or(""))?;
        let q: DanmakuQuery = query(request)?;
        let (set, min, max, limit) = match (q.segment, q.after) {
            (Some(segment), None) if segment <= danmaku::MAX_TIME_MS / danmaku::SEGMENT_MS => {
                (format!("dm:{id}:{segment}"), "-inf".to_owned(), "+inf".to_owned(), SEGMENT_READ_MAX)
            }
            (None, Some(after)) => {
                let limit = cursor::page_limit(q.limit.as_deref(), 200, 1000)? as u64;
                (format!("dm:recent:{id}"), format!("({after}"), "+inf".to_owned(), limit)
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
        let reply = built(self.redis.run(
            &store::READ_DANMAKU,
            &[&store::video_key(id), &set, store::BUILT],
            vec![arg(min), arg(max), arg(limit)],
        )?)?;
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

    fn page_args(request: &Request) -> Result<(String, usize), Problem> {
        let q: PageQuery = query(request)?;
        let limit = cursor::page_limit(q.limit.as_deref(), PAGE_DEFAULT, PAGE_MAX)?;
        let bound = match q.cursor.as_deref() {
            Some(token) => format!("({}", Cursor::decode(token)?.before),
            None => "+inf".to_owned(),
        };
        Ok((bound, limit))
    }

    fn page(reply: &[RedisResult], limit: usize) -> Response {
        let (videos, ids) = pairs(reply);
        let next = Cursor::after(&ids, limit).map(|c| c.encode());
        json_response(StatusCode::OK, &json!({ "items": videos, "next_cursor": next }))
    }

    /// Each group of `width` values (an id first) followed by that video's record, read in one
    /// `MGET`; a video deleted since its id was read has a nil record and is skipped later.
    fn with_records(&self, reply: Vec<RedisResult>, width: usize) -> Result<Vec<RedisResult>, Problem> {
        let groups: Vec<&[RedisResult]> = reply.chunks(width).filter(|group| group.len() == width).collect();
        let keys: Vec<String> = groups
            .iter()
            .map(|group| text(&group[0]).and_then(|id| ids::decimal_id(&id)).map_or_else(String::new, store::video_key))
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let records = self.redis.mget(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
        let mut out = Vec::with_capacity(groups.len() * (width + 1));
        for (group, record) in groups.into_iter().zip(records) {
            out.extend(group.iter().cloned());
            out.push(record.map_or(RedisResult::Nil, RedisResult::Binary));
        }
        Ok(out)
    }

    fn timeline(&self, request: &Request, key: String) -> Result<Response, Problem> {
        let (bound, limit) = Self::page_args(request)?;
        let ids = built(self.redis.run(&store::PAGE, &[&key, store::BUILT], vec![arg(bound), arg(limit as u64)])?)?;
        Ok(Self::page(&self.with_records(ids, 1)?, limit))
    }

    fn following(&self, request: &Request) -> Result<Response, Problem> {
        let user = self.caller()?.user_id.clone();
        let (bound, limit) = Self::page_args(request)?;
        let authors = self.redis.exec("ZREVRANGE", &[arg(store::follows_key(&user)), arg(0i64), arg(FOLLOWING_FANOUT as i64 - 1)])?;
        let mut keys = vec![store::BUILT.to_owned()];
        keys.extend(authors.iter().filter_map(text).map(|author| store::author_key(&author)));
        let ids = built(self.redis.run(&store::FOLLOWING, &keys, vec![arg(bound), arg(limit as u64)])?)?;
        Ok(Self::page(&self.with_records(ids, 1)?, limit))
    }

    /// The ranking, rendered once per `ranking_cache_secs` and served from Redis as is between.
    fn ranking(&self, request: &Request) -> Result<Response, Problem> {
        let q: RankingQuery = query(request)?;
        let limit = ranking::top_limit(q.limit.as_deref())?;
        let cache_secs = number("ranking_cache_secs", 0..=3600)?;
        let rendered_key = format!("rank:json:{limit}");
        if cache_secs > 0 {
            if let Some(RedisResult::Binary(body)) = self.redis.exec("GET", &[arg(&rendered_key)])?.into_iter().next() {
                let mut response = json_response(StatusCode::OK, &());
                *response.body_mut() = body;
                return Ok(response);
            }
        }
        let mut keys = ranking::window_keys(now_ms());
        // Scripts run one at a time, so one scratch key serves every request.
        keys.push("rank:union".to_owned());
        let reply = self.with_records(self.redis.run(&store::RANKING, &keys, vec![arg(limit as u64)])?, 2)?;
        let items: Vec<Value> = reply
            .chunks(3)
            .filter_map(|c| {
                let video = parse_video(&text(c.get(2)?)?)?;
                let score: f64 = text(&c[1])?.parse().ok()?;
                Some(json!({ "score": score, "video": video }))
            })
            .collect();
        let response = json_response(StatusCode::OK, &json!({ "window_hours": ranking::WINDOW_BUCKETS, "items": items }));
        if cache_secs > 0 {
            self.redis.exec("SET", &[arg(rendered_key), arg(response.body().clone()), arg("EX"), arg(cache_secs)])?;
        }
        Ok(response)
    }

    /// Restores feed's Redis state from the key-value store (see [`rebuild`]) within
    /// [`rebuild::BUDGET_MS`], or waits up to [`rebuild::WAIT_MS`] for the request doing so.
    /// `Ok` once the state is complete, else the 503 to answer (the next request continues).
    fn rebuild(&self) -> Result<(), Problem> {
        let started = now_ms();
        let token = edge_http::random_id();
        let keys = [store::BUILT, rebuild::LOCK, rebuild::LISTED, store::LAST_ID];
        let reply = self.redis.run(&rebuild::START, &keys, vec![arg(&token), arg(rebuild::LEASE_MS)])?;
        let kv = match reply.first().and_then(text).as_deref() {
            Some("built") => return Ok(()),
            Some("list") => {
                let kv = kv()?;
                self.list(&kv, &token)?;
                kv
            }
            Some("listed") => kv()?,
            _ => return self.wait_for_rebuild(started),
        };
        let (mut batch, mut ids) = (Vec::new(), Vec::new());
        loop {
            let out_of_time = now_ms() >= started + rebuild::BUDGET_MS;
            let (keys, args) = rebuild::restore_call(&token, out_of_time, &batch, &ids);
            let reply = self.redis.run(&rebuild::RESTORE, &keys, args)?;
            match reply.first().and_then(text).as_deref() {
                Some("built") => return Ok(()),
                Some("more") if !out_of_time => {}
                _ => return Err(rebuilding()),
            }
            ids = reply.iter().skip(1).filter_map(|r| text(r)?.parse().ok()).collect();
            batch.clear();
            for &id in &ids {
                let Some(record) = kv.get(&store::video_key(id)).map_err(kv_unavailable)? else { continue };
                match Restore::from_record(id, &record) {
                    Ok(restore) => batch.push(restore),
                    Err(error) => eprintln!("feed rebuild: video:{id} is not restored: {error}"),
                }
            }
        }
    }

    /// Lists every video of the key-value store into the rebuild's pending set.
    fn list(&self, kv: &spin_sdk::key_value::Store, token: &str) -> Result<(), Problem> {
        let ids = rebuild::video_ids(&kv.get_keys().map_err(kv_unavailable)?);
        let mut chunks: Vec<&[u64]> = ids.chunks(rebuild::LIST_CHUNK).collect();
        if chunks.is_empty() {
            // An empty store is listed too: the call records that listing is done.
            chunks.push(&[]);
        }
        for (n, chunk) in chunks.iter().enumerate() {
            let mut args = vec![arg(token), arg(rebuild::LEASE_MS), arg(if n + 1 == chunks.len() { "1" } else { "0" })];
            args.extend(chunk.iter().map(|&id| arg(id)));
            let reply = self.redis.run(&rebuild::LIST, &[rebuild::LOCK, rebuild::PENDING, rebuild::LISTED], args)?;
            if reply.first().and_then(int) != Some(1) {
                return Err(rebuilding());
            }
        }
        Ok(())
    }

    /// Polls for the marker while another request rebuilds.
    fn wait_for_rebuild(&self, started: u64) -> Result<(), Problem> {
        let mut pause = 10;
        while now_ms() + pause < started + rebuild::WAIT_MS {
            std::thread::sleep(std::time::Duration::from_millis(pause));
            pause = (pause * 2).min(200);
            if self.redis.exec("EXISTS", &[arg(store::BUILT)])?.first().and_then(int) == Some(1) {
                return Ok(());
            }
        }
        Err(rebuilding())
    }

    fn follow(&self, params: &Params, follow: bool) -> Result<Response, Problem> {
        let user = self.caller()?.user_id.clone();
        let target = params.get("id").unwrap_or("");
        if target == user {
            return Err(Problem::bad_request("cannot-follow-self", "you cannot follow yourself"));
        }
        let key = store::follows_key(&user);
        if !follow {
            self.redis.exec("ZREM", &[arg(&key), arg(target)])?;
            return Ok(no_content());
        }
        if !kv()?.exists(&edge_protocol::keys::user_key(target)).map_err(kv_unavailable)? {
            return Err(Problem::not_found("no-such-user", "there is no user with this id"));
        }
        let followed = self.redis.run(&store::FOLLOW, &[&key], vec![arg(target), arg(now_ms()), arg(MAX_FOLLOWS)])?;
        if followed.first().and_then(int) != Some(1) {
            return Err(
                Problem::bad_request("too-many-follows", format!("you can follow at most {MAX_FOLLOWS} users")).with("limit", MAX_FOLLOWS)
            );
        }
        Ok(no_content())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve() {
        let r = router();
        let find = |m: Method, p: &str| format!("{:?}", r.find(&m, p).unwrap().0);
        assert_eq!(find(Method::POST, "/videos"), "Create");
        assert_eq!(find(Method::GET, "/videos/12/danmaku"), "Danmaku");
        assert_eq!(find(Method::PUT, "/users/abc/follow"), "Follow");
        assert_eq!(find(Method::GET, "/feed/rankings"), "Ranking");
        assert_eq!(r.find(&Method::POST, "/videos/12").unwrap_err().status(), StatusCode::METHOD_NOT_ALLOWED);
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
