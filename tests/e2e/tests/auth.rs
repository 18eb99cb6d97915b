//! auth end to end: the release component on Spin with real Redis and the key-value
//! store. Flows, rotation, reuse detection, grace, lockout, origin checks, device binding,
//! revocation, and the attack suite on the shared verifier.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use e2e::{json, unique, App, AppOptions, Reply, Value};
use jwt_simple::prelude::*;

const PASSWORD: &str = "correct horse battery";

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        App::start(AppOptions {
            env: vec![
                ("SPIN_VARIABLE_LOGIN_MAX_FAILURES".into(), "3".into()),
                ("SPIN_VARIABLE_LOGIN_MAX_FAILURES_PER_CLIENT".into(), "1000".into()),
                ("SPIN_VARIABLE_CORS_ORIGINS".into(), "https://app.example".into()),
            ],
            ..AppOptions::default()
        })
    })
}

/// One signed-in browser: its access token and cookies.
#[derive(Clone, Debug)]
struct Client {
    access: String,
    refresh: String,
    device: String,
    session: String,
    user_id: String,
}

fn client_from(reply: &Reply, device: Option<&str>) -> Client {
    let body = reply.json();
    Client {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: reply.cookie("refresh_token").expect("refresh cookie"),
        device: reply.cookie("device_id").or(device.map(str::to_owned)).expect("device cookie"),
        session: body["session_id"].as_str().unwrap().to_owned(),
        user_id: body["user"]["id"].as_str().unwrap().to_owned(),
    }
}

fn register(name: &str) -> Client {
    let reply = app().request("POST", "/auth/register").json(&json!({ "username": name, "password": PASSWORD }));
    assert_eq!(reply.status, 201, "{}", reply.text());
    client_from(&reply, None)
}

fn login(name: &str, password: &str, device: Option<&str>) -> Reply {
    let mut req = app().request("POST", "/auth/login");
    if let Some(device) = device {
        req = req.header("cookie", &format!("device_id={device}"));
    }
    req.json(&json!({ "username": name, "password": password }))
}

fn refresh_with(refresh: &str, device: &str) -> Reply {
    app().request("POST", "/auth/refresh").header("cookie", &format!("refresh_token={refresh}; device_id={device}")).send(None)
}

fn refresh(client: &Client) -> Reply {
    refresh_with(&client.refresh, &client.device)
}

fn me(access: &str) -> Reply {
    app().request("GET", "/auth/me").header("authorization", &format!("Bearer {access}")).send(None)
}

fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{}", reply.text());
    assert_eq!(reply.json()["code"], code, "{}", reply.text());
}

