//! The caller's notifications: `/feed/notifications`, `/feed/notifications/unread` and
//! `/feed/notifications/read`, and [`send`], which likes and comments call. Rules are
//! [`crate::notifications`].

use edge_http::handler::{Answer, Query};
use edge_http::json_response;
use edge_spin::auth::Caller;
use edge_spin::redis::{arg, int, now_ms};
use http::StatusCode;
use serde_json::json;

use crate::cursor::{Cursor, PageQuery};
use crate::notifications::{self, Kind, LIFETIME_SECS, MAX_GROUPS};
use crate::{keys, parse_video, store, Feed};

/// Default and largest page.
const PAGE_DEFAULT: usize = 20;
const PAGE_MAX: usize = 50;

/// Tells the author of `record` (a video's or a comment's key) that `actor` did `kind`. The
/// action itself has already succeeded, so a failure here is logged and not answered.
pub(crate) fn send(feed: &Feed, kind: Kind, record: &str, actor: &str, video: u64, comment: Option<u64>) {
    let comment = comment.map(|c| c.to_string()).unwrap_or_default();
    let args = vec![arg(actor), arg(kind.name()), arg(video), arg(comment), arg(now_ms()), arg(MAX_GROUPS), arg(LIFETIME_SECS)];
    if let Err(problem) = feed.redis().and_then(|redis| redis.run(&store::NOTIFY, &[record], args)) {
        eprintln!("feed: a {} notification for {record} was not recorded: {}", kind.name(), problem.detail());
    }
}

/// `GET /feed/notifications`: the caller's notification groups, most recently active first.
pub(crate) async fn list(feed: &Feed, Caller(caller): Caller, Query(page): Query<PageQuery>) -> Answer {
    let (after, limit) = page.read(PAGE_DEFAULT, PAGE_MAX)?;
    let bound = Cursor::score_bound(after);
    let redis = feed.redis()?;
    let reply =
        redis.run(&store::NOTIFICATIONS, &keys::notifications(&caller.user_id), vec![arg("page"), arg(bound), arg(limit as u64)])?;
    let mut items = notifications::read_page(&reply);
    if !items.is_empty() {
        let records: Vec<String> = items.iter().map(|n| keys::video(n.video_id)).collect();
        let titles = redis.mget(&records.iter().map(String::as_str).collect::<Vec<_>>())?;
        for (item, record) in items.iter_mut().zip(titles) {
            if let Some(video) = record.and_then(|json| parse_video(&String::from_utf8(json).ok()?)) {
                item.cover_url = video.view().cover_url;
                item.video_title = Some(video.title);
            }
        }
    }
    let scores: Vec<u64> = items.iter().map(|n| n.last_at).collect();
    let next = Cursor::after(&scores, limit).map(|c| c.encode());
    Ok(json_response(StatusCode::OK, &json!({ "items": items, "next_cursor": next })))
}

/// `GET /feed/notifications/unread`: how many groups grew since the caller last read them.
pub(crate) async fn unread(feed: &Feed, Caller(caller): Caller) -> Answer {
    let reply = feed.redis()?.run(&store::NOTIFICATIONS, &keys::notifications(&caller.user_id), vec![arg("unread")])?;
    Ok(json_response(StatusCode::OK, &json!({ "unread": reply.first().and_then(int).unwrap_or(0) })))
}

/// `POST /feed/notifications/read`: marks everything so far read.
pub(crate) async fn read(feed: &Feed, Caller(caller): Caller) -> Answer {
    feed.redis()?.run(&store::NOTIFICATIONS, &keys::notifications(&caller.user_id), vec![arg("read"), arg(LIFETIME_SECS)])?;
    Ok(json_response(StatusCode::OK, &json!({ "unread": 0 })))
}
