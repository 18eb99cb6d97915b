//! `/videos/:id/comments`: post a comment or a reply, list the roots newest or hottest first with
//! their first replies, page one thread, delete, like. The rules are [`crate::comments`].
//!
//! Each change runs its Redis script first, then writes the key-value store's copy, the truth a
//! rebuild restores from (as videos do).

use edge_http::handler::{Answer, Json, Path, Query};
use edge_http::{json_response, no_content, Problem};
use edge_spin::auth::{Caller, MaybeCaller};
use edge_spin::limit::PerClient;
use edge_spin::redis::{arg, int, text};
use edge_spin::{kv_unavailable, setting};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::redis::RedisResult;

use crate::comments::{self, Bound, Comment, CommentId, PostComment, Sort, PAGE_DEFAULT, PAGE_MAX, REPLIES_SHOWN};
use crate::endpoints::{self, notifications};
use crate::ids::{self, VideoId};
use crate::limits::{self, Comments, Likes};
use crate::notifications::Kind;
use crate::{cursor, danmaku, keys, no_video, settings, store, Feed};

/// `POST /videos/:id/comments`: a root, or a reply when `parent_id` names a comment of the video
/// (a reply to a reply joins its root's thread). Checked text, rate-limited per user by
/// `comment_per_minute`, refused when the same user repeats it on the video within
/// `comment_repeat_secs`.
pub(crate) async fn post(
    feed: &Feed,
    _: PerClient<Comments>,
    Caller(caller): Caller,
    Path(VideoId(video)): Path<VideoId>,
    Json(body): Json<PostComment>,
) -> Answer {
    let user = caller.user_id;
    let checked = body.check(&endpoints::danmaku::blocklist()?)?;
    let redis = feed.redis()?;
    limits::COMMENTS_PER_USER.check(redis, &user)?;
    let repeat_secs = setting(&settings::COMMENT_REPEAT_SECS)?;
    let keys = [
        keys::video(video),
        keys::BUILT.to_owned(),
        keys::COMMENTS_BUILT.to_owned(),
        keys::COMMENT_LAST_ID.to_owned(),
        keys::comment_repeat(video, &user, &danmaku::dedup_key_text(&checked.text)),
        keys::comments_new(video),
        keys::comments_hot(video),
        keys::comment_count(video),
    ];
    let parent = checked.parent.map_or_else(String::new, |id| id.to_string());
    let args = vec![arg(ids::FEED_EPOCH_MS), arg(repeat_secs), arg(video), arg(parent), arg(comments::record_tail(&user, &checked.text))];
    let reply = feed.run(&store::COMMENT_POST, &keys, args)?;
    match reply.first().and_then(int) {
        Some(id) if id > 0 => {
            let id = id as u64;
            let root = reply.get(1).and_then(text).and_then(|root| root.parse().ok());
            let comment =
                Comment { id, video, root, reply_to: checked.parent, author: user, text: checked.text, created_at: ids::timestamp_ms(id) };
            edge_spin::kv::set_json(feed.kv()?, &keys::stored_comment(video, id), &comment)?;
            notifications::send(feed, Kind::Comment, &keys::video(video), &comment.author, video, None);
            if let Some(parent) = comment.reply_to {
                notifications::send(feed, Kind::Reply, &keys::comment(parent), &comment.author, video, Some(parent));
            }
            Ok(json_response(StatusCode::CREATED, &comment))
        }
        Some(0) => Err(Problem::conflict(
            "repeated-comment",
            format!("you posted the same text on this video in the last {repeat_secs} seconds (comment_repeat_secs)"),
        )
        .with("limit", repeat_secs)
        .with("variable", "comment_repeat_secs")),
        Some(-2) => Err(comments::invalid_parent()),
        _ => Err(no_video()),
    }
}

