//! The posting scenario: danmaku at a fixed rate from many users, and each viewer's receipts
//! matched with the posts' acknowledgements (live or replayed after a reconnect).

use super::*;

pub(crate) struct Post {
    pub(crate) sent_us: u64,
    pub(crate) ack_us: u64,
    pub(crate) lag_us: u64,
    /// The danmaku id, from a 201.
    pub(crate) id: Option<u64>,
    /// What went wrong, for anything but a 201.
    pub(crate) error: Option<String>,
}

#[derive(Default)]
pub(crate) struct Deliveries {
    pub(crate) received: u64,
    pub(crate) distinct: u64,
    pub(crate) duplicates: u64,
    pub(crate) unknown: u64,
    pub(crate) clamped: u64,
    pub(crate) live: Vec<u64>,
    pub(crate) replay: Vec<u64>,
}

/// `cfg.post_rate` danmaku a second for `cfg.post_secs` on `video`, from `cfg.posters` threads
/// on a fixed schedule (post k is due at k / rate), rotating the users' tokens.
pub(crate) fn post_danmaku(cfg: &Config, base: &str, video: u64, tokens: &[String], shared: &Shared, n: usize) -> Vec<Post> {
    let total = (cfg.post_rate * cfg.post_secs).round() as usize;
    let first_due = Instant::now() + Duration::from_millis(100);
    let url = format!("{base}/videos/{video}/danmaku");
    let url = url.as_str();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cfg.posters)
            .map(|worker| {
                scope.spawn(move || {
                    let mut posts = Vec::new();
                    for seq in (worker..total).step_by(cfg.posters) {
                        let due = first_due + Duration::from_secs_f64(seq as f64 / cfg.post_rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let sent = Instant::now();
                        let sent_us = shared.now_us();
                        // Unique per post: nothing merges, and no user repeats a text.
                        let body = json!({ "time_ms": (seq * 7919) % 600_000, "text": format!("live {n} post {seq} ok") });
                        let reply = e2e::http("POST", url)
                            .header("authorization", &format!("Bearer {}", tokens[seq % tokens.len()]))
                            .header("content-type", "application/json")
                            .try_send(Some(body.to_string().as_bytes()));
                        let ack_us = shared.now_us();
                        let lag_us = sent.saturating_duration_since(due).as_micros() as u64;
                        let post = match reply {
                            Ok(reply) => {
                                let answer: Option<Value> = serde_json::from_slice(&reply.body).ok();
                                let id = answer.as_ref().and_then(|v| v["id"].as_u64());
                                if reply.status == 201 && id.is_some() {
                                    Post { sent_us, ack_us, lag_us, id, error: None }
                                } else {
                                    let code = answer.as_ref().and_then(|v| v["code"].as_str()).unwrap_or("");
                                    let error = format!("{} {code}", reply.status).trim_end().to_owned();
                                    Post { sent_us, ack_us, lag_us, id: None, error: Some(error) }
                                }
                            }
                            Err(e) => Post {
                                sent_us,
                                ack_us,
                                lag_us,
                                id: None,
                                error: Some(format!("no answer: {}", e.chars().take(60).collect::<String>())),
                            },
                        };
                        posts.push(post);
                    }
                    posts
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("poster thread")).collect()
    })
}

/// Matches what the viewers received with what was acknowledged.
pub(crate) fn deliveries(logs: &[ViewerLog], posts: &[Post]) -> Deliveries {
    let acked: HashMap<u64, u64> = posts.iter().filter_map(|p| Some((p.id?, p.ack_us))).collect();
    let mut d = Deliveries::default();
    for log in logs.iter().filter(|l| l.hello) {
        let mut ids = Vec::with_capacity(log.got.len());
        for &(id, at) in &log.got {
            let Some(&ack) = acked.get(&id) else {
                d.unknown += 1;
                continue;
            };
            ids.push(id);
            // The connection that carried it: the last one opened before it arrived.
            let opened = log.opens[log.opens.partition_point(|&o| o <= at).saturating_sub(1)];
            if at < ack {
                d.clamped += 1;
            }
            let latency = at.saturating_sub(ack);
            if opened > ack {
                d.replay.push(latency);
            } else {
                d.live.push(latency);
            }
        }
        d.received += ids.len() as u64;
        ids.sort_unstable();
        let all = ids.len();
        ids.dedup();
        d.distinct += ids.len() as u64;
        d.duplicates += (all - ids.len()) as u64;
    }
    d.live.sort_unstable();
    d.replay.sort_unstable();
    d
}
