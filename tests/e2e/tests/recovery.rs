//! feed after Redis lost everything (`FLUSHALL`, as a new empty instance or a failover to an
//! empty replica would): it notices by itself, rebuilds videos, timelines and its id issuer from
//! the key-value store while reads answer correctly or `503 feed-rebuilding`, announces every
//! video again so search and feed agree, and what cannot be recovered reads as nothing, never
//! as a 500. Each test has its own Redis, which it flushes.

use std::time::{Duration, Instant};

use e2e::{json, receipt, unique, App, AppOptions, Reply, Services, Value};

fn start(services: &Services) -> App {
    App::start(AppOptions { services: Some(services), ..Default::default() })
}

/// Whether `reply` is the 503 of a rebuild under way, as a client sees it.
fn rebuilding(reply: &Reply) -> bool {
    reply.status == 503 && reply.json()["code"] == "feed-rebuilding" && reply.header("retry-after") == Some("1")
}

/// The answer once feed has rebuilt: `503 feed-rebuilding` is retried for up to 30 s, as a
/// client honouring `Retry-After` would; any other 5xx fails.
fn settled(host: &App, token: Option<&str>, method: &str, path: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = host.call(token, method, path, None);
        if !rebuilding(&reply) {
            assert!(reply.status < 500, "{method} {path}: {} {}", reply.status, reply.text());
            return reply;
        }
        assert!(Instant::now() < deadline, "{method} {path} still rebuilding after 30 s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn publish(host: &App, owner: &str, title: &str) -> u64 {
    let token = e2e::access_token(owner);
    let reply = host.call(Some(&token), "POST", "/videos", Some(json!({ "receipt": receipt(owner), "title": title })));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["id"].as_u64().unwrap()
}

fn ids(page: &Value) -> Vec<u64> {
    page["items"].as_array().unwrap().iter().map(|v| v["id"].as_u64().unwrap()).collect()
}

fn sync(host: &App) {
    let reply = host.call(Some(&e2e::admin_token(&unique("admin"))), "POST", "/search/sync", None);
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// `(version, op)` of every change to video `id` in the stream, oldest first.
fn changes_of(services: &Services, id: u64) -> Vec<(String, String)> {
    let raw = services.redis_cli(&["XRANGE", "feed:changes", "-", "+"]);
    let lines: Vec<&str> = raw.lines().collect();
    let id = id.to_string();
    (0..lines.len())
        .filter(|&i| lines[i] == "id" && lines.get(i + 1) == Some(&id.as_str()))
        .map(|i| (lines[i + 3].to_owned(), lines[i + 5].to_owned()))
        .collect()
}

#[test]
fn feed_rebuilds_from_the_key_value_store_and_search_agrees_again() {
    let services = Services::isolated();
    let host = start(&services);
    let word = unique("otter");
    let (alice, bob) = (unique("alice"), unique("bob"));
    let a1 = publish(&host, &alice, &format!("{word} one"));
    let a2 = publish(&host, &alice, &format!("{word} two"));
    let b1 = publish(&host, &bob, &format!("{word} three"));
    let edited = host.call(
        Some(&e2e::access_token(&alice)),
        "PATCH",
        &format!("/videos/{a1}"),
        Some(json!({ "version": 1, "title": format!("{word} one, edited") })),
    );
    assert_eq!(edited.status, 200, "{}", edited.text());
    let gone = publish(&host, &alice, &format!("{word} gone"));
    sync(&host);
    assert_eq!(host.call(Some(&e2e::access_token(&alice)), "DELETE", &format!("/videos/{gone}"), None).status, 204);
    sync(&host);
    // Published after the last sync: its change is lost with Redis, so only the rebuild's
    // announcement brings it to search.
    let b2 = publish(&host, &bob, &format!("{word} four"));
    // State that lives only in Redis.
    let bob_token = e2e::access_token(&bob);
    assert_eq!(host.call(Some(&bob_token), "PUT", &format!("/videos/{a1}/like"), None).json()["likes"], 1);
    assert_eq!(host.call(Some(&bob_token), "POST", &format!("/videos/{a1}/plays"), None).json()["counted"], true);
    let danmaku = host.call(Some(&bob_token), "POST", &format!("/videos/{a1}/danmaku"), Some(json!({ "time_ms": 1000, "text": "first" })));
    assert_eq!(danmaku.status, 201, "{}", danmaku.text());
    let latest = host.call(None, "GET", "/feed/latest?limit=100", None).json();
    assert_eq!(ids(&latest), [b2, b1, a2, a1]);

    services.redis_cli(&["FLUSHALL"]);
    services.seed_incarnation();

    // Readers arriving together: each gets the whole timeline or a clear 503, never a partial
    // or empty one.
    let first: Vec<Reply> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..6).map(|_| scope.spawn(|| host.call(None, "GET", "/feed/latest?limit=100", None))).collect();
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for reply in &first {
        assert!(reply.status == 200 || rebuilding(reply), "{} {}", reply.status, reply.text());
        if reply.status == 200 {
            assert_eq!(reply.json()["items"], latest["items"], "a rebuilt timeline is the whole timeline");
        }
    }
    assert_eq!(settled(&host, None, "GET", "/feed/latest?limit=100").json()["items"], latest["items"]);
    assert_eq!(ids(&settled(&host, None, "GET", &format!("/users/{alice}/videos")).json()), [a2, a1]);
    assert_eq!(ids(&settled(&host, None, "GET", &format!("/users/{bob}/videos")).json()), [b2, b1]);
    let video = settled(&host, Some(&bob_token), "GET", &format!("/videos/{a1}")).json();
    assert_eq!((video["title"].as_str(), video["version"].as_u64()), (Some(format!("{word} one, edited").as_str()), Some(2)));
    assert_eq!(
        (video["likes"].as_u64(), video["plays"].as_u64(), video["liked"].as_bool()),
        (Some(0), Some(0), Some(false)),
        "likes and plays are lost"
    );
    let deleted = settled(&host, None, "GET", &format!("/videos/{gone}"));
    assert_eq!((deleted.status, deleted.json()["code"].as_str()), (404, Some("no-such-video")), "a deleted video stays deleted");
    assert_eq!(settled(&host, None, "GET", &format!("/videos/{a1}/danmaku?segment=0")).json()["items"], json!([]));
    assert_eq!(settled(&host, Some(&bob_token), "GET", "/feed/following").json()["items"], json!([]));
    assert_eq!(settled(&host, None, "GET", "/feed/rankings").status, 200);
    assert_eq!(settled(&host, Some(&bob_token), "PUT", &format!("/videos/{a1}/like")).json()["likes"], 1);

    // Every restored video is announced once more, at its version; the deleted one is not.
    for (id, version) in [(a1, "2"), (a2, "1"), (b1, "1"), (b2, "1")] {
        assert_eq!(changes_of(&services, id), [(version.to_owned(), "upsert".to_owned())], "video {id}");
    }
    assert!(changes_of(&services, gone).is_empty());

    let fresh = publish(&host, &alice, &format!("{word} five"));
    assert!(fresh > b2, "new ids stay above the old ones");
    let listed = ids(&settled(&host, None, "GET", "/feed/latest?limit=100").json());
    assert_eq!(listed, [fresh, b2, b1, a2, a1]);

    sync(&host);
    let found = host.call(None, "GET", &format!("/search?q={word}&type=video&limit=50"), None);
    assert_eq!(found.status, 200, "{}", found.text());
    let mut found: Vec<u64> =
        found.json()["items"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().parse().unwrap()).collect();
    found.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(found, listed, "search finds exactly the videos feed lists");
}

#[test]
fn a_rebuild_that_died_is_taken_over_and_restores_each_video_once() {
    let services = Services::isolated();
    let host = start(&services);
    let author = unique("carol");
    let mut videos: Vec<u64> = (0..3).map(|i| publish(&host, &author, &format!("clip {i}"))).collect();
    videos.reverse();
    // Enough for several restore batches.
    let bulk = unique("bulk");
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for i in 0..55 {
                    publish(&host, &bulk, &format!("bulk {i}"));
                }
            });
        }
    });
    let count = |key: &str, command: &str| services.redis_cli(&[command, key]).trim().parse::<u64>().unwrap();
    services.redis_cli(&["FLUSHALL"]);
    services.seed_incarnation();

    // A request that started the rebuild and died still holds its lease: others answer 503
    // until it expires, then one of them takes over.
    services.redis_cli(&["SET", "feed:rebuild:lock", "dead", "PX", "6000"]);
    let waited = host.call(None, "GET", "/feed/latest", None);
    assert!(rebuilding(&waited), "{} {}", waited.status, waited.text());
    assert_eq!(ids(&settled(&host, None, "GET", &format!("/users/{author}/videos")).json()), videos);
    assert_eq!((count("feed:latest", "ZCARD"), count(&format!("feed:author:{bulk}"), "ZCARD")), (223, 220));
    assert_eq!(count("feed:changes", "XLEN"), 223, "each video announced once");

    // Dying after restoring everything but before marking it done: the next request (an edit
    // here) rebuilds again, which restores nothing twice and announces nothing twice.
    services.redis_cli(&["DEL", "feed:built", "feed:id:last"]);
    let edit = json!({ "version": 1, "title": "clip, edited" });
    let edited = host.call(Some(&e2e::access_token(&author)), "PATCH", &format!("/videos/{}", videos[0]), Some(edit));
    assert_eq!((edited.status, edited.json()["version"].as_u64()), (200, Some(2)), "{}", edited.text());
    assert_eq!(ids(&settled(&host, None, "GET", &format!("/users/{author}/videos")).json()), videos);
    let upsert = |version: &str| (version.to_owned(), "upsert".to_owned());
    assert_eq!(changes_of(&services, videos[0]), [upsert("1"), upsert("2")]);
    for &id in &videos[1..] {
        assert_eq!(changes_of(&services, id), [upsert("1")], "video {id}");
    }
    assert_eq!((count("feed:latest", "ZCARD"), count("feed:changes", "XLEN")), (223, 224));
    assert!(publish(&host, &author, "later") > videos[0], "the id issuer is restored too");
}

