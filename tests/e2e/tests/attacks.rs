//! The attack suite: each test replays an attack on the built components running on Spin and
//! asserts the defence (README, "Security"). Token forgery, CSRF and traversal attacks on the
//! shared verifier and the page live in auth.rs, uppy.rs and the static-files tests.

use e2e::{json, unique, App, AppOptions, Reply, Services};

const PASSWORD: &str = "correct horse battery";

/// A browser signed in: its access token, refresh and device cookies, and user id.
struct Browser {
    access: String,
    refresh: String,
    device: String,
    user_id: String,
}

fn signed_in(reply: Reply) -> Browser {
    assert!(reply.status == 200 || reply.status == 201, "{} {}", reply.status, reply.text());
    let body = reply.json();
    Browser {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: reply.cookie("refresh_token").expect("refresh cookie"),
        device: reply.cookie("device_id").expect("device cookie"),
        user_id: body["user"]["id"].as_str().unwrap().to_owned(),
    }
}

fn register(app: &App, name: &str) -> Browser {
    signed_in(app.request("POST", "/auth/register").json(&json!({ "username": name, "password": PASSWORD })))
}

fn login(app: &App, name: &str) -> Browser {
    signed_in(app.request("POST", "/auth/login").json(&json!({ "username": name, "password": PASSWORD })))
}

fn refresh(app: &App, refresh: &str, device: &str) -> Reply {
    app.request("POST", "/auth/refresh").header("cookie", &format!("refresh_token={refresh}; device_id={device}")).send(None)
}

fn ban(app: &App, token: &str, user_id: &str) -> Reply {
    app.request("POST", &format!("/auth/users/{user_id}/ban")).header("authorization", &format!("Bearer {token}")).send(None)
}

fn variables(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (format!("SPIN_VARIABLE_{k}"), (*v).to_owned())).collect()
}

/// Privilege by name: an operator listed `root` as an admin name (the old `admin_usernames`,
/// still in their environment), and an attacker registers `root` first. The name grants
/// nothing: only `admin_user_ids` does.
#[test]
fn registering_a_privileged_looking_name_grants_nothing() {
    let app = App::start(AppOptions { env: variables(&[("ADMIN_USERNAMES", "root,admin")]), ..AppOptions::default() });
    let victim = register(&app, &unique("victim"));
    for name in ["root", "admin"] {
        let attacker = register(&app, name);
        let me = app.call(Some(&attacker.access), "GET", "/auth/me", None).json();
        assert_eq!(me["user"]["roles"], json!([]), "{name}: {me}");
        assert_eq!(ban(&app, &attacker.access, &victim.user_id).status, 403, "{name} cannot ban");
    }
}

/// Privilege revoked: an admin named by id keeps the role only while the setting names them;
/// once removed, the next refresh issues an access token without it.
#[test]
fn removing_an_admin_id_takes_the_role_away_at_the_next_refresh() {
    let services = Services::isolated();
    let options =
        |admins: &str| AppOptions { env: variables(&[("ADMIN_USER_IDS", admins)]), services: Some(&services), ..AppOptions::default() };
    let app = App::start(options(""));
    let name = unique("ops");
    let operator = register(&app, &name);
    assert_eq!(ban(&app, &operator.access, &register(&app, &unique("a")).user_id).status, 403, "not an admin yet");

    let app = app.restart(options(&operator.user_id));
    let operator = login(&app, &name);
    let target = register(&app, &unique("b"));
    assert_eq!(ban(&app, &operator.access, &target.user_id).status, 204, "named by id: an admin");

    let app = app.restart(options(""));
    let refreshed = refresh(&app, &operator.refresh, &operator.device);
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let access = refreshed.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.call(Some(&access), "GET", "/auth/verify", None).json()["roles"], json!([]));
    assert_eq!(ban(&app, &access, &register(&app, &unique("c")).user_id).status, 403, "removed: no longer an admin");
}

