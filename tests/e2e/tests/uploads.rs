//! upload-sign end to end: parts PUT over real HTTP to the signature-checking S3 server with the
//! URLs the component signed; resume from the store's part list; verified completion; instant
//! upload by proof of possession; form (POST policy) uploads; the Uppy routes; expiry and
//! cleanup; and the refusals (checksums, signatures, owners, part numbers, sizes, ETags,
//! filenames).

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use e2e::{json, App, Reply, Value};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(App::start_default)
}

fn username() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("up{}x{}", std::process::id() % 100_000, N.fetch_add(1, Ordering::Relaxed))
}

fn register(app: &App, name: &str) -> String {
    let reply = app.request("POST", "/auth/register").json(&json!({ "username": name, "password": "upload password" }));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

fn user() -> String {
    register(app(), &username())
}

/// Deterministic pseudo-random bytes.
fn file(len: usize) -> Vec<u8> {
    e2e::seeded_bytes(0x9e3779b97f4a7c15, len)
}

fn hex_sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn call(token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    call_on(app(), token, method, path, body)
}

fn call_on(app: &App, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let req = app.request(method, path).header("authorization", &format!("Bearer {token}"));
    match body {
        Some(body) => req.json(&body),
        None => req.send(None),
    }
}

fn create(token: &str, data: &[u8], filename: &str) -> Value {
    create_as(token, data, filename, "video/mp4")
}

fn create_as(token: &str, data: &[u8], filename: &str, content_type: &str) -> Value {
    let reply = call(token, "POST", "/uploads", Some(json!({ "filename": filename, "size": data.len(), "content_type": content_type })));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

/// Starts an upload declaring `data`'s content key (so every part is signed with its digest).
fn create_keyed(token: &str, data: &[u8], filename: &str) -> Value {
    let (content_key, _) = e2e::content_key(data);
    let body = json!({ "filename": filename, "size": data.len(), "content_type": "video/mp4", "content_key": content_key });
    let reply = call(token, "POST", "/uploads", Some(body));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

fn sign(token: &str, id: &str, parts: &[u64], checksums: Value) -> Vec<Value> {
    let reply = call(token, "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": parts, "checksums": checksums })));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["parts"].as_array().unwrap().clone()
}

fn put_request(part: &Value) -> e2e::Req {
    let mut req = e2e::http("PUT", part["url"].as_str().unwrap());
    for (k, v) in part["headers"].as_object().unwrap() {
        req = req.header(k, v.as_str().unwrap());
    }
    req
}

fn put(part: &Value, bytes: &[u8]) -> Reply {
    put_request(part).send(Some(bytes))
}

fn chunk(data: &[u8], part_size: usize, n: u64) -> &[u8] {
    let start = (n as usize - 1) * part_size;
    &data[start..(start + part_size).min(data.len())]
}

fn checksum(bytes: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(bytes))
}

#[test]
fn multipart_upload_with_resume_and_verified_completion() {
    let token = user();
    let data = file(3 * 5 * MIB + 1234);
    let upload = create(&token, &data, "我的视频 🎬.mp4");
    let id = upload["id"].as_str().unwrap().to_owned();
    assert_eq!((upload["part_size"].as_u64(), upload["part_count"].as_u64()), (Some(5 * MIB as u64), Some(4)));
    assert!(upload["key"].as_str().unwrap().starts_with("uploads/"), "{upload}");
    let part_size = 5 * MIB;

    // The first two parts, with checksums bound into their signatures; then the "crash".
    let sums = json!({ "1": checksum(chunk(&data, part_size, 1)), "2": checksum(chunk(&data, part_size, 2)) });
    let mut etags = std::collections::BTreeMap::new();
    for part in sign(&token, &id, &[1, 2], sums) {
        let n = part["part_number"].as_u64().unwrap();
        let reply = put(&part, chunk(&data, part_size, n));
        assert_eq!(reply.status, 200, "part {n}: {}", reply.text());
        etags.insert(n, reply.header("etag").unwrap().to_owned());
    }

    // Resume: the store's own list says what is missing.
    let status = call(&token, "GET", &format!("/uploads/{id}"), None).json();
    assert_eq!(status["missing_parts"], json!([3, 4]), "{status}");
    assert_eq!(status["uploaded_bytes"], 2 * part_size);
    for part in sign(&token, &id, &[3, 4], json!({})) {
        let n = part["part_number"].as_u64().unwrap();
        let reply = put(&part, chunk(&data, part_size, n));
        assert_eq!(reply.status, 200, "{}", reply.text());
        etags.insert(n, reply.header("etag").unwrap().to_owned());
    }

    let parts: Vec<Value> = etags.iter().map(|(n, e)| json!({ "part_number": n, "etag": e })).collect();
    let done = call(&token, "POST", &format!("/uploads/{id}/complete"), Some(json!({ "parts": parts })));
    assert_eq!(done.status, 200, "{}", done.text());
    let receipt = done.json()["receipt"].as_str().unwrap().to_owned();
    let again = call(&token, "POST", &format!("/uploads/{id}/complete"), Some(json!({ "parts": parts })));
    assert_eq!(again.json()["receipt"].as_str(), Some(receipt.as_str()), "completing twice is safe");

    let download = call(&token, "GET", &format!("/uploads/{id}/download"), None).json();
    let object = e2e::http("GET", download["url"].as_str().unwrap()).send(None);
    assert_eq!(object.status, 200);
    assert_eq!(hex_sha(&object.body), hex_sha(&data), "the stored object is the file");
}