#[test]
fn register_login_me_and_sessions() {
    let name = unique("ann");
    let first = register(&name.to_uppercase());
    let me_reply = me(&first.access);
    assert_eq!(me_reply.status, 200, "{}", me_reply.text());
    assert_eq!(me_reply.json()["user"]["username"], name, "usernames are case-insensitive");
    let second = client_from(&login(&name, PASSWORD, None), None);
    assert_ne!(first.session, second.session);
    let sessions = app().request("GET", "/auth/sessions").header("authorization", &format!("Bearer {}", second.access)).send(None);
    let list = sessions.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let reply = login(&name, PASSWORD, None);
    for part in ["Path=/auth/refresh", "HttpOnly", "Secure", "SameSite=Strict"] {
        let cookie = reply.headers.iter().find(|(k, v)| k == "set-cookie" && v.starts_with("refresh_token=")).unwrap();
        assert!(cookie.1.contains(part), "{}", cookie.1);
    }
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[test]
fn registration_input_is_validated() {
    let name = unique("bob");
    register(&name);
    let dup = app().request("POST", "/auth/register").json(&json!({ "username": name.to_uppercase(), "password": PASSWORD }));
    assert_problem(&dup, 409, "username-taken");
    let bad = app().request("POST", "/auth/register").json(&json!({ "username": "a b", "password": PASSWORD }));
    assert_problem(&bad, 400, "invalid-username");
    let weak = app().request("POST", "/auth/register").json(&json!({ "username": unique("c"), "password": "short" }));
    assert_problem(&weak, 400, "weak-password");
    let extra = app().request("POST", "/auth/register").json(&json!({ "username": unique("d"), "password": PASSWORD, "admin": true }));
    assert_problem(&extra, 400, "invalid-body");
    let text = app().request("POST", "/auth/register").header("content-type", "text/plain").send(Some(b"hi"));
    assert_problem(&text, 415, "unsupported-media-type");
    let huge = app().request("POST", "/auth/register").header("content-type", "application/json").send(Some(&vec![b' '; 20_000]));
    assert_problem(&huge, 413, "body-too-large");
    let broken = app().request("POST", "/auth/register").header("content-type", "application/json").send(Some(b"{\"username\":"));
    assert_problem(&broken, 400, "malformed-json");
}

#[test]
fn unknown_users_and_wrong_passwords_look_the_same() {
    let name = unique("eve");
    register(&name);
    let wrong = login(&name, "not the password", None);
    let unknown = login(&unique("nobody"), "not the password", None);
    assert_problem(&wrong, 401, "invalid-credentials");
    assert_problem(&unknown, 401, "invalid-credentials");
    assert_eq!(wrong.json()["detail"], unknown.json()["detail"]);
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_family() {
    let name = unique("rot");
    let c0 = register(&name);
    let r1 = refresh(&c0);
    assert_eq!(r1.status, 200, "{}", r1.text());
    let c1 =
        Client { access: r1.json()["access_token"].as_str().unwrap().into(), refresh: r1.cookie("refresh_token").unwrap(), ..c0.clone() };
    assert_ne!(c1.refresh, c0.refresh, "rotated");
    assert_eq!(me(&c1.access).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let r2 = refresh(&c1);
    assert_eq!(r2.status, 200, "{}", r2.text());
    let c2 =
        Client { access: r2.json()["access_token"].as_str().unwrap().into(), refresh: r2.cookie("refresh_token").unwrap(), ..c0.clone() };
    // c0's token is two generations old: reuse, even inside the grace window.
    assert_problem(&refresh(&c0), 401, "refresh-token-reused");
    assert_problem(&refresh(&c2), 401, "session-revoked");
    assert_problem(&me(&c2.access), 401, "session-revoked");
    assert!(app().log().contains(&format!("security: refresh token reuse for session {}", c0.session)), "theft is logged");
}

#[test]
fn concurrent_refreshes_share_one_successor() {
    let c0 = register(&unique("tabs"));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let c = c0.clone();
            std::thread::spawn(move || refresh(&c))
        })
        .collect();
    let replies: Vec<Reply> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let successors: Vec<String> = replies.iter().map(|r| r.cookie("refresh_token").unwrap()).collect();
    assert_eq!(successors[0], successors[1], "both tabs continue with the same token");
    let next = Client { refresh: successors[0].clone(), ..c0.clone() };
    assert_eq!(refresh(&next).status, 200, "the shared successor keeps working");
}

#[test]
fn refresh_is_bound_to_the_device_and_refuses_cross_site_requests() {
    let c = register(&unique("dev"));
    assert_problem(&refresh_with(&c.refresh, "0123456789abcdef0123456789abcdef"), 401, "device-mismatch");
    let evil = app()
        .request("POST", "/auth/refresh")
        .header("origin", "https://evil.example")
        .header("cookie", &format!("refresh_token={}; device_id={}", c.refresh, c.device))
        .send(None);
    assert_problem(&evil, 403, "cross-site-request");
    let cross = app()
        .request("POST", "/auth/refresh")
        .header("sec-fetch-site", "cross-site")
        .header("cookie", &format!("refresh_token={}; device_id={}", c.refresh, c.device))
        .send(None);
    assert_problem(&cross, 403, "cross-site-request");
    let listed = app()
        .request("POST", "/auth/refresh")
        .header("origin", "https://app.example")
        .header("cookie", &format!("refresh_token={}; device_id={}", c.refresh, c.device))
        .send(None);
    assert_eq!(listed.status, 200, "the configured app origin may refresh: {}", listed.text());
    assert_problem(&app().request("POST", "/auth/refresh").send(None), 401, "missing-refresh-token");
    assert_problem(&refresh_with("garbage", &c.device), 401, "invalid-refresh-token");
    let forged = format!("{}.5.{}", c.session, URL_SAFE_NO_PAD.encode([7u8; 32]));
    assert_problem(&refresh_with(&forged, &c.device), 401, "invalid-refresh-token");
    assert_eq!(me(&c.access).status, 200, "a forged token does not sign anyone out");
}

#[test]
fn logout_and_logout_all_revoke() {
    let name = unique("out");
    let a = register(&name);
    let b = client_from(&login(&name, PASSWORD, None), None);
    let c = client_from(&login(&name, PASSWORD, None), None);
    let out = app().request("POST", "/auth/logout").header("authorization", &format!("Bearer {}", a.access)).send(None);
    assert_eq!(out.status, 204);
    assert!(out.headers.iter().any(|(k, v)| k == "set-cookie" && v.starts_with("refresh_token=;") && v.contains("Max-Age=0")));
    assert_problem(&me(&a.access), 401, "session-revoked");
    assert_problem(&refresh(&a), 401, "session-revoked");
    assert_eq!(me(&b.access).status, 200, "other devices stay signed in");
    let all = app().request("POST", "/auth/logout-all").header("authorization", &format!("Bearer {}", b.access)).send(None);
    assert_eq!(all.status, 204);
    assert_problem(&me(&b.access), 401, "session-revoked");
    assert_problem(&me(&c.access), 401, "session-revoked");
    assert_problem(&refresh(&c), 401, "session-revoked");
    assert_eq!(login(&name, PASSWORD, None).status, 200, "signing in again works");
}

#[test]
fn revoking_one_device() {
    let name = unique("one");
    let phone = register(&name);
    let laptop = client_from(&login(&name, PASSWORD, None), None);
    let path = format!("/auth/sessions/{}", phone.session);
    let gone = app().request("DELETE", &path).header("authorization", &format!("Bearer {}", laptop.access)).send(None);
    assert_eq!(gone.status, 204, "{}", gone.text());
    assert_problem(&me(&phone.access), 401, "session-revoked");
    assert_eq!(me(&laptop.access).status, 200);
    let again = app().request("DELETE", &path).header("authorization", &format!("Bearer {}", laptop.access)).send(None);
    assert_problem(&again, 404, "no-such-session");
    let stranger = register(&unique("str"));
    let theirs = app()
        .request("DELETE", &format!("/auth/sessions/{}", laptop.session))
        .header("authorization", &format!("Bearer {}", stranger.access))
        .send(None);
    assert_problem(&theirs, 404, "no-such-session");
    assert_eq!(me(&laptop.access).status, 200, "nobody else can revoke my session");
}

#[test]
fn password_change_signs_out_other_devices() {
    let name = unique("pwd");
    let here = register(&name);
    let there = client_from(&login(&name, PASSWORD, None), None);
    let change = |current: &str| {
        app()
            .request("POST", "/auth/password")
            .header("authorization", &format!("Bearer {}", here.access))
            .json(&json!({ "current_password": current, "new_password": "a brand new secret" }))
    };
    assert_problem(&change("wrong"), 400, "wrong-password");
    let changed = change(PASSWORD);
    assert_eq!(changed.status, 200, "{}", changed.text());
    let fresh = changed.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(&fresh).status, 200, "this device continues");
    assert_problem(&me(&here.access), 401, "token-revoked");
    assert_problem(&me(&there.access), 401, "session-revoked");
    assert_problem(&refresh(&there), 401, "session-revoked");
    assert_eq!(refresh(&here).status, 200, "this device's session survives");
    assert_problem(&login(&name, PASSWORD, None), 401, "invalid-credentials");
    assert_eq!(login(&name, "a brand new secret", None).status, 200);
}