/// Rate limit on an unverified key: an attacker who knows a session's id sends refresh tokens
/// naming it with a made-up signature. They are refused without spending the session's
/// refresh budget, so the owner still refreshes.
#[test]
fn forged_refresh_tokens_do_not_spend_the_owners_budget() {
    let app = App::start(AppOptions { env: variables(&[("REFRESH_PER_MINUTE", "3")]), ..AppOptions::default() });
    let owner = register(&app, &unique("owner"));
    let sid = owner.refresh.split('.').next().unwrap();
    let forged = format!("{sid}.0.{}", "A".repeat(43));
    for _ in 0..10 {
        let reply = refresh(&app, &forged, &owner.device);
        assert_eq!((reply.status, reply.json()["code"].as_str()), (401, Some("invalid-refresh-token")), "{}", reply.text());
    }
    let genuine = refresh(&app, &owner.refresh, &owner.device);
    assert_eq!(genuine.status, 200, "the owner refreshes: {}", genuine.text());
}

/// Open operational endpoints: the health answer says up or down and nothing else (no hosts,
/// backends or errors) to anyone without the operator token, a user, an administrator or a
/// near guess alike; index sync and status refuse anyone but an administrator.
#[test]
fn operational_endpoints_show_the_public_nothing_but_up_or_down() {
    let app = App::start(AppOptions { env: variables(&[("OPERATOR_TOKEN", "the-operators-secret")]), ..AppOptions::default() });
    let user = e2e::access_token(&unique("nosy"));
    let admin = e2e::admin_token(&unique("ops"));
    for path in ["/auth/health", "/uploads/health", "/feed/health", "/search/health"] {
        for (token, guess) in [(None, None), (Some(user.as_str()), None), (Some(admin.as_str()), Some("the-operators-secreT"))] {
            let mut request = app.request("GET", path);
            if let Some(token) = token {
                request = request.header("authorization", &format!("Bearer {token}"));
            }
            if let Some(guess) = guess {
                request = request.header("x-operator-token", guess);
            }
            let reply = request.send(None);
            let body = reply.json();
            let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(fields, ["component", "status"], "{path}: {body}");
            assert!(!reply.text().contains("127.0.0.1"), "{path} names a host: {body}");
        }
    }
    for (method, path) in [("GET", "/search/status"), ("POST", "/search/sync")] {
        assert_eq!(app.call(None, method, path, None).status, 401, "{method} {path} without a token");
        assert_eq!(app.call(Some(&user), method, path, None).status, 403, "{method} {path} for a user");
        assert_eq!(app.call(Some(&admin), method, path, None).status, 200, "{method} {path} for an administrator");
    }
}

/// Limits behind a load balancer: with one trusted proxy, each client (the address the balancer
/// appended to `X-Forwarded-For`) has a budget of its own, and a client that writes entries of
/// its own further left picks no other budget. With none trusted, the default, the header
/// changes nothing: every request counts against the connection's address.
#[test]
fn per_address_limits_count_the_address_the_trusted_proxy_saw() {
    let services = Services::isolated();
    let limited = |hops: &str| {
        let env = variables(&[("TRUSTED_PROXY_HOPS", hops), ("REGISTER_PER_CLIENT_PER_HOUR", "2")]);
        App::start(AppOptions { env, services: Some(&services), ..AppOptions::default() })
    };
    let sign_up = |app: &App, forwarded: &str| {
        let body = json!({ "username": unique("p"), "password": PASSWORD });
        app.request("POST", "/auth/register").header("x-forwarded-for", forwarded).json(&body).status
    };
    let balanced = limited("1");
    assert_eq!([sign_up(&balanced, "203.0.113.1"), sign_up(&balanced, "203.0.113.1")], [201, 201]);
    assert_eq!(sign_up(&balanced, "203.0.113.2"), 201, "another client behind the balancer has its own budget");
    assert_eq!(sign_up(&balanced, "198.51.100.7, 203.0.113.1"), 429, "a forged entry further left picks no other budget");
    let direct = limited("0");
    let statuses = ["203.0.113.3", "203.0.113.4", "203.0.113.5"].map(|forged| sign_up(&direct, forged));
    assert_eq!(statuses, [201, 201, 429], "no proxy trusted: forged headers share the connection's budget");
}