#[test]
fn comments_come_back_with_their_threads_and_counts_and_the_deleted_stay_deleted() {
    let services = Services::isolated();
    let host = start(&services);
    let owner = unique("owner");
    let owner_token = e2e::access_token(&owner);
    let (video, gone) = (publish(&host, &owner, "talked about"), publish(&host, &owner, "deleted"));
    let (ann, bob) = (e2e::access_token(&unique("ann")), e2e::access_token(&unique("bob")));
    let comment = |token: &str, video: u64, text: &str, parent: Option<u64>| {
        let body = json!({ "text": text, "parent_id": parent });
        let reply = host.call(Some(token), "POST", &format!("/videos/{video}/comments"), Some(body));
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["id"].as_u64().unwrap()
    };
    let first = comment(&ann, video, "first", None);
    let replies = [comment(&bob, video, "one", Some(first)), comment(&ann, video, "two", Some(first))];
    let nested = comment(&bob, video, "three", Some(replies[1]));
    let second = comment(&bob, video, "second", None);
    let dropped = comment(&ann, video, "dropped", None);
    assert_eq!(host.call(Some(&ann), "DELETE", &format!("/videos/{video}/comments/{dropped}"), None).status, 204);
    let orphan = comment(&ann, gone, "on a video about to go", None);
    assert_eq!(host.call(Some(&owner_token), "DELETE", &format!("/videos/{gone}"), None).status, 204);
    // Eight likes (log10 9) lift the second above the first's three replies (log10 7).
    for _ in 0..8 {
        let liker = e2e::access_token(&unique("fan"));
        assert_eq!(host.call(Some(&liker), "PUT", &format!("/videos/{video}/comments/{second}/like"), None).status, 200);
    }
    let list = format!("/videos/{video}/comments?sort=new");
    let thread = format!("/videos/{video}/comments/{first}/replies");
    let before = host.call(None, "GET", &list, None).json();
    assert_eq!((ids(&before), before["total"].as_u64()), (vec![second, first], Some(5)));
    assert_eq!(ids(&host.call(None, "GET", &format!("/videos/{video}/comments?sort=hot"), None).json()), [second, first]);
    let before_thread = host.call(None, "GET", &thread, None).json();
    assert_eq!(ids(&before_thread), [replies[0], replies[1], nested]);

    services.redis_cli(&["FLUSHALL"]);
    services.seed_incarnation();

    let after = settled(&host, None, "GET", &list).json();
    assert_eq!((ids(&after), after["total"].as_u64()), (vec![second, first], Some(5)));
    for (was, is) in before["items"].as_array().unwrap().iter().zip(after["items"].as_array().unwrap()) {
        for field in ["text", "author", "root", "reply_to", "created_at", "reply_count", "replies"] {
            assert_eq!(was[field], is[field], "{field} of comment {}", was["id"]);
        }
    }
    assert_eq!(after["items"][0]["likes"].as_u64(), Some(0), "comment likes live in Redis only, like video likes");
    assert_eq!(
        ids(&settled(&host, None, "GET", &format!("/videos/{video}/comments?sort=hot")).json()),
        [first, second],
        "hot scores come back from the replies; the lost likes no longer lift the second"
    );
    assert_eq!(settled(&host, None, "GET", &thread).json()["items"], before_thread["items"], "each thread in its order");
    assert_eq!(settled(&host, None, "GET", &format!("/videos/{video}")).json()["comments"].as_u64(), Some(5));
    let deleted = settled(&host, None, "GET", &format!("/videos/{video}/comments/{dropped}/replies"));
    assert_eq!((deleted.status, deleted.json()["code"].as_str()), (404, Some("no-such-comment")), "a deleted comment stays deleted");
    assert_eq!(services.redis_cli(&["EXISTS", &format!("cm:rec:{orphan}")]).trim(), "0", "a deleted video's comments are not restored");

    let later = comment(&bob, video, "after the loss", Some(nested));
    assert!(later > orphan, "new ids stay above the old ones");
    let page = settled(&host, None, "GET", &list).json();
    assert_eq!((page["total"].as_u64(), page["items"][1]["reply_count"].as_u64()), (Some(6), Some(4)));
}
