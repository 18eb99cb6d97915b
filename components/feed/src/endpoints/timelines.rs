//! Lists of videos, newest first with opaque cursors: `/feed/latest`, `/feed/following`,
//! `/users/:id/videos`, and the 24 h ranking `/feed/rankings`. Cursor and ranking rules are
//! [`crate::cursor`] and [`crate::ranking`].

use edge_http::handler::{Answer, Path, Query};
use edge_http::{json_response, Problem, Response};
use edge_spin::auth::{Caller, MaybeCaller};
use edge_spin::redis::{arg, now_ms, text};
use edge_spin::setting;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::redis::RedisResult;

use crate::cursor::{Cursor, PageQuery};
use crate::video::{Video, View};
use crate::{keys, pairs, parse_video, ranking, settings, store, Feed};

/// Default and largest timeline page.
const PAGE_DEFAULT: usize = 20;
const PAGE_MAX: usize = 100;
/// Authors the following feed reads per page: the most recently followed ones. With the page
/// limit this bounds a page's work at 500 + 100 single-entry reads ([`store::FOLLOWING`]).
const FOLLOWING_FANOUT: u64 = 500;

/// The score bound to read below and the page size.
fn bounds(page: &PageQuery) -> Result<(String, usize), Problem> {
    let (after, limit) = page.read(PAGE_DEFAULT, PAGE_MAX)?;
    Ok((Cursor::score_bound(after), limit))
}

/// `GET /feed/latest`: every published video.
pub(crate) async fn latest(feed: &Feed, _: MaybeCaller, Query(page): Query<PageQuery>) -> Answer {
    timeline(feed, keys::LATEST, &page)
}

/// `GET /users/:id/videos`: one author's videos.
pub(crate) async fn by_author(feed: &Feed, _: MaybeCaller, Path(author): Path<String>, Query(page): Query<PageQuery>) -> Answer {
    timeline(feed, &keys::author(&author), &page)
}

fn timeline(feed: &Feed, key: &str, page: &PageQuery) -> Answer {
    let (bound, limit) = bounds(page)?;
    let ids = feed.run(&store::PAGE, &[key, keys::BUILT], vec![arg(bound), arg(limit as u64)])?;
    Ok(render(&feed.with_records(ids, 1)?, limit))
}

/// `GET /feed/following`: the caller's followed authors' videos, merged.
pub(crate) async fn following(feed: &Feed, Caller(caller): Caller, Query(page): Query<PageQuery>) -> Answer {
    let (bound, limit) = bounds(&page)?;
    let redis = feed.redis()?;
    let authors = redis.exec("ZREVRANGE", &[arg(keys::follows(&caller.user_id)), arg(0i64), arg(FOLLOWING_FANOUT as i64 - 1)])?;
    let mut keys = vec![keys::BUILT.to_owned()];
    keys.extend(authors.iter().filter_map(text).map(|author| keys::author(&author)));
    let ids = feed.run(&store::FOLLOWING, &keys, vec![arg(bound), arg(limit as u64)])?;
    Ok(render(&feed.with_records(ids, 1)?, limit))
}

fn render(reply: &[RedisResult], limit: usize) -> Response {
    let (videos, ids) = pairs(reply);
    let next = Cursor::after(&ids, limit).map(|c| c.encode());
    let items: Vec<View> = videos.iter().map(Video::view).collect();
    json_response(StatusCode::OK, &json!({ "items": items, "next_cursor": next }))
}

/// How many ranked videos to list.
#[derive(Deserialize)]
pub(crate) struct RankingQuery {
    limit: Option<String>,
}

/// `GET /feed/rankings`: the last 24 h by likes and plays, rendered once per
/// `ranking_cache_secs` and served from Redis as is between.
pub(crate) async fn ranking(feed: &Feed, _: MaybeCaller, Query(q): Query<RankingQuery>) -> Answer {
    let limit = ranking::top_limit(q.limit.as_deref())?;
    let cache_secs = setting(&settings::RANKING_CACHE_SECS)?;
    let redis = feed.redis()?;
    let rendered_key = keys::ranking_rendered(limit);
    if cache_secs > 0 {
        if let Some(RedisResult::Binary(body)) = redis.exec("GET", &[arg(&rendered_key)])?.into_iter().next() {
            let mut response = json_response(StatusCode::OK, &());
            *response.body_mut() = body;
            return Ok(response);
        }
    }
    let mut keys = ranking::window_keys(now_ms());
    keys.push(keys::RANKING_UNION.to_owned());
    let reply = feed.with_records(redis.run(&store::RANKING, &keys, vec![arg(limit as u64)])?, 2)?;
    let items: Vec<Value> = reply
        .chunks(3)
        .filter_map(|c| {
            let video = parse_video(&text(c.get(2)?)?)?;
            let score: f64 = text(&c[1])?.parse().ok()?;
            Some(json!({ "score": score, "video": video.view() }))
        })
        .collect();
    let response = json_response(StatusCode::OK, &json!({ "window_hours": ranking::WINDOW_BUCKETS, "items": items }));
    if cache_secs > 0 {
        redis.exec("SET", &[arg(rendered_key), arg(response.body().clone()), arg("EX"), arg(cache_secs)])?;
    }
    Ok(response)
}