/// Replays after a Redis loss: a receipt that published once is refused after `FLUSHALL`
/// (its use is recorded in the key-value store, which Redis's loss does not touch), and a
/// receipt older than its lifetime (24 hours) is refused outright.
#[test]
fn a_used_receipt_never_publishes_again_even_after_redis_is_lost() {
    let services = Services::isolated();
    let app = App::start(AppOptions { services: Some(&services), ..AppOptions::default() });
    let owner = unique("owner");
    let token = e2e::access_token(&owner);
    let receipt = e2e::receipt(&owner);
    let publish = |receipt: &str| app.call(Some(&token), "POST", "/videos", Some(json!({ "receipt": receipt, "title": "once" })));
    assert_eq!(publish(&receipt).status, 201);
    services.redis_cli(&["FLUSHALL"]);
    services.seed_incarnation();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let replay = loop {
        let reply = publish(&receipt);
        if reply.status != 503 || std::time::Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!((replay.status, replay.json()["code"].as_str()), (409, Some("receipt-used")), "{}", replay.text());

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let stale = edge_protocol::receipt::Receipt {
        upload_id: unique("stale"),
        key: format!("uploads/{owner}/stale.mp4"),
        size: 1234,
        content_key: None,
        owner: owner.clone(),
        content_type: "video/mp4".into(),
        etag: "\"e\"".into(),
        completed_at: now - edge_protocol::receipt::RECEIPT_LIFETIME_MS - 60_000,
    }
    .sign(e2e::UPLOAD_RECEIPT_KEY.as_bytes());
    let expired = publish(&stale);
    assert_eq!((expired.status, expired.json()["code"].as_str()), (400, Some("receipt-expired")), "{}", expired.text());
}

/// Lock-out as a weapon: an attacker elsewhere sends wrong passwords for someone's account
/// until it is locked for unknown devices. The owner's browser, which signed in before (its
/// `device_id` cookie remembered), still signs in; a browser the account never used, or one
/// with a made-up device id, waits out the window; and a known device that guesses wrong too
/// often is locked on its own.
#[test]
fn failures_elsewhere_never_lock_the_owners_known_device_out() {
    let app = App::start(AppOptions { env: variables(&[("LOGIN_MAX_FAILURES", "3")]), ..AppOptions::default() });
    let name = unique("owner");
    let owner = register(&app, &name);
    let sign_in = |password: &str, device: Option<&str>| {
        let mut request = app.request("POST", "/auth/login");
        if let Some(device) = device {
            request = request.header("cookie", &format!("device_id={device}"));
        }
        request.json(&json!({ "username": name, "password": password })).status
    };
    for _ in 0..3 {
        assert_eq!(sign_in("a guess", None), 401);
    }
    assert_eq!(sign_in(PASSWORD, None), 429, "unknown devices are locked out");
    assert_eq!(sign_in(PASSWORD, Some(&"0".repeat(32))), 429, "a made-up device id is an unknown device");
    assert_eq!(sign_in(PASSWORD, Some(&owner.device)), 200, "the owner's browser signs in");
    for _ in 0..3 {
        assert_eq!(sign_in("a guess", Some(&owner.device)), 401);
    }
    assert_eq!(sign_in(PASSWORD, Some(&owner.device)), 429, "a known device guessing wrong is limited on its own");
}

/// Guessing from unknown devices slows down: each lock-out an attacker sits out is followed by
/// one twice as long (here a 5 s window and 3 failures: the second lock-out waits up to 10 s).
#[test]
fn each_lock_out_of_unknown_devices_lasts_twice_the_one_before() {
    let env = variables(&[("LOGIN_MAX_FAILURES", "3"), ("LOGIN_WINDOW_SECS", "5"), ("LOGIN_MAX_FAILURES_PER_CLIENT", "1000")]);
    let app = App::start(AppOptions { env, ..AppOptions::default() });
    let name = unique("target");
    register(&app, &name);
    let guess = || app.request("POST", "/auth/login").json(&json!({ "username": name, "password": "a guess" }));
    let locked_for = || {
        let mut failed = 0;
        loop {
            let reply = guess();
            if reply.status == 429 {
                assert_eq!(failed, 3, "locked after exactly the budget");
                return reply.header("retry-after").unwrap().parse::<u64>().unwrap();
            }
            assert_eq!(reply.status, 401, "{}", reply.text());
            failed += 1;
        }
    };
    let first = locked_for();
    assert!((1..=5).contains(&first), "the first lock-out is the window: {first} s");
    std::thread::sleep(std::time::Duration::from_secs(first + 1));
    let second = locked_for();
    assert!((6..=10).contains(&second), "the second lock-out is twice the window: {second} s");
}

/// Script through a cover: an SVG (which runs its script when opened from the store's origin)
/// or any picture type but JPEG, PNG and WebP is refused before anything is signed, through the
/// form route and Uppy's alike; a cover key naming another kind of file is refused; and an SVG
/// stored under a PNG key is deleted by the check feed requires before attaching a cover.
#[test]
fn a_cover_can_only_be_a_jpeg_png_or_webp_picture() {
    let app = App::start_default();
    let owner = unique("artist");
    let token = e2e::access_token(&owner);
    for content_type in ["image/svg+xml", "image/gif"] {
        let form = json!({ "filename": "cover.svg", "content_type": content_type, "size": 100 });
        let reply = app.call(Some(&token), "POST", "/uploads/form", Some(form));
        assert_eq!((reply.status, reply.json()["code"].as_str()), (415, Some("picture-type-not-allowed")), "{content_type}");
    }
    let uppy = app
        .request("GET", "/uploads/s3/params?filename=x.svg&type=image/svg%2Bxml")
        .header("authorization", &format!("Bearer {token}"))
        .send(None);
    assert_eq!(uppy.status, 415, "{}", uppy.text());
    let svg_key = format!("covers/{owner}/{}.svgxml", "a".repeat(32));
    let publish = json!({ "receipt": e2e::receipt(&owner), "title": "t", "cover_key": svg_key });
    let reply = app.call(Some(&token), "POST", "/videos", Some(publish));
    assert_eq!((reply.status, reply.json()["code"].as_str()), (400, Some("invalid-cover-key")));

    // An SVG declared image/png passes the form policy (the store checks only the declared
    // type), but it is never attached: feed wants upload-sign's check, which deletes it.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"/>"#;
    let key = form_upload(&app, &token, "image/png", svg);
    let publish = |key: &str| {
        app.call(Some(&token), "POST", "/videos", Some(json!({ "receipt": e2e::receipt(&owner), "title": "t", "cover_key": key })))
    };
    let unchecked = publish(&key);
    assert_eq!((unchecked.status, unchecked.json()["code"].as_str()), (400, Some("cover-not-checked")), "{}", unchecked.text());
    let checked = app.call(Some(&token), "POST", "/uploads/covers", Some(json!({ "key": key })));
    assert_eq!((checked.status, checked.json()["code"].as_str()), (422, Some("unrecognised-content")), "{}", checked.text());
    assert_eq!(checked.json()["detected"], "text");
    assert_eq!(publish(&key).json()["code"], "cover-not-checked", "a refused picture stays unattachable");
    let again = app.call(Some(&token), "POST", "/uploads/covers", Some(json!({ "key": key })));
    assert_eq!((again.status, again.json()["code"].as_str()), (404, Some("no-such-cover")), "it was deleted from the store");

    // Someone else's checked cover cannot be checked or attached by another user.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    let real = form_upload(&app, &token, "image/png", png);
    assert_eq!(app.call(Some(&token), "POST", "/uploads/covers", Some(json!({ "key": real }))).status, 200);
    assert_eq!(publish(&real).status, 201);
    let thief = e2e::access_token(&unique("thief"));
    let theirs = app.call(Some(&thief), "POST", "/uploads/covers", Some(json!({ "key": real })));
    assert_eq!((theirs.status, theirs.json()["code"].as_str()), (404, Some("no-such-cover")));
}

/// Stores `bytes` declared `content_type` through the form route, as a browser would; the key.
fn form_upload(app: &App, token: &str, content_type: &str, bytes: &[u8]) -> String {
    let request = json!({ "filename": "cover.png", "size": bytes.len(), "content_type": content_type });
    let form = app.call(Some(token), "POST", "/uploads/form", Some(request)).json();
    let stored = e2e::post_form(form["url"].as_str().unwrap(), &e2e::form_fields(&form["fields"]), bytes);
    assert!(stored.status < 300, "{} {}", stored.status, stored.text());
    form["key"].as_str().unwrap().to_owned()
}

const MIB: usize = 1024 * 1024;

/// Starts an upload of `size` bytes (declaring `content_key` if given); its id.
fn start_upload(app: &App, token: &str, size: usize, content_key: Option<&str>) -> Reply {
    let mut body = json!({ "filename": "clip.mp4", "size": size, "content_type": "video/mp4" });
    if let Some(key) = content_key {
        body["content_key"] = json!(key);
    }
    app.call(Some(token), "POST", "/uploads", Some(body))
}

/// Signs every part of upload `id` with these digests, PUTs `bytes` part by part, completes;
/// the completion's answer (or the first refused PUT's).
fn send_parts(app: &App, token: &str, id: &str, bytes: &[u8], checksums: &e2e::Value) -> Reply {
    let numbers: Vec<usize> = (1..=bytes.len().div_ceil(5 * MIB)).collect();
    let signed =
        app.call(Some(token), "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": numbers, "checksums": checksums })));
    assert_eq!(signed.status, 200, "{}", signed.text());
    let mut parts = Vec::new();
    for (part, chunk) in signed.json()["parts"].as_array().unwrap().iter().zip(bytes.chunks(5 * MIB)) {
        let mut put = e2e::http("PUT", part["url"].as_str().unwrap());
        for (name, value) in part["headers"].as_object().unwrap() {
            put = put.header(name, value.as_str().unwrap());
        }
        let reply = put.send(Some(chunk));
        if reply.status != 200 {
            return reply;
        }
        parts.push(json!({ "part_number": part["part_number"], "etag": reply.header("etag").unwrap() }));
    }
    app.call(Some(token), "POST", &format!("/uploads/{id}/complete"), Some(json!({ "parts": parts })))
}

