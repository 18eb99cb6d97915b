//! `/videos/:id/cover`: the stable URL every video view names as `cover_url`
//! ([`edge_protocol::keys::cover_url`]). It redirects, through upload-sign's `/uploads/play`,
//! to a short-lived signed `GET` of the picture: the bucket stays private, a deleted video's
//! cover stops loading, and list answers that are cached or indexed never hold an expired URL.

use edge_http::handler::{Answer, Path};
use edge_http::Problem;
use edge_protocol::receipt::PlayTicket;
use edge_spin::auth::MaybeCaller;
use edge_spin::redis::now_ms;
use edge_spin::setting;
use http::{header, StatusCode};

use crate::ids::VideoId;
use crate::{settings, Feed};

/// How long the ticket in the redirect lets its holder fetch the picture.
const COVER_TICKET_MS: u64 = 60 * 60 * 1000;
/// How long browsers and shared caches may reuse the redirect: well within the ticket's hour,
/// so a reused redirect still works, and short enough that a deleted video's cover goes soon.
const CACHE_CONTROL: &str = "public, max-age=600";

/// `GET /videos/:id/cover`: `302` to `/uploads/play?ticket=...` for the video's cover; `404
/// no-cover` when it has none. Any `?v=` is ignored: it only tells one cover's URL from the next.
pub(crate) async fn cover(feed: &Feed, _: MaybeCaller, Path(VideoId(id)): Path<VideoId>) -> Answer {
    let video = feed.load(id)?;
    let cover = video.cover_key.ok_or_else(|| Problem::not_found("no-cover", "this video has no cover picture"))?;
    let secret = setting(&settings::UPLOAD_RECEIPT_KEY)?;
    let ticket = PlayTicket { key: cover, expires_at: now_ms() + COVER_TICKET_MS }.sign(secret.as_bytes());
    http::Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, format!("/uploads/play?ticket={ticket}"))
        .header(header::CACHE_CONTROL, CACHE_CONTROL)
        .body(Vec::new())
        .map_err(|e| Problem::misconfigured(format!("the cover redirect is not a valid response: {e}")))
}