#[test]
fn the_store_rejects_corrupted_parts_and_bad_signatures() {
    let token = user();
    let data = file(5 * MIB + 10);
    let upload = create(&token, &data, "a.mp4");
    let id = upload["id"].as_str().unwrap();
    let first = chunk(&data, 5 * MIB, 1);
    let part = &sign(&token, id, &[1], json!({ "1": checksum(first) }))[0];
    let mut corrupted = first.to_vec();
    corrupted[100] ^= 1;
    let rejected = put(part, &corrupted);
    assert_eq!(rejected.status, 400, "BadDigest: {}", rejected.text());
    let url = part["url"].as_str().unwrap();
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.to_owned();
    let flipped = if &url[sig_at..sig_at + 1] == "a" { "b" } else { "a" };
    tampered.replace_range(sig_at..sig_at + 1, flipped);
    let forged = json!({ "url": tampered, "headers": part["headers"].clone() });
    // The store may answer 403 and close the connection before reading the body: either is a refusal.
    match put_request(&forged).try_send(Some(first)) {
        Ok(reply) => assert_eq!(reply.status, 403, "{}", reply.text()),
        Err(transport) => assert!(transport.contains("Broken pipe") || transport.contains("reset"), "{transport}"),
    }
    assert_eq!(put(part, first).status, 200, "the genuine URL and bytes still work");
}

#[test]
fn refusals_are_clear_and_record_nothing() {
    let token = user();
    let data = file(3 * 5 * MIB + 7);
    let upload = create(&token, &data, "b.mp4");
    let id = upload["id"].as_str().unwrap().to_owned();
    let stranger = user();
    for (method, path) in
        [("GET", format!("/uploads/{id}")), ("DELETE", format!("/uploads/{id}")), ("GET", format!("/uploads/{id}/download"))]
    {
        let reply = call(&stranger, method, &path, None);
        assert_eq!((reply.status, reply.json()["code"].as_str()), (404, Some("no-such-upload")), "{method} {path}");
    }
    let signed_by_stranger = call(&stranger, "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": [1] })));
    assert_eq!(signed_by_stranger.status, 404);
    for n in [0, 5, 10_001] {
        let reply = call(&token, "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": [n] })));
        assert_eq!((reply.status, reply.json()["code"].as_str()), (400, Some("invalid-part-number")), "{n}");
    }
    let small = call(
        &token,
        "POST",
        "/uploads",
        Some(json!({ "filename": "c.mp4", "size": 100 * MIB, "content_type": "video/mp4", "part_size": MIB })),
    );
    assert_eq!((small.status, small.json()["code"].as_str()), (400, Some("invalid-part-size")));
    for name in ["../../etc/passwd", "a\u{0}b.mp4", &"x".repeat(1024), "dir/file.mp4"] {
        let reply = call(&token, "POST", "/uploads", Some(json!({ "filename": name, "size": 10, "content_type": "video/mp4" })));
        assert_eq!((reply.status, reply.json()["code"].as_str()), (400, Some("invalid-filename")), "{name:?}");
    }
    let exe =
        call(&token, "POST", "/uploads", Some(json!({ "filename": "x.exe", "size": 10, "content_type": "application/x-msdownload" })));
    assert_eq!(exe.status, 415);
    let anonymous = app().request("POST", "/uploads").json(&json!({}));
    assert_eq!((anonymous.status, anonymous.json()["code"].as_str()), (401, Some("missing-token")));

    // Completion checks against the store's list: missing part, wrong ETag, wrong part size.
    let mut etags = Vec::new();
    for part in sign(&token, &id, &[1, 2, 3, 4], json!({})) {
        let n = part["part_number"].as_u64().unwrap();
        if n == 4 {
            // Each URL is signed for its part's exact length: the store refuses any other.
            let short = put_request(&part).try_send(Some(&chunk(&data, 5 * MIB, 4)[..3]));
            assert!(short.is_err() || short.as_ref().is_ok_and(|r| r.status == 403), "{:?}", short.map(|r| r.status));
        }
        let reply = put(&part, chunk(&data, 5 * MIB, n));
        assert_eq!(reply.status, 200);
        etags.push(json!({ "part_number": n, "etag": reply.header("etag").unwrap() }));
    }
    let complete = |parts: Vec<Value>| call(&token, "POST", &format!("/uploads/{id}/complete"), Some(json!({ "parts": parts })));
    let missing = complete(etags[..3].to_vec());
    assert_eq!((missing.status, missing.json()["code"].as_str()), (400, Some("missing-part")));
    let mut wrong = etags.clone();
    wrong[1]["etag"] = json!("\"0000\"");
    let wrong = complete(wrong);
    assert_eq!((wrong.status, wrong.json()["code"].as_str()), (409, Some("etag-mismatch")));
    let status = call(&token, "GET", &format!("/uploads/{id}"), None).json();
    assert_eq!(status["state"], "active", "nothing was recorded as complete");
    assert_eq!(call(&token, "DELETE", &format!("/uploads/{id}"), None).status, 204);
    assert_eq!(call(&token, "GET", &format!("/uploads/{id}"), None).json()["state"], "aborted");
}