#[test]
fn lockout_after_repeated_failures_with_retry_after() {
    let name = unique("lock");
    register(&name);
    for _ in 0..3 {
        assert_problem(&login(&name, "wrong password", None), 401, "invalid-credentials");
    }
    let locked = login(&name, PASSWORD, None);
    assert_problem(&locked, 429, "too-many-attempts");
    let retry: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let other = unique("free");
    register(&other);
    assert_eq!(login(&other, PASSWORD, None).status, 200, "other accounts are not locked");
}

#[test]
fn success_resets_the_account_counter() {
    let name = unique("reset");
    register(&name);
    for _ in 0..2 {
        login(&name, "wrong password", None);
    }
    assert_eq!(login(&name, PASSWORD, None).status, 200);
    for _ in 0..2 {
        assert_problem(&login(&name, "wrong password", None), 401, "invalid-credentials");
    }
    assert_eq!(login(&name, PASSWORD, None).status, 200, "the streak restarted after the success");
}

#[test]
fn lockout_per_client_address() {
    // Its own Redis: every test signs in from 127.0.0.1, so a shared window would mix them.
    let services = e2e::Services::isolated();
    let app = App::start(AppOptions {
        services: Some(&services),
        env: vec![
            ("SPIN_VARIABLE_LOGIN_MAX_FAILURES".into(), "100".into()),
            ("SPIN_VARIABLE_LOGIN_MAX_FAILURES_PER_CLIENT".into(), "4".into()),
        ],
        ..AppOptions::default()
    });
    let attempt = |name: &str, password: &str| app.request("POST", "/auth/login").json(&json!({ "username": name, "password": password }));
    let name = unique("cli");
    assert_eq!(app.request("POST", "/auth/register").json(&json!({ "username": name, "password": PASSWORD })).status, 201);
    for i in 0..4 {
        assert_eq!(attempt(&unique(&format!("guess{i}")), "x-x-x-x-x").status, 401);
    }
    let blocked = attempt(&name, PASSWORD);
    assert_problem(&blocked, 429, "too-many-attempts");
    assert!(blocked.header("retry-after").is_some());
}

