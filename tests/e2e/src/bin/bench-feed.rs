//! Feed benchmark (run by `scripts/bench-feed`; prints figures, asserts nothing).
//!
//! `spin up` serves the real release feed component against real Redis; wrk drives it with
//! keep-alive connections, rotating 1,000 users' access tokens:
//! 1. danmaku posts/s (distinct texts, times spread over ten minutes of playback);
//! 2. segment reads/s of a minute holding 300 danmaku (merging included);
//! 3. like requests/s on one hot video;
//! 4. ranking read latency (top 20 and top 200 of 300 ranked videos), one connection;
//! 5. comment posts/s (distinct texts), 16 connections and one; comment list reads, signed out
//!    (20 roots with their first replies, newest and hot first, of 300 comments with replies
//!    and likes), latency on one connection and requests/s on 16.

use std::fmt::Write as _;

use e2e::{json, receipt, wrk, App, AppOptions, TempDir};

const USERS: usize = 1000;

fn tokens_lua(tokens: &[String]) -> String {
    let mut lua = String::from("local tokens = {\n");
    for t in tokens {
        writeln!(lua, "  \"{t}\",").unwrap();
    }
    lua.push_str("}\nlocal id = 0\nlocal n = 0\nfunction setup(thread) id = id + 1; thread:set(\"tid\", id) end\n");
    lua
}

fn main() {
    let app = App::start(AppOptions {
        env: vec![
            ("SPIN_VARIABLE_DANMAKU_PER_TEN_SECONDS".into(), "100000".into()),
            ("SPIN_VARIABLE_COMMENT_PER_MINUTE".into(), "100000".into()),
        ],
        ..AppOptions::default()
    });
    let dir = TempDir::new("bench-feed");
    let users: Vec<String> = (0..USERS).map(|i| format!("bench-user-{i}")).collect();
    let tokens: Vec<String> = users.iter().map(|u| e2e::access_token(u)).collect();
    let bearer = |i: usize| format!("Bearer {}", tokens[i % USERS]);
    let publish = |i: usize| {
        let reply = app
            .request("POST", "/videos")
            .header("authorization", &bearer(i))
            .json(&json!({ "receipt": receipt(&users[i % USERS]), "title": format!("video {i}") }));
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["id"].as_u64().unwrap()
    };
    let videos: Vec<u64> = (0..300).map(publish).collect();
    for (rank, &video) in videos.iter().enumerate() {
        for u in 0..(rank % 4) {
            let reply = app.request("PUT", &format!("/videos/{video}/like")).header("authorization", &bearer(u)).send(None);
            assert_eq!(reply.status, 200);
        }
    }
    let (hot, read) = (videos[0], videos[1]);
    for i in 0..300 {
        let text = if i % 3 == 0 { "666".to_owned() } else { format!("comment {i}") };
        let reply = app
            .request("POST", &format!("/videos/{read}/danmaku"))
            .header("authorization", &bearer(i))
            .json(&json!({ "time_ms": (i * 199) % 60_000, "text": text }));
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    // 300 comments on another video, every fourth a reply, and likes on 40 roots so that hot
    // order differs from newest.
    let discussed = videos[2];
    let mut roots = Vec::new();
    for i in 0..300 {
        let body = match i % 4 {
            3 => json!({ "text": format!("reply {i}"), "parent_id": roots[(i * 7) % roots.len()] }),
            _ => json!({ "text": format!("comment {i}") }),
        };
        let reply = app.request("POST", &format!("/videos/{discussed}/comments")).header("authorization", &bearer(i)).json(&body);
        assert_eq!(reply.status, 201, "{}", reply.text());
        if i % 4 != 3 {
            roots.push(reply.json()["id"].as_u64().unwrap());
        }
    }
    for (k, &comment) in roots.iter().take(40).enumerate() {
        for u in 0..(k * 7) % 5 {
            let path = format!("/videos/{discussed}/comments/{comment}/like");
            let reply = app.request("PUT", &path).header("authorization", &bearer(USERS - 1 - u)).send(None);
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
    }
    println!(
        "setup: 300 videos, 1,000 users, a 300-danmaku minute, 300 comments ({} roots) on one video; spin up at {}",
        roots.len(),
        app.url
    );

    let lua = tokens_lua(&tokens);
    // Each run has texts of its own: a user repeating a text within 30 s would get 409.
    let danmaku = |run: &str| {
        format!(
        "{lua}function request()\n  n = n + 1\n  local tid = wrk.thread:get(\"tid\")\n  local body = '{{\"time_ms\":' .. ((n * 7919) % 600000) .. ',\"text\":\"bench {run} ' .. tid .. '-' .. n .. '\"}}'\n  return wrk.format(\"POST\", \"/videos/{hot}/danmaku\", {{[\"content-type\"] = \"application/json\", [\"authorization\"] = \"Bearer \" .. tokens[(n % #tokens) + 1]}}, body)\nend\n"
    )
    };
    // As danmaku: each run has texts of its own (a user repeating a text on a video within
    // `comment_repeat_secs` would get 409).
    let comment = |run: &str| {
        format!(
        "{lua}function request()\n  n = n + 1\n  local tid = wrk.thread:get(\"tid\")\n  local body = '{{\"text\":\"bench {run} ' .. tid .. '-' .. n .. '\"}}'\n  return wrk.format(\"POST\", \"/videos/{hot}/comments\", {{[\"content-type\"] = \"application/json\", [\"authorization\"] = \"Bearer \" .. tokens[(n % #tokens) + 1]}}, body)\nend\n"
    )
    };
    let comments = |sort: &str| format!("wrk.path = \"/videos/{discussed}/comments?sort={sort}&limit=20\"\n");
    let likes = format!(
        "{lua}function request()\n  n = n + 1\n  return wrk.format(\"PUT\", \"/videos/{hot}/like\", {{[\"authorization\"] = \"Bearer \" .. tokens[(n % #tokens) + 1]}})\nend\n"
    );
    wrk(&app, &dir, "danmaku posts", 16, &danmaku("many"));
    wrk(&app, &dir, "danmaku posts, one client", 1, &danmaku("one"));
    wrk(&app, &dir, "segment reads", 16, &format!("wrk.path = \"/videos/{read}/danmaku?segment=0\"\n"));
    wrk(&app, &dir, "likes on one video", 16, &likes);
    wrk(&app, &dir, "likes, one client", 1, &likes);
    wrk(&app, &dir, "ranking top 20", 1, "wrk.path = \"/feed/rankings?limit=20\"\n");
    wrk(&app, &dir, "ranking top 200", 1, "wrk.path = \"/feed/rankings?limit=200\"\n");
    wrk(&app, &dir, "comment posts", 16, &comment("many"));
    wrk(&app, &dir, "comment posts, one client", 1, &comment("one"));
    wrk(&app, &dir, "comment list newest", 1, &comments("new"));
    wrk(&app, &dir, "comment list hot", 1, &comments("hot"));
    wrk(&app, &dir, "comment list newest", 16, &comments("new"));
    wrk(&app, &dir, "comment list hot", 16, &comments("hot"));
}