/// Uploads `data` (one part) declaring its content key, with its digest, and completes it;
/// returns the completion answer.
fn upload_whole(token: &str, data: &[u8], filename: &str) -> Value {
    let upload = create_keyed(token, data, filename);
    let id = upload["id"].as_str().unwrap();
    let part = &sign(token, id, &[1], json!(e2e::content_key(data).1))[0];
    let etag = put(part, data).header("etag").unwrap().to_owned();
    let done = call(token, "POST", &format!("/uploads/{id}/complete"), Some(json!({ "parts": [{ "part_number": 1, "etag": etag }] })));
    assert_eq!(done.status, 200, "{}", done.text());
    done.json()
}

/// Creates an upload of `data` declared `content_type` and its content key, and puts it as one
/// part; the upload and the part list to complete it with.
fn put_whole(token: &str, data: &[u8], filename: &str, content_type: &str) -> (Value, Value) {
    let (content_key, checksums) = e2e::content_key(data);
    let body = json!({ "filename": filename, "size": data.len(), "content_type": content_type, "content_key": content_key });
    let upload = call(token, "POST", "/uploads", Some(body));
    assert_eq!(upload.status, 201, "{}", upload.text());
    let upload = upload.json();
    let part = &sign(token, upload["id"].as_str().unwrap(), &[1], json!(checksums))[0];
    let etag = put(part, data).header("etag").unwrap().to_owned();
    (upload, json!([{ "part_number": 1, "etag": etag }]))
}

/// `len` bytes starting with `magic`, then seeded filler (without its `ftyp` box).
fn starting(magic: &[u8], len: usize) -> Vec<u8> {
    let mut bytes = e2e::seeded_bytes(5, len);
    bytes[..e2e::MP4_FTYP.len()].fill(0xB5);
    bytes[..magic.len()].copy_from_slice(magic);
    bytes
}

/// What the store answers for `key`, fetched as a player would: a play ticket as feed signs
/// one, through `/uploads/play` and its redirect to a presigned `GET`.
fn stored(key: &str) -> Reply {
    let expires_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 + 60_000;
    let ticket = edge_protocol::receipt::PlayTicket { key: key.to_owned(), expires_at }.sign(e2e::UPLOAD_RECEIPT_KEY.as_bytes());
    let reply = app().get(&format!("/uploads/play?ticket={ticket}"));
    match reply.header("location") {
        Some(location) if reply.status == 302 => e2e::http("GET", location).send(None),
        _ => reply,
    }
}