/// A Redis that lost its data (a new instance, `FLUSHALL`, failover to an empty replica) lost
/// every revocation with it, so every token issued before is refused (`session-lost`: the SDK
/// then fails to refresh and shows sign-in), revoked ones included; accounts live in the
/// key-value store, so signing in again works and starts a new incarnation.
#[test]
fn a_session_store_that_lost_its_data_refuses_every_earlier_token() {
    let services = e2e::Services::isolated();
    let app = App::start(AppOptions { services: Some(&services), ..AppOptions::default() });
    let sign_up = |name: &str| {
        let reply = app.request("POST", "/auth/register").json(&json!({ "username": name, "password": PASSWORD }));
        assert_eq!(reply.status, 201, "{}", reply.text());
        client_from(&reply, None)
    };
    let me = |access: &str| app.request("GET", "/auth/me").header("authorization", &format!("Bearer {access}")).send(None);
    let (alice_name, bob_name) = (unique("alice"), unique("bob"));
    let (alice, bob) = (sign_up(&alice_name), sign_up(&bob_name));
    assert_eq!(me(&alice.access).status, 200);
    let logout_all = app.request("POST", "/auth/logout-all").header("authorization", &format!("Bearer {}", bob.access)).send(None);
    assert_eq!(logout_all.status, 204, "{}", logout_all.text());
    assert_problem(&me(&bob.access), 401, "session-revoked");

    services.redis_cli(&["FLUSHALL"]);
    assert_problem(&me(&alice.access), 401, "session-lost");
    assert_problem(&me(&bob.access), 401, "session-lost");
    let refresh = app
        .request("POST", "/auth/refresh")
        .header("cookie", &format!("refresh_token={}; device_id={}", alice.refresh, alice.device))
        .send(None);
    assert_eq!(refresh.status, 401, "{}", refresh.text());

    let again = app.request("POST", "/auth/login").json(&json!({ "username": alice_name, "password": PASSWORD }));
    assert_eq!(again.status, 200, "{}", again.text());
    let alice_again = client_from(&again, None);
    assert_eq!(me(&alice_again.access).status, 200, "a new sign-in works in the new incarnation");
    assert_problem(&me(&alice.access), 401, "session-lost");
    assert_problem(&me(&bob.access), 401, "session-lost");
}

