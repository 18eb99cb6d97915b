//! Live danmaku end to end: Server-Sent Events from the real feed component on Spin
//! and real Redis. Delivery between viewers, resuming with `Last-Event-ID`, flood merging,
//! the stream's bounded lifetime, a client that goes away, and the stream limits.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use e2e::sse::{Event, Stream};
use e2e::{json, receipt, unique, App, AppOptions, Services, Value};

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        // Every test here connects from 127.0.0.1.
        let env = vec![("SPIN_VARIABLE_LIVE_STREAMS_PER_CLIENT".to_owned(), "1000".to_owned())];
        App::start(AppOptions { env, ..Default::default() })
    })
}

fn with(vars: &[(&str, &str)], services: Option<&Services>) -> App {
    let env = vars.iter().map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), (*v).to_owned())).collect();
    App::start(AppOptions { env, services, ..Default::default() })
}

/// A new video on `app`: (its id, a poster's token).
fn video(app: &App) -> (u64, String) {
    let user = unique("live");
    let token = e2e::access_token(&user);
    let reply = app.call(Some(&token), "POST", "/videos", Some(json!({ "receipt": receipt(&user), "title": "live" })));
    assert_eq!(reply.status, 201, "{}", reply.text());
    (reply.json()["id"].as_u64().unwrap(), token)
}

/// Posts `text` as the token's user; answers the danmaku id.
fn post(app: &App, token: &str, id: u64, text: &str) -> u64 {
    let reply = app.call(Some(token), "POST", &format!("/videos/{id}/danmaku"), Some(json!({ "time_ms": 1000, "text": text })));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["id"].as_u64().unwrap()
}

fn open(app: &App, id: u64, headers: &[(&str, &str)]) -> Stream {
    Stream::open(app.addr(), &format!("/videos/{id}/danmaku/live"), headers).expect("connects")
}

/// Opens a stream and waits for its `hello`.
fn watch(app: &App, id: u64, headers: &[(&str, &str)]) -> (Stream, Value) {
    let mut stream = open(app, id, headers);
    assert_eq!(stream.status, 200, "{}", stream.text);
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    let hello = stream.next_named("hello", Instant::now() + Duration::from_secs(10)).expect("hello");
    (stream, hello.json())
}

fn items(event: &Event) -> Vec<Value> {
    event.json()["items"].as_array().cloned().unwrap_or_default()
}

fn viewers(id: u64) -> String {
    Services::shared().redis_cli(&["ZCARD", &format!("live:room:{id}")]).trim().to_owned()
}

#[test]
fn a_post_reaches_another_viewer_within_a_second() {
    let app = app();
    let (id, token) = video(app);
    let (mut a, _) = watch(app, id, &[]);
    let (mut b, hello) = watch(app, id, &[]);
    assert_eq!(hello["viewers"], 2, "{hello}");
    assert_eq!(hello["replay_depth"], 1000);
    let posted = post(app, &token, id, "first!");
    let acknowledged = Instant::now();
    let event = b.next_named("danmaku", acknowledged + Duration::from_secs(5)).expect("the post arrives");
    let took = acknowledged.elapsed();
    assert!(took < Duration::from_secs(1), "delivered {took:?} after the post was acknowledged");
    assert_eq!(event.last_id, posted.to_string());
    assert_eq!(items(&event)[0]["text"], "first!");
    assert_eq!(items(&event)[0]["count"], 1);
    assert_eq!(items(&a.next_named("danmaku", Instant::now() + Duration::from_secs(5)).unwrap())[0]["id"], posted);
}

#[test]
fn a_reconnect_with_last_event_id_gets_exactly_what_it_missed() {
    let app = app();
    let (id, token) = video(app);
    let before = post(app, &token, id, "before");
    let (mut viewer, hello) = watch(app, id, &[]);
    assert_eq!(hello["last_id"], before, "a stream without a position starts live");
    let seen = post(app, &token, id, "seen");
    let event = viewer.next_named("danmaku", Instant::now() + Duration::from_secs(5)).unwrap();
    let last = event.last_id.clone();
    assert_eq!(last, seen.to_string());
    drop(viewer);
    let missed: Vec<u64> = ["one", "two", "three"].iter().map(|t| post(app, &token, id, t)).collect();
    let (mut back, hello) = watch(app, id, &[("last-event-id", &last)]);
    assert_eq!(hello["last_id"], seen);
    let mut got = Vec::new();
    while got.len() < 3 {
        let event = back.next_named("danmaku", Instant::now() + Duration::from_secs(5)).expect("the missed danmaku");
        got.extend(items(&event).iter().map(|i| (i["id"].as_u64().unwrap(), i["text"].as_str().unwrap().to_owned())));
    }
    let expected: Vec<(u64, String)> = missed.iter().zip(["one", "two", "three"]).map(|(id, t)| (*id, t.to_owned())).collect();
    assert_eq!(got, expected, "in order, no repeats, no gaps");
    let again = post(app, &token, id, "live again");
    let event = back.next_named("danmaku", Instant::now() + Duration::from_secs(5)).unwrap();
    assert_eq!(items(&event).iter().map(|i| i["id"].as_u64().unwrap()).collect::<Vec<_>>(), [again], "nothing replayed twice");

    let mut by_query = Stream::open(app.addr(), &format!("/videos/{id}/danmaku/live?after={}", missed[1]), &[]).unwrap();
    let event = by_query.next_named("danmaku", Instant::now() + Duration::from_secs(5)).unwrap();
    assert_eq!(items(&event).iter().map(|i| i["id"].as_u64().unwrap()).collect::<Vec<_>>(), [missed[2], again], "?after= works alike");
}