/// What `GET /videos/:id/comments` reads: the order and one page of it.
#[derive(Deserialize)]
pub(crate) struct CommentsQuery {
    sort: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /videos/:id/comments?sort=new|hot`: a page of roots, each with its likes, reply count
/// and oldest replies (and, signed in, whether the caller liked them), and the video's total.
pub(crate) async fn list(
    feed: &Feed,
    MaybeCaller(caller): MaybeCaller,
    Path(VideoId(video)): Path<VideoId>,
    Query(q): Query<CommentsQuery>,
) -> Answer {
    let sort = Sort::parse(q.sort.as_deref())?;
    let limit = cursor::page_limit(q.limit.as_deref(), PAGE_DEFAULT, PAGE_MAX)?;
    let bound = q.cursor.as_deref().map(|token| Bound::decode(sort, token)).transpose()?;
    let order = match sort {
        Sort::New => keys::comments_new(video),
        Sort::Hot => keys::comments_hot(video),
    };
    let keys = [keys::video(video), keys::BUILT.to_owned(), keys::COMMENTS_BUILT.to_owned(), order, keys::comment_count(video)];
    let (score, after) = bound.map_or_else(Default::default, |b| (b.score.to_string(), b.id.to_string()));
    let user = caller.as_ref().map_or("", |c| c.user_id.as_str());
    let args = vec![arg(score), arg(after), arg(limit as u64), arg(user), arg(REPLIES_SHOWN)];
    let words = found(feed.run(&store::COMMENT_PAGE, &keys, args)?)?;
    let page = comments::read_page(&words, limit, caller.is_some()).ok_or_else(|| unexpected(&store::COMMENT_PAGE))?;
    let next = page.next.map(|bound| bound.encode(sort));
    Ok(json_response(StatusCode::OK, &json!({ "items": page.items, "next_cursor": next, "total": page.total })))
}

/// What `GET /videos/:id/comments/:cid/replies` reads: one page.
#[derive(Deserialize)]
pub(crate) struct RepliesQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /videos/:id/comments/:cid/replies`: a thread's replies, oldest first (a reply has none
/// of its own: replies to it are in its root's thread).
pub(crate) async fn replies(
    feed: &Feed,
    MaybeCaller(caller): MaybeCaller,
    Path((VideoId(video), CommentId(id))): Path<(VideoId, CommentId)>,
    Query(q): Query<RepliesQuery>,
) -> Answer {
    let limit = cursor::page_limit(q.limit.as_deref(), PAGE_DEFAULT, PAGE_MAX)?;
    let after = q.cursor.as_deref().map(comments::decode_after).transpose()?;
    let keys = [keys::video(video), keys::BUILT.to_owned(), keys::COMMENTS_BUILT.to_owned(), keys::comment(id), keys::replies(id)];
    let user = caller.as_ref().map_or("", |c| c.user_id.as_str());
    let args = vec![arg(after.map_or_else(String::new, |id| id.to_string())), arg(limit as u64), arg(user)];
    let words = found(feed.run(&store::COMMENT_REPLIES, &keys, args)?)?;
    let page = comments::read_replies(&words, limit, caller.is_some()).ok_or_else(|| unexpected(&store::COMMENT_REPLIES))?;
    if page.parent.video != video {
        return Err(comments::no_comment());
    }
    let next = page.next.map(comments::encode_after);
    Ok(json_response(StatusCode::OK, &json!({ "items": page.items, "next_cursor": next, "total": page.total })))
}

/// `DELETE /videos/:id/comments/:cid`: by the comment's author or the video's; a root takes its
/// replies with it.
pub(crate) async fn delete(
    feed: &Feed,
    Caller(caller): Caller,
    Path((VideoId(video), CommentId(id))): Path<(VideoId, CommentId)>,
) -> Answer {
    let keys = [
        keys::video(video),
        keys::BUILT.to_owned(),
        keys::COMMENTS_BUILT.to_owned(),
        keys::comment(id),
        keys::comments_new(video),
        keys::comments_hot(video),
        keys::comment_count(video),
        keys::comment_likes(id),
        keys::replies(id),
    ];
    let reply = feed.run(&store::COMMENT_DELETE, &keys, vec![arg(&caller.user_id), arg(video), arg(id)])?;
    match reply.first().and_then(text).as_deref() {
        Some("ok") => {
            let kv = feed.kv()?;
            let removed = std::iter::once(id).chain(reply.iter().skip(1).filter_map(|r| text(r)?.parse().ok()));
            for comment in removed {
                kv.delete(&keys::stored_comment(video, comment)).map_err(kv_unavailable)?;
            }
            Ok(no_content())
        }
        Some("forbidden") => {
            Err(Problem::forbidden("not-your-comment", "only the comment's author or the video's author can delete this comment"))
        }
        Some("missing-video") => Err(no_video()),
        _ => Err(comments::no_comment()),
    }
}

/// `PUT /videos/:id/comments/:cid/like`: idempotent; answers the new count. A change sooner than
/// `like_interval_ms` after the caller's last one on this comment is refused.
pub(crate) async fn like(feed: &Feed, _: PerClient<Likes>, caller: Caller, ids: Path<(VideoId, CommentId)>) -> Answer {
    set_like(feed, caller, ids, true)
}

/// `DELETE /videos/:id/comments/:cid/like`: as [`like`].
pub(crate) async fn unlike(feed: &Feed, _: PerClient<Likes>, caller: Caller, ids: Path<(VideoId, CommentId)>) -> Answer {
    set_like(feed, caller, ids, false)
}

fn set_like(feed: &Feed, Caller(caller): Caller, Path((VideoId(video), CommentId(id))): Path<(VideoId, CommentId)>, like: bool) -> Answer {
    let user = caller.user_id;
    let interval = setting(&settings::LIKE_INTERVAL_MS)?;
    let keys = [
        keys::video(video),
        keys::BUILT.to_owned(),
        keys::COMMENTS_BUILT.to_owned(),
        keys::comment(id),
        keys::comment_likes(id),
        keys::comments_hot(video),
        keys::replies(id),
        keys::comment_like_gap(id, &user),
    ];
    let args = vec![arg(&user), arg(if like { "like" } else { "unlike" }), arg(video), arg(interval), arg(id)];
    let reply = feed.run(&store::COMMENT_LIKE, &keys, args)?;
    match reply.first().and_then(int) {
        Some(likes) if likes >= 0 => {
            if like {
                notifications::send(feed, Kind::LikeComment, &keys::comment(id), &user, video, Some(id));
            }
            Ok(json_response(StatusCode::OK, &json!({ "liked": like, "likes": likes })))
        }
        Some(-2) => Err(limits::like_too_fast(&reply, interval, "comment")),
        Some(-3) => Err(comments::no_comment()),
        _ => Err(no_video()),
    }
}

/// A read script's answer as words, or the 404 of a video or comment that does not exist.
fn found(reply: Vec<RedisResult>) -> Result<Vec<Option<String>>, Problem> {
    let words: Vec<Option<String>> = reply.iter().map(text).collect();
    match words.first().and_then(Option::as_deref) {
        Some("missing") => Err(no_video()),
        Some("no-comment") => Err(comments::no_comment()),
        _ => Ok(words),
    }
}

fn unexpected(script: &edge_spin::script::Script) -> Problem {
    Problem::internal(format!("script {} answered in an unexpected shape", script.name()))
}
