//! One audience size's figures, the verdict on it (which resource gave out) and the formatting
//! of the printed table.

use super::*;

pub(crate) struct SizeResult {
    pub(crate) n: usize,
    pub(crate) connected: usize,
    pub(crate) failed_opens: usize,
    pub(crate) no_hello: usize,
    pub(crate) open_secs: f64,
    pub(crate) server_viewers: u64,
    pub(crate) opens_not_ok: BTreeMap<String, u64>,
    pub(crate) posts: usize,
    pub(crate) acked: usize,
    pub(crate) post_errors: BTreeMap<String, u64>,
    pub(crate) post_p50_us: u64,
    pub(crate) post_p99_us: u64,
    pub(crate) post_max_lag_us: u64,
    pub(crate) window_secs: f64,
    pub(crate) deliveries: Deliveries,
    pub(crate) batches: u64,
    pub(crate) reconnects: u64,
    pub(crate) reconnects_without_id: u64,
    pub(crate) ends: u64,
    pub(crate) closes_without_end: u64,
    pub(crate) stalls: u64,
    pub(crate) dropped: u64,
    pub(crate) skipped: u64,
    pub(crate) merged: u64,
    pub(crate) id_mismatch: u64,
    pub(crate) bad_events: u64,
    pub(crate) bad_framing: u64,
    pub(crate) other_events: u64,
    pub(crate) lost_tasks: usize,
    pub(crate) open_at_stop: i64,
    pub(crate) stop_after_us: u64,
    pub(crate) mem_before: Option<Mem>,
    pub(crate) mem_after: Option<Mem>,
    pub(crate) fds: Option<usize>,
    pub(crate) maps: Option<usize>,
    pub(crate) idle: Idle,
    pub(crate) spin_cpu_posting: Option<f64>,
    pub(crate) redis_cpu_posting: Option<f64>,
    pub(crate) client_cpu_posting: Option<f64>,
    pub(crate) spin_errors: usize,
    pub(crate) first_spin_error: Option<String>,
}

impl SizeResult {
    pub(crate) fn missing(&self) -> u64 {
        (self.acked as u64 * self.connected as u64).saturating_sub(self.deliveries.distinct)
    }

    pub(crate) fn live_p99_ms(&self) -> Option<f64> {
        (!self.deliveries.live.is_empty()).then(|| percentile(&self.deliveries.live, 99.0) as f64 / 1000.0)
    }

    pub(crate) fn row(&self) -> String {
        let d = &self.deliveries;
        let per_sec = if self.window_secs > 0.0 { d.received as f64 / self.window_secs } else { 0.0 };
        let latency = |p: f64| if d.live.is_empty() { "-".to_owned() } else { duration(percentile(&d.live, p)) };
        format!(
            "| {} | {} | {} of {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(self.n as u64),
            thousands(self.connected as u64),
            thousands(self.acked as u64),
            thousands(self.posts as u64),
            thousands(per_sec.round() as u64),
            thousands(self.missing()),
            thousands(d.duplicates),
            latency(50.0),
            latency(90.0),
            latency(99.0),
            d.live.last().map_or("-".to_owned(), |&m| duration(m)),
            counts(&self.opens_not_ok),
            counts(&self.post_errors),
        )
    }

