//! Auth benchmark (run by `scripts/bench-auth`; prints figures, asserts nothing).
//!
//! 1. Access-token verification natively: `edge_auth::Verifier::verify` in a loop.
//! 2. What authentication adds to a request inside the wasm component on Spin: p50 of
//!    `GET /auth/verify` (signature + claims + revocation MGET) minus p50 of
//!    `GET /.well-known/jwks.json` (the same component set-up without a token); `/auth/me`
//!    adds an account read from the key-value store.
//! 3. Sign-in latency (Argon2id at the chosen parameters, inside wasm).
//! 4. Refresh requests/s: chained rotations on one session, then on 8 sessions at once.
//! 5. Requests/s, p50 and p99 of JWKS and `/auth/verify` at 1 and 16 kept-alive connections
//!    (wrk, 8 s each), beside the smallest spin-sdk component (`bench/minimal`) on the same Spin.

use std::time::{Duration, Instant};

use e2e::{json, wrk, App, AppOptions, TempDir};
use edge_auth::{Audience, Issuer, KeySet, Session, SigningKey, Verifier};

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn timed(n: usize, mut f: impl FnMut()) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

fn main() {
    let audience = || Audience { issuer: "video-edge".into(), audience: "video-edge-api".into() };
    let key = SigningKey::generate("bench");
    let (active, set) = KeySet::from_signing_config(&key.to_config()).unwrap();
    let token = Issuer::new(active, audience())
        .issue("user-1", &Session { id: "0123456789abcdef0123456789abcdef", epoch: 0, incarnation: "bench" }, vec![])
        .unwrap();
    let verifier = Verifier::new(set, audience());
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        verifier.verify(std::hint::black_box(&token)).unwrap();
        n += 1;
    }
    let per_sec = n as f64 / start.elapsed().as_secs_f64();
    println!("native verify (signature + claims): {per_sec:.0}/s, {:.1} us each", 1e6 / per_sec);

    let app = App::start(AppOptions {
        env: vec![
            ("SPIN_VARIABLE_REFRESH_PER_MINUTE".into(), "10000".into()),
            ("SPIN_VARIABLE_LOGIN_MAX_FAILURES_PER_CLIENT".into(), "100000".into()),
        ],
        ..AppOptions::default()
    });
    let password = "benchmark password";
    let register = |name: &str| {
        let reply = app.request("POST", "/auth/register").json(&json!({ "username": name, "password": password }));
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply
    };
    let first = register("bench-user");
    let access = first.json()["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {access}");
    let get = |path: &str| assert_eq!(app.request("GET", path).header("authorization", &bearer).send(None).status, 200);
    for _ in 0..200 {
        get("/.well-known/jwks.json");
        get("/auth/verify");
        get("/auth/me");
    }
    let mut base = timed(2000, || get("/.well-known/jwks.json"));
    let mut verify = timed(2000, || get("/auth/verify"));
    let mut me = timed(2000, || get("/auth/me"));
    let (b50, v50, m50) = (percentile(&mut base, 0.5), percentile(&mut verify, 0.5), percentile(&mut me, 0.5));
    println!("on Spin, 1 connection, p50: jwks {b50:.3} ms, /auth/verify {v50:.3} ms, /auth/me {m50:.3} ms");
    println!("authentication (signature + claims + revocation MGET, in wasm) adds {:.3} ms p50", v50 - b50);
    println!("an account read on top (/auth/me) adds another {:.3} ms p50", m50 - v50);

    let mut logins = timed(30, || {
        let reply = app.request("POST", "/auth/login").json(&json!({ "username": "bench-user", "password": password }));
        assert_eq!(reply.status, 200, "{}", reply.text());
    });
    println!(
        "login (Argon2id m=19 MiB t=2 p=1 in wasm): p50 {:.1} ms, p99 {:.1} ms over {} sign-ins",
        percentile(&mut logins, 0.5),
        percentile(&mut logins, 0.99),
        logins.len()
    );

    let session = |name: &str| {
        let reply = register(name);
        (reply.cookie("refresh_token").unwrap(), reply.cookie("device_id").unwrap())
    };
    let run = |refresh: String, device: String, until: Instant| {
        let mut refresh = refresh;
        let mut count = 0u64;
        while Instant::now() < until {
            let reply =
                app.request("POST", "/auth/refresh").header("cookie", &format!("refresh_token={refresh}; device_id={device}")).send(None);
            assert_eq!(reply.status, 200, "{}", reply.text());
            refresh = reply.cookie("refresh_token").unwrap();
            count += 1;
        }
        count
    };
    let (refresh, device) = session("bench-one");
    let start = Instant::now();
    let count = run(refresh, device, start + Duration::from_secs(5));
    println!("refresh, 1 session chained: {:.0} requests/s", count as f64 / start.elapsed().as_secs_f64());
    let sessions: Vec<_> = (0..8).map(|i| session(&format!("bench-par-{i}"))).collect();
    let start = Instant::now();
    let until = start + Duration::from_secs(5);
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = sessions.into_iter().map(|(r, d)| scope.spawn(move || run(r, d, until))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    println!("refresh, 8 sessions at once: {:.0} requests/s", total as f64 / start.elapsed().as_secs_f64());

    let dir = TempDir::new("bench-auth");
    let verify = format!("wrk.path = \"/auth/verify\"\nwrk.headers[\"authorization\"] = \"{bearer}\"\n");
    let floor = App::start(AppOptions { manifest: "bench/minimal/spin.toml", ..AppOptions::default() });
    for connections in [1, 16] {
        wrk(&floor, &dir, "smallest spin-sdk component", connections, "wrk.path = \"/\"\n");
        wrk(&app, &dir, "jwks", connections, "wrk.path = \"/.well-known/jwks.json\"\n");
        wrk(&app, &dir, "verify", connections, &verify);
    }
}