#[test]
fn a_flood_of_one_text_arrives_merged_with_the_right_count() {
    let app = app();
    let (id, _) = video(app);
    let (mut viewer, _) = watch(app, id, &[]);
    let posters: Vec<(String, &str)> =
        (0..50).map(|i| (e2e::access_token(&unique("flood")), if i % 2 == 0 { "666" } else { "６６６！" })).collect();
    // Five posters at once, so the 50 copies come well inside a second of each other.
    std::thread::scope(|scope| {
        for group in posters.chunks(10) {
            scope.spawn(move || {
                group.iter().for_each(|(token, text)| {
                    post(app, token, id, text);
                })
            });
        }
    });
    let (mut counts, mut events) = (BTreeMap::new(), 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while counts.values().sum::<u64>() < 50 {
        let event = viewer.next_named("danmaku", deadline).expect("the flood arrives");
        events += 1;
        for item in items(&event) {
            counts.insert(item["id"].as_u64().unwrap(), item["count"].as_u64().unwrap());
        }
    }
    assert_eq!(counts.values().sum::<u64>(), 50, "{counts:?}");
    assert!(counts.len() <= 3, "one group (more only if the machine stalled over a second mid-flood): {counts:?}");
    assert!(events < 50, "{events} events for 50 copies");
}

#[test]
fn a_stream_ends_on_time_and_a_client_that_leaves_frees_its_place() {
    let app = with(&[("danmaku_live_secs", "10")], None);
    let (id, _) = video(&app);
    let started = Instant::now();
    let (mut stream, hello) = watch(&app, id, &[]);
    let ends_in = hello["ends_in_ms"].as_u64().unwrap();
    assert!((7_500..=10_000).contains(&ends_in), "{hello}");
    assert!((1000..=3000).contains(&stream.retry_ms().unwrap()));
    let end = stream.next_named("end", Instant::now() + Duration::from_secs(20)).expect("an end event");
    assert_eq!(end.data, "{}");
    assert!(stream.next_until(Instant::now() + Duration::from_secs(5)).is_none() && stream.ended(), "then the body ends");
    assert!(started.elapsed() < Duration::from_secs(12), "{:?}", started.elapsed());
    assert_eq!(viewers(id), "0", "its place is given back");

    let (leaving, _) = watch(&app, id, &[]);
    assert_eq!(viewers(id), "1");
    drop(leaving);
    // The guest learns at its next write: the heartbeat, at most 10 s away.
    let deadline = Instant::now() + Duration::from_secs(20);
    while viewers(id) != "0" {
        assert!(Instant::now() < deadline, "the place of a client that left was not freed");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn stream_limits_answer_problems_and_bad_positions_are_refused() {
    // Its own Redis: the other tests' streams come from this address too.
    let services = Services::isolated();
    let app = with(&[("live_streams_per_client", "2"), ("live_streams_per_instance", "3")], Some(&services));
    let (id, _) = video(&app);
    // Two streams of other clients on this instance, far from expiring.
    let places = "live:inst:edge";
    services.redis_cli(&["ZADD", places, "99999999999999", "other-1", "99999999999999", "other-2"]);
    let first = watch(&app, id, &[]).0;
    let full = open(&app, id, &[]);
    assert_eq!(full.status, 503, "{}", full.text);
    assert_eq!(full.header("content-type"), Some("application/problem+json"));
    assert!(full.text.contains("live-full"), "{}", full.text);
    assert!(full.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)), "{:?}", full.headers);

    services.redis_cli(&["ZREM", places, "other-1", "other-2"]);
    let second = watch(&app, id, &[]).0;
    let refused = open(&app, id, &[]);
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert!(refused.text.contains("too-many-streams"), "{}", refused.text);
    assert!(refused.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)));
    drop((first, second));

    let bad = open(&app, id, &[("last-event-id", "abc")]);
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("invalid-query"));
    let missing = open(&app, id + 1_000_000, &[]);
    assert_eq!(missing.status, 404, "{}", missing.text);
    assert!(missing.text.contains("no-such-video"));
}