    pub(crate) fn resource_row(&self) -> String {
        let mib = |kb: u64| kb as f64 / 1024.0;
        let (memory, rss, hwm) = match (&self.mem_before, &self.mem_after) {
            (Some(b), Some(a)) if self.connected > 0 => {
                let per = |after: u64, before: u64| format!("{:.0} KiB", after.saturating_sub(before) as f64 / self.connected as f64);
                (format!("{:.1} → {:.1} MiB", mib(b.rss_kb), mib(a.rss_kb)), per(a.rss_kb, b.rss_kb), per(a.hwm_kb, b.hwm_kb))
            }
            (Some(b), Some(a)) => (format!("{:.1} → {:.1} MiB", mib(b.rss_kb), mib(a.rss_kb)), "-".into(), "-".into()),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let core = |v: Option<f64>| opt(v.map(|c| format!("{:.1} %", c * 100.0)));
        format!(
            "| {} | {memory} | {rss} | {hwm} | {} / {} | {} | {} / {} | {} | {} | {} | {} | {} |",
            thousands(self.n as u64),
            opt(self.fds.map(|f| thousands(f as u64))),
            opt(self.maps.map(|m| thousands(m as u64))),
            opt(self.idle.redis_clients.map(|c| c.to_string())),
            opt(self.idle.redis_ops_instant.map(|o| o.to_string())),
            opt(self.idle.redis_ops_measured.map(|o| format!("{o:.1}"))),
            core(self.idle.spin_cpu),
            core(self.idle.redis_cpu),
            core(self.spin_cpu_posting),
            core(self.redis_cpu_posting),
            core(self.client_cpu_posting),
        )
    }

    pub(crate) fn details(&self) -> String {
        let d = &self.deliveries;
        let mut s = format!(
            "- {} viewers: {} got `hello` within {:.1} s of the first open ({} refused or failed, {} no hello); the server last said viewers={}. \
             Posts: {} acknowledged of {} over {:.1} s, POST p50 {} p99 {}, at most {} behind schedule. \
             Deliveries: {} live, {} replayed after a reconnect (p99 {}), {} arrived before their POST answered (clamped to 0), \
             {} carried ids of no acknowledged post; {} danmaku events ({}/s). \
             Streams: {} reconnects ({} without Last-Event-ID), {} `end`, {} closed without `end`, {} silent > {} s, {} viewers gave up, \
             {} open at the stop, {} after the last acknowledged post; {} `skipped`, {} items with count ≠ 1, {} `id:` ≠ newest item, {} unparseable events, \
             {} framing errors, {} other events.",
            thousands(self.n as u64),
            thousands(self.connected as u64),
            self.open_secs,
            self.failed_opens,
            self.no_hello,
            self.server_viewers,
            thousands(self.acked as u64),
            thousands(self.posts as u64),
            self.window_secs,
            duration(self.post_p50_us),
            duration(self.post_p99_us),
            duration(self.post_max_lag_us),
            thousands(d.live.len() as u64),
            thousands(d.replay.len() as u64),
            if d.replay.is_empty() { "-".to_owned() } else { duration(percentile(&d.replay, 99.0)) },
            thousands(d.clamped),
            thousands(d.unknown),
            thousands(self.batches),
            thousands(if self.window_secs > 0.0 { (self.batches as f64 / self.window_secs).round() as u64 } else { 0 }),
            thousands(self.reconnects),
            thousands(self.reconnects_without_id),
            thousands(self.ends),
            thousands(self.closes_without_end),
            self.stalls,
            IDLE_LIMIT.as_secs(),
            self.dropped,
            self.open_at_stop,
            duration(self.stop_after_us),
            self.skipped,
            self.merged,
            self.id_mismatch,
            self.bad_events,
            self.bad_framing,
            self.other_events,
        );
        if self.lost_tasks > 0 {
            let _ = write!(s, " {} viewer tasks did not stop in time (their deliveries are not counted).", self.lost_tasks);
        }
        if self.spin_errors > 0 {
            let _ = write!(s, " Spin logged {} errors, first: `{}`.", self.spin_errors, self.first_spin_error.as_deref().unwrap_or(""));
        }
        s
    }

    /// Why this size is the knee, if it is.
    pub(crate) fn gave_out(&self, cfg: &Config) -> Option<String> {
        if self.connected < self.n || self.dropped > 0 {
            let mut causes: Vec<String> = Vec::new();
            for (label, count) in &self.opens_not_ok {
                let cause = format!("{} ({label} ×{count})", resource_of(label));
                causes.push(cause);
            }
            if self.no_hello > 0 {
                causes.push(format!(
                    "Spin too slow to open streams ({} viewers without hello after {} s)",
                    self.no_hello,
                    HELLO_WAIT.as_secs()
                ));
            }
            return Some(format!(
                "connections failed ({} of {} connected, {} gave up on a reconnect): {}",
                self.connected,
                self.n,
                self.dropped,
                if causes.is_empty() { "no cause recorded".to_owned() } else { causes.join("; ") }
            ));
        }
        let expected = self.acked as u64 * self.connected as u64;
        if expected > 0 && self.missing() as f64 > expected as f64 * cfg.missing_limit_pct / 100.0 {
            return Some(format!(
                "deliveries lost: {} of {} ({:.2} %) missing {} after the last post; {}",
                thousands(self.missing()),
                thousands(expected),
                self.missing() as f64 * 100.0 / expected as f64,
                duration(self.stop_after_us),
                self.cpu_note()
            ));
        }
        // The posts share the two cores with the fan-out: when they cannot keep their
        // schedule, the room no longer gets the rate asked for.
        if self.window_secs > cfg.post_secs * 1.1 {
            return Some(format!(
                "posting fell behind: {} posts took {:.1} s instead of {:.0} s ({:.0}/s of {:.0}/s asked), POST p50 {}; {}",
                thousands(self.acked as u64),
                self.window_secs,
                cfg.post_secs,
                self.acked as f64 / self.window_secs,
                cfg.post_rate,
                duration(self.post_p50_us),
                self.cpu_note()
            ));
        }
        let p99 = self.live_p99_ms()?;
        (p99 > cfg.p99_limit_ms)
            .then(|| format!("latency: p99 {} > {} ms; {}", duration((p99 * 1000.0) as u64), cfg.p99_limit_ms, self.cpu_note()))
    }

    /// CPU while posting, for a verdict.
    pub(crate) fn cpu_note(&self) -> String {
        let core = |v: Option<f64>| v.map_or("?".to_owned(), |c| format!("{:.0} %", c * 100.0));
        format!(
            "CPU while posting (of one core; the machine has {}): Spin {}, Redis {}, this client {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            core(self.spin_cpu_posting),
            core(self.redis_cpu_posting),
            core(self.client_cpu_posting)
        )
    }
}

/// The resource an open's failure points at.
pub(crate) fn resource_of(label: &str) -> &'static str {
    if label.contains("live-full") {
        "streams per edge instance (live_streams_per_instance)"
    } else if label.contains("too-many-streams") {
        "streams per client address (live_streams_per_client)"
    } else if label.contains("redis-unavailable") {
        "Redis"
    } else if label.starts_with("503") {
        "Spin instance slots (SPIN_MAX_INSTANCE_COUNT)"
    } else if label.contains("os error 24") {
        "file descriptors (open-files limit)"
    } else if label.contains("os error 99") {
        "loopback ports"
    } else if label.starts_with("connect") || label.contains("closed before") || label.contains("reset") {
        "Spin accepting connections (listen backlog, file descriptors)"
    } else if label.starts_with("no answer") {
        "Spin too slow to answer stream opens (CPU)"
    } else if label.starts_with('5') {
        "Spin or the component failing (see Spin's log)"
    } else {
        "see the answer"
    }
}

/// Nearest-rank percentile of sorted values.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds as ms (or s from one second on).
pub(crate) fn duration(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter().map(|(label, n)| format!("{label} ×{n}")).collect::<Vec<_>>().join("; ")
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" / ")
}
