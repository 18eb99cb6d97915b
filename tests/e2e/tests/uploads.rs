//! upload-sign end to end: parts PUT over real HTTP to the signature-checking S3 server with the
//! URLs the component signed; resume from the store's part list; verified completion; and the
//! refusals (checksums, signatures, owners, part numbers, sizes, ETags, filenames).

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use e2e::{json, Devhost, Reply, Value};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

fn app() -> &'static Devhost {
    static APP: OnceLock<Devhost> = OnceLock::new();
    APP.get_or_init(Devhost::app)
}

fn user() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("up{}x{}", std::process::id() % 100_000, N.fetch_add(1, Ordering::Relaxed));
    let reply = app().request("POST", "/auth/register").json(&json!({ "username": name, "password": "upload password" }));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

/// Deterministic pseudo-random bytes.
fn file(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn hex_sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn call(token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let req = app().request(method, path).header("authorization", &format!("Bearer {token}"));
    match body {
        Some(body) => req.json(&body),
        None => req.send(None),
    }
}

fn create(token: &str, data: &[u8], filename: &str) -> Value {
    let reply = call(token, "POST", "/uploads", Some(json!({ "filename": filename, "size": data.len(), "content_type": "video/mp4", "sha256": hex_sha(data) })));
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
    for (method, path) in [("GET", format!("/uploads/{id}")), ("DELETE", format!("/uploads/{id}")), ("GET", format!("/uploads/{id}/download"))] {
        let reply = call(&stranger, method, &path, None);
        assert_eq!((reply.status, reply.json()["code"].as_str()), (404, Some("no-such-upload")), "{method} {path}");
    }
    let signed_by_stranger = call(&stranger, "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": [1] })));
    assert_eq!(signed_by_stranger.status, 404);
    for n in [0, 5, 10_001] {
        let reply = call(&token, "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": [n] })));
        assert_eq!((reply.status, reply.json()["code"].as_str()), (400, Some("invalid-part-number")), "{n}");
    }
    let small = call(&token, "POST", "/uploads", Some(json!({ "filename": "c.mp4", "size": 100 * MIB, "content_type": "video/mp4", "part_size": MIB })));
    assert_eq!((small.status, small.json()["code"].as_str()), (400, Some("invalid-part-size")));
    for name in ["../../etc/passwd", "a\u{0}b.mp4", &"x".repeat(1024), "dir/file.mp4"] {
        let reply = call(&token, "POST", "/uploads", Some(json!({ "filename": name, "size": 10, "content_type": "video/mp4" })));
        assert_eq!((reply.status, reply.json()["code"].as_str()), (400, Some("invalid-filename")), "{name:?}");
    }
    let exe = call(&token, "POST", "/uploads", Some(json!({ "filename": "x.exe", "size": 10, "content_type": "application/x-msdownload" })));
    assert_eq!(exe.status, 415);
    let anonymous = app().request("POST", "/uploads").json(&json!({}));
    assert_eq!((anonymous.status, anonymous.json()["code"].as_str()), (401, Some("missing-token")));

    // Completion checks against the store's list: missing part, wrong ETag, wrong part size.
    let mut etags = Vec::new();
    for part in sign(&token, &id, &[1, 2, 3, 4], json!({})) {
        let n = part["part_number"].as_u64().unwrap();
        let bytes = if n == 4 { &chunk(&data, 5 * MIB, 4)[..3] } else { chunk(&data, 5 * MIB, n) };
        let reply = put(&part, bytes);
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
    let short = complete(etags.clone());
    assert_eq!((short.status, short.json()["code"].as_str()), (409, Some("part-size-mismatch")), "{}", short.text());
    let status = call(&token, "GET", &format!("/uploads/{id}"), None).json();
    assert_eq!(status["state"], "active", "nothing was recorded as complete");
    assert_eq!(call(&token, "DELETE", &format!("/uploads/{id}"), None).status, 204);
    assert_eq!(call(&token, "GET", &format!("/uploads/{id}"), None).json()["state"], "aborted");
}
