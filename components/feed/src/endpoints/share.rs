//! `/v/:id` and `/oembed`: a video's share page and its oEmbed description. What they show is
//! [`crate::share`]; here the record and the author's name are read.

use edge_http::handler::{Answer, Headers, Path, Query};
use edge_http::{json_response, Problem, Response};
use http::{header, StatusCode};
use serde::Deserialize;

use crate::share::{self, Shared};
use crate::video::Video;
use crate::{ids, Feed};

/// How long browsers and shared caches may reuse a share page: an edited title shows soon.
const CACHE_CONTROL: &str = "public, max-age=60";

/// `GET /v/:id`: the demo page with the video named in its head (title, OpenGraph and Twitter
/// meta, oEmbed discovery), which then opens the video. A video that does not exist, or no
/// longer does, gets the page's 404.
pub(crate) async fn page(feed: &Feed, Headers(headers): Headers, Path(raw): Path<String>) -> Answer {
    let origin = edge_spin::own_origin(&headers).unwrap_or_default();
    let Some(video) = found(feed, ids::parse_id(&raw).ok())? else {
        return Ok(html(StatusCode::NOT_FOUND, share::missing()));
    };
    let author = author_name(feed, &video.author);
    let cover = cover_path(&video);
    let shared =
        Shared { id: video.id, title: &video.title, description: &video.description, author: author.as_deref(), cover: cover.as_deref() };
    Ok(html(StatusCode::OK, share::page(&origin, &shared)))
}

/// What `/oembed` takes: the page's URL, and JSON as the only format.
#[derive(Debug, Deserialize)]
pub(crate) struct OEmbedQuery {
    url: String,
    format: Option<String>,
}

/// `GET /oembed?url=<share page>&format=json`: the oEmbed 1.0 description of a share page;
/// `404` for any URL that is not one of this site's share pages of an existing video. A format
/// other than JSON is a `400` (the oEmbed specification says `501`, but a client's choice never
/// gets a server error here).
pub(crate) async fn oembed(feed: &Feed, Headers(headers): Headers, Query(query): Query<OEmbedQuery>) -> Answer {
    if query.format.as_deref().is_some_and(|f| !f.is_empty() && f != "json") {
        return Err(Problem::bad_request("oembed-format", "oEmbed answers are JSON only; ask with format=json"));
    }
    let origin = edge_spin::own_origin(&headers).unwrap_or_default();
    let not_shared = || Problem::not_found("not-a-share-page", format!("oEmbed describes this site's video pages, {origin}/v/<id>"));
    let video = found(feed, share::shared_id(&origin, &query.url))?.ok_or_else(not_shared)?;
    let author = author_name(feed, &video.author);
    let shared = Shared { id: video.id, title: &video.title, description: &video.description, author: author.as_deref(), cover: None };
    let mut response = json_response(StatusCode::OK, &share::oembed(&origin, &shared));
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static(CACHE_CONTROL));
    Ok(response)
}

/// The video `id` names, `None` when there is none; a store that cannot answer stays an error.
fn found(feed: &Feed, id: Option<u64>) -> Result<Option<Video>, Problem> {
    let Some(id) = id else { return Ok(None) };
    match feed.load(id) {
        Ok(video) => Ok(Some(video)),
        Err(problem) if problem.status() == StatusCode::NOT_FOUND => Ok(None),
        Err(problem) => Err(problem),
    }
}

/// The author's display name (else username), if the account can be read; a preview without it
/// is still a preview.
fn author_name(feed: &Feed, user_id: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Account {
        username: String,
        #[serde(default)]
        display_name: String,
    }
    let account: Account = edge_spin::kv::get_json(feed.kv().ok()?, &edge_protocol::keys::user_key(user_id)).ok()??;
    Some(if account.display_name.trim().is_empty() { account.username } else { account.display_name })
}

fn cover_path(video: &Video) -> Option<String> {
    edge_protocol::keys::cover_url(video.id, video.version, video.cover_key.as_deref())
}

fn html(status: StatusCode, page: String) -> Response {
    let mut response = http::Response::new(page.into_bytes());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static(CACHE_CONTROL));
    response
}