/// Asks for and answers an instant-upload challenge for `bytes` under `content_key`.
fn instant(app: &App, token: &str, bytes: &[u8], content_key: &str) -> Reply {
    let ask = json!({ "filename": "copy.mp4", "size": bytes.len(), "content_type": "video/mp4", "content_key": content_key });
    let challenge = app.call(Some(token), "POST", "/uploads/instant", Some(ask)).json();
    let answer = edge_protocol::instant::answer(challenge["nonce"].as_str().unwrap(), &e2e::challenged_bytes(bytes, &challenge));
    let id = challenge["challenge_id"].as_str().unwrap();
    app.call(Some(token), "POST", &format!("/uploads/instant/{id}"), Some(json!({ "answer": answer })))
}

fn receipt_key(reply: &Reply) -> Option<String> {
    let receipt = reply.json()["receipt"].as_str().unwrap().to_owned();
    edge_protocol::receipt::Receipt::verify(&receipt, e2e::UPLOAD_RECEIPT_KEY.as_bytes()).unwrap().content_key
}

/// Instant upload poisoning: Mallory declares the content key of a video she does not have
/// (the owner's), then sends other bytes. With the owner's part digests the store refuses her
/// bytes; with her own, her upload completes under her own bytes' key and the index never maps
/// the owner's key to her object. The owner's upload is then indexed, Mallory's later upload of
/// the same key cannot replace it, and a third user's instant upload gets the owner's bytes.
#[test]
fn instant_upload_cannot_be_poisoned_by_a_declared_key() {
    let app = App::start_default();
    let genuine = e2e::seeded_bytes(unique("genuine").len() as u64 * 7919 + 3, 5 * MIB + 70_000);
    let (owners_key, owners_sums) = e2e::content_key(&genuine);
    let mut forged = genuine.clone();
    forged[5 * MIB + 100] ^= 0xff;
    let (forged_key, forged_sums) = e2e::content_key(&forged);
    let mallory = e2e::access_token(&unique("mallory"));

    let upload = start_upload(&app, &mallory, forged.len(), Some(&owners_key)).json();
    let refused = send_parts(&app, &mallory, upload["id"].as_str().unwrap(), &forged, &json!(owners_sums));
    assert_eq!(refused.status, 400, "the store checks each part's digest: {}", refused.text());
    let upload = start_upload(&app, &mallory, forged.len(), Some(&owners_key)).json();
    let done = send_parts(&app, &mallory, upload["id"].as_str().unwrap(), &forged, &json!(forged_sums));
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(receipt_key(&done), Some(forged_key), "the receipt states what the store hashed, not the declaration");

    let owner = e2e::access_token(&unique("owner"));
    let nothing = instant(&app, &owner, &genuine, &owners_key);
    assert_eq!((nothing.status, nothing.json()["code"].as_str()), (403, Some("challenge-failed")), "no entry was made for the owner's key");
    let upload = start_upload(&app, &owner, genuine.len(), Some(&owners_key)).json();
    let owners = send_parts(&app, &owner, upload["id"].as_str().unwrap(), &genuine, &json!(owners_sums));
    assert_eq!(owners.status, 200, "{}", owners.text());
    let owners_object = owners.json()["upload"]["key"].as_str().unwrap().to_owned();
    let upload = start_upload(&app, &mallory, genuine.len(), Some(&owners_key)).json();
    assert_eq!(send_parts(&app, &mallory, upload["id"].as_str().unwrap(), &genuine, &json!(owners_sums)).status, 200);

    let copy = instant(&app, &e2e::access_token(&unique("viewer")), &genuine, &owners_key);
    assert_eq!(copy.status, 200, "{}", copy.text());
    assert_eq!(copy.json()["upload"]["key"].as_str(), Some(owners_object.as_str()), "the first, genuine object stays indexed");
    assert_eq!(receipt_key(&copy), Some(owners_key));
}

