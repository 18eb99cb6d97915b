//! Kept-alive connections benchmark (run by `scripts/bench-keepalive`; prints figures, asserts
//! nothing). For each route, sequential requests on one kept-alive connection and on a fresh
//! connection each (200 warm-up rounds, then 2,000 of each), on `spin up` with the release
//! components and real Redis and S3: p50, p90 and p99 in milliseconds, and the p99 ratio.
//! Browsers, proxies and load balancers keep connections alive, so the first column is what
//! users see.

use std::time::{Duration, Instant};

use e2e::{json, App, AppOptions};

const WARM_UP: usize = 200;
const ROUNDS: usize = 2000;

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn agent(idle: usize) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections(idle)
        .max_idle_connections_per_host(idle)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Milliseconds of each of `ROUNDS` GETs of `url` through `agent` (after the warm-up).
fn timed(agent: &ureq::Agent, url: &str, bearer: Option<&str>) -> Vec<f64> {
    (0..WARM_UP + ROUNDS)
        .filter_map(|i| {
            let start = Instant::now();
            let mut request = agent.get(url);
            if let Some(token) = bearer {
                request = request.header("authorization", &format!("Bearer {token}"));
            }
            let mut reply = request.call().expect("an answer");
            let _ = reply.body_mut().read_to_vec();
            (i >= WARM_UP).then(|| start.elapsed().as_secs_f64() * 1000.0)
        })
        .collect()
}

fn main() {
    let app = App::start(AppOptions::default());
    let reply = app.request("POST", "/auth/register").json(&json!({ "username": e2e::unique("ka"), "password": "keep-alive bench" }));
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    let routes: [(&str, &str, bool); 7] = [
        ("JWKS", "/.well-known/jwks.json", false),
        ("page", "/", false),
        ("verify", "/auth/verify", true),
        ("account", "/auth/me", true),
        ("latest", "/feed/latest", false),
        ("ranking", "/feed/ranking", false),
        ("search", "/search?q=keepalive", false),
    ];
    println!("| route | kept-alive p50 / p90 / p99 (ms) | fresh p50 / p90 / p99 (ms) | p99 kept-alive ÷ fresh |");
    println!("|---|---|---|---|");
    for (name, path, signed_in) in routes {
        let url = format!("{}{path}", app.url);
        let bearer = signed_in.then_some(token.as_str());
        let mut kept = timed(&agent(1), &url, bearer);
        let mut fresh = timed(&agent(0), &url, bearer);
        let figures = |s: &mut Vec<f64>| (percentile(s, 0.5), percentile(s, 0.9), percentile(s, 0.99));
        let ((k50, k90, k99), (f50, f90, f99)) = (figures(&mut kept), figures(&mut fresh));
        println!("| {name} `GET {path}` | {k50:.2} / {k90:.2} / {k99:.2} | {f50:.2} / {f90:.2} / {f99:.2} | {:.1}× |", k99 / f99);
    }
}
