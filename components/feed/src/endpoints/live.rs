//! `/videos/:id/danmaku/live`: new danmaku as Server-Sent Events, for anyone watching. Who is
//! admitted, where the stream starts and what it then sends are [`crate::live`].

use edge_http::handler::{Answer, Headers, Path, Query};
use edge_http::stream::Streamed;
use edge_spin::redis::now_ms;
use edge_spin::setting;
use serde::Deserialize;

use crate::adapter::LiveRoom;
use crate::ids::VideoId;
use crate::live::{self, Limits};
use crate::{keys, settings, Feed};

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
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let after = live::resume_point(last_event_id, q.after.as_deref())?;
    let limits = Limits {
        lifetime_ms: setting(&settings::DANMAKU_LIVE_SECS)? * 1000,
        per_client: setting(&settings::LIVE_STREAMS_PER_CLIENT)?,
        per_instance: setting(&settings::LIVE_STREAMS_PER_INSTANCE)?,
    };
    let places =
        [keys::room(id), keys::live_address(&edge_spin::client_key(&headers)), keys::live_instance(&setting(&settings::LIVE_INSTANCE)?)];
    let member = edge_http::random_id();
    let now = now_ms();
    let admission = feed.admit(id, &places, &member, now, &limits)?;
    let plan = live::plan(admission, after, now, &limits, u64::from_str_radix(&member[..16], 16).unwrap_or_default())?;
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