fn assert_unrecognised(reply: &Reply, content_type: &str, detected: &str) {
    assert_eq!(reply.status, 422, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{}", reply.text());
    let problem = reply.json();
    assert_eq!(problem["code"], "unrecognised-content", "{problem}");
    assert_eq!((problem["content_type"].as_str(), problem["detected"].as_str()), (Some(content_type), Some(detected)), "{problem}");
    assert!(problem.get("receipt").is_none() && problem.get("location").is_none(), "{problem}");
}

#[test]
fn completion_refuses_and_deletes_content_that_is_not_its_declared_type() {
    let token = user();
    let text = b"Meeting notes, renamed to look like a video.\n".repeat(40);
    let (upload, parts) = put_whole(&token, &text, "clip.mp4", "video/mp4");
    let (id, key) = (upload["id"].as_str().unwrap(), upload["key"].as_str().unwrap());
    for _ in 0..2 {
        let refused = call(&token, "POST", &format!("/uploads/{id}/complete"), Some(json!({ "parts": parts })));
        assert_unrecognised(&refused, "video/mp4", "text");
    }
    let status = call(&token, "GET", &format!("/uploads/{id}"), None).json();
    assert_eq!((status["state"].as_str(), status.get("receipt")), (Some("rejected"), None), "{status}");
    assert_eq!(stored(key).status, 404, "the object is gone from the store");
    let download = call(&token, "GET", &format!("/uploads/{id}/download"), None);
    assert_eq!((download.status, download.json()["code"].as_str()), (409, Some("upload-not-complete")));
    let other = user();
    let probe = challenge(&other, &text);
    assert_eq!(answer(&other, &probe, &e2e::challenged_bytes(&text, &probe)).status, 403, "no instant upload of refused content");

    let (as_png, parts) = put_whole(&token, &text, "notes.png", "image/png");
    let refused = call(&token, "POST", &format!("/uploads/{}/complete", as_png["id"].as_str().unwrap()), Some(json!({ "parts": parts })));
    assert_unrecognised(&refused, "image/png", "text");

    let mut ts = starting(&[0x47], 188 * 40);
    for sync in (0..ts.len()).step_by(188) {
        ts[sync] = 0x47;
    }
    for (data, filename, content_type) in [
        (starting(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 20_000), "cover.png", "image/png"),
        (starting(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01], 30_000), "clip.webm", "video/webm"),
        (ts, "clip.ts", "video/mp2t"),
    ] {
        let (upload, parts) = put_whole(&token, &data, filename, content_type);
        let done = call(&token, "POST", &format!("/uploads/{}/complete", upload["id"].as_str().unwrap()), Some(json!({ "parts": parts })));
        assert_eq!(done.status, 200, "{content_type}: {}", done.text());
        assert!(done.json()["receipt"].is_string(), "{content_type}");
        let object = stored(upload["key"].as_str().unwrap());
        assert_eq!((object.status, hex_sha(&object.body)), (200, hex_sha(&data)), "{content_type}: kept");
    }
}

#[test]
fn uppys_complete_refuses_a_renamed_text_file_too() {
    let token = user();
    let text = b"plain text, not a video\n".repeat(100);
    let body = json!({ "filename": "clip.mp4", "type": "video/mp4", "metadata": { "size": text.len() } });
    let created = call(&token, "POST", "/uploads/s3/multipart", Some(body));
    assert_eq!(created.status, 200, "{}", created.text());
    let created = created.json();
    let (key, id) = (created["key"].as_str().unwrap(), created["uploadId"].as_str().unwrap());
    let q = format!("key={}", key.replace('/', "%2F"));
    let part = call(&token, "GET", &format!("/uploads/s3/multipart/{id}/1?{q}"), None).json();
    let etag = e2e::http("PUT", part["url"].as_str().unwrap()).send(Some(&text)).header("etag").unwrap().to_owned();
    let parts = json!({ "parts": [{ "PartNumber": 1, "ETag": etag }] });
    for _ in 0..2 {
        let refused = call(&token, "POST", &format!("/uploads/s3/multipart/{id}/complete?{q}"), Some(parts.clone()));
        assert_unrecognised(&refused, "video/mp4", "text");
    }
    assert_eq!(stored(key).status, 404, "the object is gone from the store");
}

