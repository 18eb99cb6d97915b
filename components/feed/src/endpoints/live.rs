//! `/videos/:id/danmaku/live`: new danmaku as Server-Sent Events, for anyone watching. The
//! request is admitted here (per-address and per-instance limits, the resume point); what the
//! stream then sends is [`crate::live`].

use edge_http::handler::{Answer, Headers, Path, Query};
use edge_http::stream::Streamed;
use edge_http::Problem;
use edge_spin::redis::{arg, int, now_ms, text};
use edge_spin::setting;
use serde::Deserialize;

use crate::adapter::LiveRoom;
use crate::ids::VideoId;
use crate::live::{self, Plan};
use crate::{keys, no_video, settings, store, Feed};

/// Slack after a stream's longest life before its place counts as free, should its instance
/// die without ending it.
const PLACE_SLACK_MS: u64 = 30_000;

/// What `GET /videos/:id/danmaku/live` may carry.
#[derive(Deserialize)]
pub(crate) struct LiveQuery {
    after: Option<String>,
}

/// `GET /videos/:id/danmaku/live[?after=]`: replays what came after `Last-Event-ID` (or
/// `?after=`), then streams new danmaku until the stream's lifetime (`danmaku_live_secs`,
/// shortened by up to a quarter at random so viewers do not all reconnect at once) is over.
/// Streams per client address (`live_streams_per_client`) and per edge instance
/// (`live_streams_per_instance`, counted under `live_instance`) are limited.
pub(crate) async fn stream(feed: &Feed, Path(VideoId(id)): Path<VideoId>, Query(q): Query<LiveQuery>, Headers(headers): Headers) -> Answer {
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).or(q.after.as_deref());
    let after = match resume.map(str::trim) {
        None | Some("") => None,
        Some(value) => Some(value.parse::<u64>().map_err(|_| {
            Problem::bad_request("invalid-query", "Last-Event-ID and after= are danmaku ids: whole numbers").with("field", "after")
        })?),
    };
    let lifetime_ms = setting(&settings::DANMAKU_LIVE_SECS)? * 1000;
    let per_client = setting(&settings::LIVE_STREAMS_PER_CLIENT)?;
    let per_instance = setting(&settings::LIVE_STREAMS_PER_INSTANCE)?;
    let instance = setting(&settings::LIVE_INSTANCE)?;
    let client = edge_spin::client_key(&headers);
    let member = edge_http::random_id();
    let now = now_ms();
    let keys = [
        keys::video(id),
        keys::BUILT.to_owned(),
        keys::danmaku_seq(id),
        keys::doorbell(id),
        keys::room(id),
        keys::live_address(&client),
        keys::live_instance(&instance),
    ];
    let args = vec![arg(now), arg(now + lifetime_ms + PLACE_SLACK_MS), arg(&member), arg(per_client), arg(per_instance)];
    let reply = feed.run(&store::LIVE_OPEN, &keys, args)?;
    let retry_secs = || reply.get(1).and_then(int).map_or(1, |ms| (ms.max(0) as u64).div_ceil(1000).max(1));
    match reply.first().and_then(text).as_deref() {
        Some("ok") => {}
        Some("client") => {
            return Err(Problem::too_many_requests(
                "too-many-streams",
                format!("at most {per_client} live streams per client address (live_streams_per_client); close one or retry later"),
                retry_secs(),
            )
            .with("limit", per_client))
        }
        Some("instance") => {
            return Err(Problem::unavailable(
                "live-full",
                format!("this edge instance holds its most live streams ({per_instance}); retry shortly or elsewhere"),
            )
            .header(http::header::RETRY_AFTER, retry_secs().into()))
        }
        _ => return Err(no_video()),
    }
    let value = |i: usize| reply.get(i).and_then(int).map_or(0, |n| n.max(0) as u64);
    let random = u64::from_str_radix(&member[..16], 16).unwrap_or_default();
    let plan = Plan {
        after: after.unwrap_or(value(1)),
        newest: value(1),
        cursor: reply.get(2).and_then(text).unwrap_or_else(|| "0-0".into()),
        viewers: value(3),
        ends_at_ms: now + lifetime_ms - random % (lifetime_ms / 4),
        retry_ms: 1000 + (random >> 32) % 2000,
    };
    let places = [keys[4].clone(), keys[5].clone(), keys[6].clone()];
    Ok(Streamed::events(move |sink| {
        // The admitting connection went with the request's state; the stream holds its own.
        let Ok(room) = LiveRoom::open(id) else {
            return;
        };
        if let Err(live::Stop::Store(problem)) = live::run(&room, sink, plan) {
            eprintln!("live danmaku of video {id} ended early: {}", problem.detail());
        }
        room.leave(&places, &member);
    }))
}