#[test]
fn bans_revoke_everything_and_block_sign_in() {
    let other = register(&unique("other"));
    let name = unique("bad");
    let user = register(&name);
    let not_admin = app()
        .request("POST", &format!("/auth/users/{}/ban", other.user_id))
        .header("authorization", &format!("Bearer {}", user.access))
        .send(None);
    assert_problem(&not_admin, 403, "admin-only");
    let ban = app()
        .request("POST", &format!("/auth/users/{}/ban", user.user_id))
        .header("authorization", &format!("Bearer {}", e2e::admin_token(&unique("admin"))))
        .send(None);
    assert_eq!(ban.status, 204, "{}", ban.text());
    assert_problem(&me(&user.access), 401, "session-revoked");
    assert_problem(&login(&name, PASSWORD, None), 403, "account-banned");
}

#[test]
fn single_device_mode_signs_out_the_previous_device() {
    let app = App::start(AppOptions { env: vec![("SPIN_VARIABLE_SINGLE_DEVICE".into(), "true".into())], ..AppOptions::default() });
    let name = unique("solo");
    let first = app.request("POST", "/auth/register").json(&json!({ "username": name, "password": PASSWORD }));
    let first_token = first.json()["access_token"].as_str().unwrap().to_owned();
    let second = app.request("POST", "/auth/login").json(&json!({ "username": name, "password": PASSWORD }));
    let second_token = second.json()["access_token"].as_str().unwrap().to_owned();
    let me = |t: &str| app.request("GET", "/auth/me").header("authorization", &format!("Bearer {t}")).send(None);
    assert_problem(&me(&first_token), 401, "session-revoked");
    assert_eq!(me(&second_token).status, 200);
}