fn hmac_hex(key: &str, bytes: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(bytes);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn challenge(token: &str, data: &[u8]) -> Value {
    let ask = json!({ "filename": "again.mp4", "size": data.len(), "content_type": "video/mp4", "content_key": e2e::content_key(data).0 });
    let reply = call(token, "POST", "/uploads/instant", Some(ask));
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn answer(token: &str, challenge: &Value, bytes: &[u8]) -> Reply {
    let nonce = challenge["nonce"].as_str().unwrap();
    let id = challenge["challenge_id"].as_str().unwrap();
    call(token, "POST", &format!("/uploads/instant/{id}"), Some(json!({ "answer": hmac_hex(nonce, bytes) })))
}

#[test]
fn instant_upload_needs_the_bytes_not_just_the_hash() {
    let data = e2e::seeded_bytes(42, 300 * 1024 + 5);
    let original = upload_whole(&user(), &data, "original.mp4");
    let key = original["upload"]["key"].as_str().unwrap();

    let other = user();
    // Knowing the hash and size only: the answer over anything else is refused.
    let guess = challenge(&other, &data);
    assert_eq!(guess["ranges"].as_array().unwrap().len(), 4, "{guess}");
    let refused = answer(&other, &guess, &vec![0; 64 * 1024]);
    assert_eq!((refused.status, refused.json()["code"].as_str()), (403, Some("challenge-failed")), "{}", refused.text());
    let replay = answer(&other, &guess, &e2e::challenged_bytes(&data, &guess));
    assert_eq!((replay.status, replay.json()["code"].as_str()), (404, Some("no-such-challenge")), "a challenge is answered once");

    // Holding the file: a fresh challenge answered over the right bytes.
    let fresh = challenge(&other, &data);
    let stolen = answer(&user(), &fresh, &e2e::challenged_bytes(&data, &fresh));
    assert_eq!(stolen.status, 404, "another user cannot answer my challenge");
    let fresh = challenge(&other, &data);
    let granted = answer(&other, &fresh, &e2e::challenged_bytes(&data, &fresh));
    assert_eq!(granted.status, 200, "{}", granted.text());
    let granted = granted.json();
    assert_eq!(granted["upload"]["key"].as_str(), Some(key), "the stored object is shared, not uploaded again");
    assert_eq!(granted["upload"]["state"], "complete");
    let id = granted["upload"]["id"].as_str().unwrap();
    let download = call(&other, "GET", &format!("/uploads/{id}/download"), None).json();
    assert_eq!(hex_sha(&e2e::http("GET", download["url"].as_str().unwrap()).send(None).body), hex_sha(&data));

    // A file nobody stored gets a challenge too, and the same refusal: nothing is revealed.
    let unknown = e2e::seeded_bytes(7, 1000);
    let probe = challenge(&other, &unknown);
    let none = answer(&other, &probe, &e2e::challenged_bytes(&unknown, &probe));
    assert_eq!((none.status, none.json()["code"].as_str()), (403, Some("challenge-failed")));
    let no_hash = call(&other, "POST", "/uploads/instant", Some(json!({ "filename": "a.mp4", "size": 10, "content_type": "video/mp4" })));
    assert_eq!((no_hash.status, no_hash.json()["code"].as_str()), (400, Some("missing-fields")));
}

#[test]
fn covers_upload_by_form_policy_within_its_rules() {
    let token = user();
    let cover = e2e::seeded_bytes(3, 20_000);
    let ask = |size: usize, content_type: &str| {
        call(&token, "POST", "/uploads/form", Some(json!({ "filename": "cover.png", "size": size, "content_type": content_type })))
    };
    let granted = ask(cover.len(), "image/png");
    assert_eq!(granted.status, 200, "{}", granted.text());
    let granted = granted.json();
    let key = granted["key"].as_str().unwrap();
    assert!(key.starts_with("covers/") && key.ends_with(".png"), "{key}");
    let fields = e2e::form_fields(&granted["fields"]);
    let url = granted["url"].as_str().unwrap();

    let too_long = e2e::post_form(url, &fields, &e2e::seeded_bytes(3, 20_001));
    assert_eq!(too_long.status, 400, "content-length-range: {}", too_long.text());
    let mut retyped = fields.clone();
    retyped.iter_mut().find(|(k, _)| k == "Content-Type").unwrap().1 = "text/html".into();
    // AWS answers 403 to a broken policy condition, s3s 400 InvalidPolicyDocument: both refuse.
    let retyped = e2e::post_form(url, &retyped, &cover);
    assert!([400, 403].contains(&retyped.status) && retyped.text().contains("content-type"), "the type is pinned: {}", retyped.text());
    let mut rekeyed = fields.clone();
    rekeyed.iter_mut().find(|(k, _)| k == "key").unwrap().1 = "uploads/someone-else/x.png".into();
    let rekeyed = e2e::post_form(url, &rekeyed, &cover);
    assert!([400, 403].contains(&rekeyed.status), "the key is pinned: {}", rekeyed.text());
    let mut resigned = fields.clone();
    resigned.iter_mut().find(|(k, _)| k == "x-amz-signature").unwrap().1 = "0".repeat(64);
    assert_eq!(e2e::post_form(url, &resigned, &cover).status, 403, "the policy signature is checked");

    let stored = e2e::post_form(url, &fields, &cover);
    assert!(stored.status == 204 || stored.status == 200 || stored.status == 201, "{} {}", stored.status, stored.text());
    let big = ask(21 * MIB, "image/png");
    assert_eq!((big.status, big.json()["code"].as_str()), (413, Some("use-multipart")));
    let exe = ask(10, "application/x-msdownload");
    assert_eq!(exe.status, 415);
}

#[test]
fn uppy_routes_speak_companions_shapes() {
    let token = user();
    let data = e2e::seeded_bytes(11, 5 * MIB + 4321);
    let created = call(
        &token,
        "POST",
        "/uploads/s3/multipart",
        Some(json!({ "filename": "uppy.mp4", "type": "video/mp4", "metadata": { "name": "uppy.mp4", "size": data.len() } })),
    );
    assert_eq!(created.status, 200, "{}", created.text());
    let created = created.json();
    let (key, id) = (created["key"].as_str().unwrap(), created["uploadId"].as_str().unwrap());
    let q = format!("key={}", key.replace('/', "%2F"));

    let batch = call(&token, "GET", &format!("/uploads/s3/multipart/{id}/batch?{q}&partNumbers=1,2"), None);
    assert_eq!(batch.status, 200, "{}", batch.text());
    let urls = batch.json()["presignedUrls"].clone();
    let first = e2e::http("PUT", urls["1"].as_str().unwrap()).send(Some(&data[..5 * MIB]));
    assert_eq!(first.status, 200, "{}", first.text());
    let one = call(&token, "GET", &format!("/uploads/s3/multipart/{id}/2?{q}"), None).json();
    assert_eq!(one["expires"], 900, "{one}");
    let second = e2e::http("PUT", one["url"].as_str().unwrap()).send(Some(&data[5 * MIB..]));
    assert_eq!(second.status, 200);

    let listed = call(&token, "GET", &format!("/uploads/s3/multipart/{id}?{q}"), None).json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed[0]["PartNumber"], 1);
    assert_eq!(listed[1]["Size"], 4321);
    let parts: Vec<Value> =
        listed.as_array().unwrap().iter().map(|p| json!({ "PartNumber": p["PartNumber"], "ETag": p["ETag"] })).collect();
    let wrong_key = call(&token, "POST", &format!("/uploads/s3/multipart/{id}/complete?key=uploads%2Fx"), Some(json!({ "parts": parts })));
    assert_eq!(wrong_key.status, 404);
    let done = call(&token, "POST", &format!("/uploads/s3/multipart/{id}/complete?{q}"), Some(json!({ "parts": parts })));
    assert_eq!(done.status, 200, "{}", done.text());
    let done = done.json();
    let (location, receipt) = done["location"].as_str().unwrap().split_once("#receipt=").expect("the receipt in the fragment");
    assert_eq!(receipt, done["receipt"], "Uppy 6 keeps only location: the fragment carries the receipt");
    assert_eq!(hex_sha(&e2e::http("GET", location).send(None).body), hex_sha(&data));

    let params = call(&token, "GET", "/uploads/s3/params?filename=c.png&type=image%2Fpng&metadata%5Bname%5D=c.png", None);
    assert_eq!(params.status, 200, "{}", params.text());
    let params = params.json();
    assert_eq!(params["method"], "POST");
    let fields: Vec<(String, String)> =
        params["fields"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
    let posted = e2e::post_form(params["url"].as_str().unwrap(), &fields, b"tiny cover");
    assert!(posted.status < 300, "{} {}", posted.status, posted.text());

    let unsized_ = call(&token, "POST", "/uploads/s3/multipart", Some(json!({ "filename": "d.mp4", "type": "video/mp4" })));
    assert_eq!((unsized_.status, unsized_.json()["code"].as_str()), (400, Some("size-required")), "{}", unsized_.text());
    let doomed = json!({ "filename": "d.mp4", "type": "video/mp4", "metadata": { "size": "10" } });
    let doomed = call(&token, "POST", "/uploads/s3/multipart", Some(doomed)).json();
    let dq = format!("key={}", doomed["key"].as_str().unwrap().replace('/', "%2F"));
    let aborted = call(&token, "DELETE", &format!("/uploads/s3/multipart/{}?{dq}", doomed["uploadId"].as_str().unwrap()), None);
    assert_eq!((aborted.status, aborted.json()), (200, json!({})));
    let bad = call(&token, "GET", &format!("/uploads/s3/multipart/{id}/batch?{q}&partNumbers=1,x"), None);
    assert_eq!(bad.status, 400);
}

/// An S3-style call from Uppy's `signRequest` mode: the signed `url` with the signed headers.
fn send_signed(signed: &Value, method: &str, content_type: Option<&str>, body: Option<&[u8]>) -> Reply {
    let url = signed["url"].as_str().unwrap();
    let mut request = e2e::http(method, url);
    for (name, value) in signed["headers"].as_object().into_iter().flatten() {
        request = request.header(name, value.as_str().unwrap());
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send(body)
}

/// The text of the first `<name>` element.
fn element<'a>(xml: &'a str, name: &str) -> &'a str {
    let start = xml.find(&format!("<{name}>")).unwrap_or_else(|| panic!("no {name} in {xml}")) + name.len() + 2;
    &xml[start..start + xml[start..].find('<').unwrap()]
}

#[test]
fn uppy_sign_requests_run_an_upload_confined_to_the_callers_own() {
    let token = user();
    let data = e2e::seeded_bytes(12, 5 * MIB + 777);
    let sign = |request: Value| {
        let reply = call(&token, "POST", "/uploads/s3/sign", Some(request));
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    };
    let key = "0b5e8a0c-3f0e-4c7e-9a3d-2f1e0d9c8b7a-sign me.mp4";
    let create = sign(json!({ "method": "POST", "key": key, "size": data.len() }));
    assert!(create["url"].as_str().unwrap().ends_with(&format!("/uploads/s3/xml?filename=sign+me.mp4&size={}", data.len())), "{create}");
    assert_eq!(create["headers"]["authorization"], format!("Bearer {token}"), "edge calls carry the caller's own token");
    let created = send_signed(&create, "POST", Some("video/mp4"), None);
    assert_eq!(created.status, 200, "{}", created.text());
    let created = created.text();
    let id = element(&created, "UploadId").to_owned();
    assert!(element(&created, "Key").starts_with("uploads/"), "{created}");

    for (number, bytes) in [(1, &data[..5 * MIB]), (2, &data[5 * MIB..])] {
        let part = sign(json!({ "method": "PUT", "key": key, "uploadId": id, "partNumber": number }));
        assert!(part["headers"].is_null(), "parts go straight to the store: {part}");
        assert_eq!(send_signed(&part, "PUT", None, Some(bytes)).status, 200);
    }
    let listed = send_signed(&sign(json!({ "method": "GET", "key": key, "uploadId": id })), "GET", None, None);
    assert_eq!(listed.status, 200, "{}", listed.text());
    let listed = listed.text();
    assert_eq!(listed.matches("<Part>").count(), 2, "{listed}");

    let stranger = user();
    let theirs = call(&stranger, "POST", "/uploads/s3/sign", Some(json!({ "method": "PUT", "key": key, "uploadId": id, "partNumber": 1 })));
    assert_eq!((theirs.status, theirs.json()["code"].as_str()), (404, Some("no-such-upload")), "another user's upload");
    let unsupported = call(&token, "POST", "/uploads/s3/sign", Some(json!({ "method": "DELETE", "key": "uploads/someone/else.mp4" })));
    assert_eq!((unsupported.status, unsupported.json()["code"].as_str()), (400, Some("unsupported-request")));

    let complete = sign(json!({ "method": "POST", "key": key, "uploadId": id }));
    let forged = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"0123\"</ETag></Part></CompleteMultipartUpload>";
    let refused = send_signed(&complete, "POST", Some("application/xml"), Some(forged.as_bytes()));
    assert_eq!(
        (refused.status, refused.text().contains("etag-mismatch")),
        (409, true),
        "an ETag the store does not hold: {}",
        refused.text()
    );
    let all = listed
        .split("<Part>")
        .skip(1)
        .map(|p| format!("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", element(p, "PartNumber"), element(p, "ETag")))
        .collect::<String>();
    let done = send_signed(
        &complete,
        "POST",
        Some("application/xml"),
        Some(format!("<CompleteMultipartUpload>{all}</CompleteMultipartUpload>").as_bytes()),
    );
    assert_eq!(done.status, 200, "{}", done.text());
    let done = done.text().replace("&amp;", "&");
    let (location, receipt) = element(&done, "Location").split_once("#receipt=").unwrap();
    assert_eq!(hex_sha(&e2e::http("GET", location).send(None).body), hex_sha(&data));
    let published = call(&token, "POST", "/videos", Some(json!({ "receipt": receipt, "title": "Signed by Uppy" })));
    assert_eq!(published.status, 201, "{}", published.text());

    let doomed = send_signed(&sign(json!({ "method": "POST", "key": "d.mp4", "size": 10 })), "POST", Some("video/mp4"), None).text();
    let abort = sign(json!({ "method": "DELETE", "key": "d.mp4", "uploadId": element(&doomed, "UploadId") }));
    assert_eq!(send_signed(&abort, "DELETE", None, None).status, 204);
}

#[test]
fn the_upload_cookie_works_only_on_uppys_routes_and_only_from_this_origin() {
    let reply = app().request("POST", "/auth/register").json(&json!({ "username": username(), "password": "upload password" }));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let access = reply.json()["access_token"].as_str().unwrap().to_owned();
    let cookie = reply.cookie("upload_token").expect("sign-in sets the upload cookie");
    let set = reply.headers.iter().find(|(k, v)| k == "set-cookie" && v.starts_with("upload_token=")).unwrap().1.clone();
    for attribute in ["Path=/uploads/s3;", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=900"] {
        assert!(set.contains(attribute), "{set}");
    }
    let create = |cookie: &str, fetch_site: Option<&str>| {
        let mut request = app().request("POST", "/uploads/s3/multipart").header("cookie", &format!("other=1; upload_token={cookie}"));
        if let Some(site) = fetch_site {
            request = request.header("sec-fetch-site", site);
        }
        request.json(&json!({ "filename": "c.mp4", "type": "video/mp4", "metadata": { "size": 10 } }))
    };
    assert_eq!(create(&cookie, Some("same-origin")).status, 200, "the app's own page");
    for site in [None, Some("same-site"), Some("cross-site"), Some("none")] {
        let refused = create(&cookie, site);
        assert_eq!((refused.status, refused.json()["code"].as_str()), (403, Some("cross-origin-cookie")), "{site:?}");
    }
    let access_as_cookie = create(&access, Some("same-origin"));
    assert_eq!(
        (access_as_cookie.status, access_as_cookie.json()["code"].as_str()),
        (401, Some("invalid-token")),
        "an access token is no upload token"
    );
    let cookie_as_bearer = call(&cookie, "GET", "/auth/sessions", None);
    assert_eq!(cookie_as_bearer.status, 401, "an upload token opens nothing else");
    let native = app()
        .request("GET", "/auth/sessions")
        .header("cookie", &format!("upload_token={cookie}"))
        .header("sec-fetch-site", "same-origin")
        .send(None);
    assert_eq!(native.status, 401, "nor does the cookie");
}

#[test]
fn expired_urls_are_refused_and_cleanup_aborts_stale_uploads() {
    let env =
        vec![("SPIN_VARIABLE_PART_URL_TTL_SECS".to_owned(), "1".to_owned()), ("SPIN_VARIABLE_UPLOAD_TTL_SECS".to_owned(), "1".to_owned())];
    let short = App::start(e2e::AppOptions { env, ..Default::default() });
    let admin = e2e::admin_token(&username());
    let token = register(&short, &username());
    let data = file(1000);
    let ask = json!({ "filename": "e.mp4", "size": data.len(), "content_type": "video/mp4" });
    let upload = call_on(&short, &token, "POST", "/uploads", Some(ask)).json();
    let id = upload["id"].as_str().unwrap();
    let part = call_on(&short, &token, "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": [1] }))).json();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    match put_request(&part["parts"][0]).try_send(Some(&data)) {
        Ok(reply) => assert_eq!(reply.status, 403, "expired: {}", reply.text()),
        Err(transport) => assert!(transport.contains("Broken pipe") || transport.contains("reset"), "{transport}"),
    }
    let late = call_on(&short, &token, "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": [1] })));
    assert_eq!((late.status, late.json()["code"].as_str()), (409, Some("upload-expired")));

    let forbidden = call_on(&short, &token, "POST", "/uploads/cleanup", None);
    assert_eq!(forbidden.status, 403);
    let swept = call_on(&short, &admin, "POST", "/uploads/cleanup", None);
    assert_eq!(swept.status, 200, "{}", swept.text());
    assert!(swept.json()["aborted"].as_u64().unwrap() >= 1, "{}", swept.text());
    assert_eq!(call_on(&short, &token, "GET", &format!("/uploads/{id}"), None).json()["state"], "aborted");
}