/// Storage without quota: a part URL is signed for its part's exact length, so a body of any
/// other size is refused by the store; an upload must declare its size, which is reserved
/// from the daily quota at once (uploads in progress included) and given back on abort.
#[test]
fn storage_is_paid_for_before_it_is_used() {
    let app = App::start(AppOptions { env: variables(&[("MAX_UPLOAD_BYTES_PER_DAY", &(12 * MIB).to_string())]), ..AppOptions::default() });
    let token = e2e::access_token(&unique("hoarder"));
    let unsized_ = app.call(Some(&token), "POST", "/uploads", Some(json!({ "filename": "a.mp4", "content_type": "video/mp4" })));
    assert_eq!((unsized_.status, unsized_.json()["code"].as_str()), (400, Some("size-required")));
    let uppy =
        app.call(Some(&token), "POST", "/uploads/s3/multipart", Some(json!({ "filename": "a.mp4", "type": "video/mp4", "metadata": {} })));
    assert_eq!((uppy.status, uppy.json()["code"].as_str()), (400, Some("size-required")));

    let small = start_upload(&app, &token, 6 * MIB, None).json();
    let id = small["id"].as_str().unwrap();
    let signed = app.call(Some(&token), "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": [1, 2] }))).json();
    for (part, len) in signed["parts"].as_array().unwrap().iter().zip([5 * MIB, MIB]) {
        assert_eq!(part["size"], len);
        for body in [vec![1u8; len + 1], vec![1u8; 2 * len], vec![1u8; len - 1]] {
            let put = e2e::http("PUT", part["url"].as_str().unwrap()).try_send(Some(&body));
            assert!(put.is_err() || put.as_ref().is_ok_and(|r| r.status == 403), "{} bytes: {:?}", body.len(), put.map(|r| r.status));
        }
        assert_eq!(e2e::http("PUT", part["url"].as_str().unwrap()).send(Some(&vec![1u8; len])).status, 200);
    }

    let over = start_upload(&app, &token, 6 * MIB + 1, None);
    assert_eq!((over.status, over.json()["code"].as_str()), (429, Some("daily-upload-limit")), "the upload in progress counts");
    assert_eq!(app.call(Some(&token), "DELETE", &format!("/uploads/{id}"), None).status, 204);
    assert_eq!(start_upload(&app, &token, 6 * MIB + 1, None).status, 201, "an abort gives its reservation back");
}