#[test]
fn jwks_lists_the_public_keys() {
    let reply = app().get("/.well-known/jwks.json");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("cache-control"), Some("public, max-age=300"));
    let key = &reply.json()["keys"][0];
    assert_eq!(
        (key["kid"].as_str(), key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("e2e"), Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert!(key.get("d").is_none(), "no private part");
}

fn test_key() -> Ed25519KeyPair {
    let config = e2e::signing_key().to_config();
    let bytes = URL_SAFE_NO_PAD.decode(config.split_once('=').unwrap().1).unwrap();
    Ed25519KeyPair::from_bytes(&bytes).unwrap().with_key_id("e2e")
}

fn forge(sub: &str, sid: &str, edit: impl FnOnce(&mut JWTClaims<Value>)) -> String {
    let mut claims = Claims::with_custom_claims(json!({ "sid": sid, "ep": 0, "inc": e2e::TEST_INCARNATION }), Duration::from_secs(900))
        .with_issuer("video-edge")
        .with_audience("video-edge-api")
        .with_subject(sub);
    edit(&mut claims);
    test_key().sign(claims).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn the_verifier_refuses_every_attack_with_401_problem_json() {
    let victim = register(&unique("vic"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(me(&forge(&victim.user_id, &victim.session, |_| {})).status, 200, "a correctly signed token works");
    let payload = json!({ "sub": victim.user_id, "sid": victim.session, "ep": 0, "iss": "video-edge", "aud": "video-edge-api", "exp": now + 900, "iat": now, "nbf": now });
    let public = URL_SAFE_NO_PAD.decode(e2e::signing_key().public_config().split_once('=').unwrap().1).unwrap();
    let hs256 = HS256Key::from_bytes(&public).with_key_id("e2e");
    let hs_claims = Claims::with_custom_claims(json!({ "sid": victim.session, "ep": 0 }), Duration::from_secs(900))
        .with_issuer("video-edge")
        .with_audience("video-edge-api")
        .with_subject(&victim.user_id);
    let valid = forge(&victim.user_id, &victim.session, |_| {});
    let (head, rest) = valid.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut flipped = sig.to_owned().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let attacks: Vec<(&str, String, &str)> = vec![
        ("alg none", format!("{}.{}.", b64(&json!({ "alg": "none", "kid": "e2e" })), b64(&payload)), "invalid-token"),
        ("HS256 with the public key", hs256.authenticate(hs_claims).unwrap(), "invalid-token"),
        (
            "unknown kid",
            Ed25519KeyPair::generate()
                .with_key_id("other")
                .sign(
                    Claims::with_custom_claims(json!({ "sid": victim.session, "ep": 0 }), Duration::from_secs(900))
                        .with_issuer("video-edge")
                        .with_audience("video-edge-api")
                        .with_subject(&victim.user_id),
                )
                .unwrap(),
            "invalid-token",
        ),
        (
            "expired",
            forge(&victim.user_id, &victim.session, |c| c.expires_at = Some(UnixTimeStamp::from_secs(now - 3600))),
            "token-expired",
        ),
        (
            "nbf in the future",
            forge(&victim.user_id, &victim.session, |c| c.invalid_before = Some(UnixTimeStamp::from_secs(now + 3600))),
            "token-not-yet-valid",
        ),
        ("wrong issuer", forge(&victim.user_id, &victim.session, |c| c.issuer = Some("evil".into())), "invalid-token"),
        (
            "wrong audience",
            forge(&victim.user_id, &victim.session, |c| c.audiences = Some(Audiences::AsString("other".into()))),
            "invalid-token",
        ),
        (
            "tampered payload",
            format!("{head}.{}.{sig}", b64(&json!({ "sub": "someone-else", "sid": victim.session, "ep": 0 }))),
            "invalid-token",
        ),
        (
            "tampered signature",
            format!("{head}.{}.{}", rest.split_once('.').unwrap().0, String::from_utf8(flipped).unwrap()),
            "invalid-token",
        ),
        ("another store incarnation", forge(&victim.user_id, &victim.session, |c| c.custom["inc"] = json!("gone")), "session-lost"),
        (
            "no store incarnation",
            forge(&victim.user_id, &victim.session, |c| c.custom = json!({ "sid": victim.session, "ep": 0 })),
            "session-lost",
        ),
        ("malformed base64", "!!!.@@@.###".into(), "invalid-token"),
        ("malformed JSON", format!("{}.{}.AAAA", URL_SAFE_NO_PAD.encode("{not json"), URL_SAFE_NO_PAD.encode("[")), "invalid-token"),
        ("huge token", "a".repeat(16_000), "invalid-token"),
    ];
    for (name, token, code) in &attacks {
        let reply = me(token);
        assert_eq!(reply.status, 401, "{name}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{name}");
        assert_eq!(reply.json()["code"], *code, "{name}: {}", reply.text());
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{name}");
    }
    let verify = |t: &str| app().request("GET", "/auth/verify").header("authorization", &format!("Bearer {t}")).send(None);
    let introspected = verify(&victim.access);
    assert_eq!(introspected.status, 200, "{}", introspected.text());
    assert_eq!(introspected.json()["user_id"], victim.user_id.as_str());
    assert_eq!(introspected.json()["session_id"], victim.session.as_str());
    assert_problem(&verify(&attacks[0].1), 401, "invalid-token");
    let no_header = app().request("GET", "/auth/me").send(None);
    assert_problem(&no_header, 401, "missing-token");
    let basic = app().request("GET", "/auth/me").header("authorization", "Basic dXNlcjpwdw==").send(None);
    assert_problem(&basic, 401, "missing-token");

    // Revocation: the session's marker, then the user's epoch.
    let other = client_from(&login(&victim_name(&victim), PASSWORD, None), None);
    app().request("POST", "/auth/logout").header("authorization", &format!("Bearer {}", victim.access)).send(None);
    assert_problem(&me(&forge(&victim.user_id, &victim.session, |_| {})), 401, "session-revoked");
    app().request("POST", "/auth/logout-all").header("authorization", &format!("Bearer {}", other.access)).send(None);
    // A token of a session with no revocation marker, issued before the epoch moved on.
    let unmarked = "0123456789abcdef0123456789abcdef";
    assert_problem(&me(&forge(&other.user_id, unmarked, |c| c.custom["ep"] = json!(0))), 401, "token-revoked");
    assert_eq!(me(&forge(&other.user_id, unmarked, |c| c.custom["ep"] = json!(1))).status, 200, "the current epoch passes");
}

fn victim_name(client: &Client) -> String {
    me(&client.access).json()["user"]["username"].as_str().unwrap().to_owned()
}
