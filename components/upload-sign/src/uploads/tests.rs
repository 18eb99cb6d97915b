//! Every upload decision on in-memory ports: the limits' semantics are those of
//! `scripts/*.lua`, the store's those of S3's multipart API (both exercised for real end to
//! end in `tests/e2e/tests/uploads.rs`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use edge_auth::Principal;
use edge_http::Problem;
use edge_protocol::receipt::Receipt;
use edge_spin::redis::Decision;
use futures::executor::block_on;

use super::*;
use crate::instant::Challenge;
use crate::plan::{CreateRequest, MIN_PART};
use crate::s3::{Store, StoredPart};

const MIB: u64 = 1024 * 1024;
const RECEIPT_KEY: &str = "receipt key for tests";
const SHA: &str = "cafe0000000000000000000000000000000000000000000000000000000000ab";

#[derive(Default)]
struct Multipart {
    key: String,
    /// Started with `x-amz-checksum-algorithm`: the store keeps each part's SHA-256.
    checksummed: bool,
    parts: BTreeMap<u64, (String, Vec<u8>)>,
}

struct Memory {
    now: Cell<u64>,
    ids: Cell<u64>,
    settings: RefCell<BTreeMap<&'static str, String>>,
    store: Store,
    records: RefCell<BTreeMap<String, Upload>>,
    active: RefCell<BTreeMap<String, BTreeSet<String>>>,
    daily: RefCell<BTreeMap<(String, u64), u64>>,
    expiring: RefCell<BTreeMap<String, u64>>,
    contents: RefCell<BTreeMap<(String, u64), String>>,
    covers: RefCell<BTreeMap<String, String>>,
    challenges: RefCell<BTreeMap<String, Challenge>>,
    limited: Cell<bool>,
    multipart: RefCell<BTreeMap<String, Multipart>>,
    objects: RefCell<BTreeMap<String, Vec<u8>>>,
    store_refuses: Cell<bool>,
    reads_refuse: Cell<bool>,
}

impl Memory {
    fn new() -> Memory {
        let settings = [
            ("max_upload_bytes", (100 * MIB).to_string()),
            ("allowed_content_types", "video/*, image/png".to_owned()),
            ("max_active_uploads", "2".to_owned()),
            ("max_upload_bytes_per_day", (40 * MIB).to_string()),
            ("upload_ttl_secs", "3600".to_owned()),
            ("part_url_ttl_secs", "900".to_owned()),
            ("upload_receipt_key", RECEIPT_KEY.to_owned()),
        ];
        Memory {
            now: Cell::new(1_800_000_000_000),
            ids: Cell::new(0),
            settings: RefCell::new(settings.into_iter().collect()),
            store: Store::new("http://127.0.0.1:9000", "videos", "us-east-1", "test-access", "test-secret", 1_800_000_000).unwrap(),
            records: RefCell::default(),
            active: RefCell::default(),
            daily: RefCell::default(),
            expiring: RefCell::default(),
            contents: RefCell::default(),
            covers: RefCell::default(),
            challenges: RefCell::default(),
            limited: Cell::new(false),
            multipart: RefCell::default(),
            objects: RefCell::default(),
            store_refuses: Cell::new(false),
            reads_refuse: Cell::new(false),
        }
    }

    fn today(&self, owner: &str) -> u64 {
        self.daily.borrow().get(&(owner.to_owned(), day(self.now.get()))).copied().unwrap_or(0)
    }

    fn active(&self, owner: &str) -> usize {
        self.active.borrow().get(owner).map_or(0, BTreeSet::len)
    }

    /// A browser's `PUT` of part `n` with its presigned URL: the store's ETag.
    fn put_part(&self, upload: &Upload, n: u64, bytes: Vec<u8>) -> String {
        let etag = format!("\"etag-{n}-{}\"", bytes.len());
        let mut multipart = self.multipart.borrow_mut();
        let parts = &mut multipart.get_mut(upload.s3_upload_id.as_deref().unwrap()).unwrap().parts;
        parts.insert(n, (etag.clone(), bytes));
        etag
    }
}

/// Base64 SHA-256, as S3 lists a part's checksum.
fn digest(bytes: &[u8]) -> String {
    use base64ct::Encoding;
    use sha2::Digest;
    base64ct::Base64::encode_string(&sha2::Sha256::digest(bytes))
}

/// The content key of `bytes`, as the SDK computes it.
fn key_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digests: Vec<[u8; 32]> = edge_protocol::instant::default_parts(bytes.len() as u64)
        .map(|(a, b)| sha2::Sha256::digest(&bytes[a as usize..b as usize]).into())
        .collect();
    edge_protocol::instant::content_key(bytes.len() as u64, &digests)
}

fn refused() -> Problem {
    Problem::unavailable("storage-unavailable", "the object store did not answer")
}

impl Source for Memory {
    fn raw(&self, name: &str) -> Option<String> {
        self.settings.borrow().get(name).cloned()
    }
}

impl Ports for Memory {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn random_id(&self) -> String {
        self.ids.set(self.ids.get() + 1);
        format!("{:032x}", u128::from(self.ids.get()).wrapping_mul(0x1234_5678_9abc_def1_0fed_cba9))
    }

    fn store(&self) -> Result<&Store, Problem> {
        Ok(&self.store)
    }

    fn read(&self, id: &str) -> Result<Option<Upload>, Problem> {
        Ok(self.records.borrow().get(id).cloned())
    }

    fn save(&self, upload: &Upload) -> Result<(), Problem> {
        self.records.borrow_mut().insert(upload.id.clone(), upload.clone());
        Ok(())
    }

    fn admit(&self, new: &Reservation, max_active: u64, max_daily: u64) -> Result<Admission, Problem> {
        if self.active(&new.owner) as u64 >= max_active {
            return Ok(Admission::TooManyActive);
        }
        if !self.charge(&new.owner, new.day, new.bytes, max_daily)? {
            return Ok(Admission::OverDaily);
        }
        self.active.borrow_mut().entry(new.owner.clone()).or_default().insert(new.id.clone());
        self.expiring.borrow_mut().insert(new.id.clone(), new.expires_at);
        Ok(Admission::Admitted)
    }

    fn charge(&self, owner: &str, day: u64, bytes: u64, max_daily: u64) -> Result<bool, Problem> {
        let mut daily = self.daily.borrow_mut();
        let used = daily.entry((owner.to_owned(), day)).or_default();
        if *used + bytes > max_daily {
            return Ok(false);
        }
        *used += bytes;
        Ok(true)
    }

    fn refund(&self, owner: &str, day: u64, bytes: u64) -> Result<(), Problem> {
        *self.daily.borrow_mut().entry((owner.to_owned(), day)).or_default() -= bytes;
        Ok(())
    }

    fn finish(&self, owner: &str, id: &str) -> Result<(), Problem> {
        self.active.borrow_mut().entry(owner.to_owned()).or_default().remove(id);
        self.expiring.borrow_mut().remove(id);
        Ok(())
    }

    fn due(&self, now: u64, limit: u64) -> Result<Vec<String>, Problem> {
        let expiring = self.expiring.borrow();
        Ok(expiring.iter().filter(|(_, &at)| at <= now).map(|(id, _)| id.clone()).take(limit as usize).collect())
    }

    fn unindex(&self, id: &str) -> Result<(), Problem> {
        self.expiring.borrow_mut().remove(id);
        Ok(())
    }

    fn index_content(&self, content_key: &str, size: u64, key: &str) -> Result<(), Problem> {
        self.contents.borrow_mut().entry((content_key.to_owned(), size)).or_insert_with(|| key.to_owned());
        Ok(())
    }

    fn find(&self, content_key: &str, size: u64) -> Result<Option<String>, Problem> {
        Ok(self.contents.borrow().get(&(content_key.to_owned(), size)).cloned())
    }

    fn drop_content(&self, content_key: &str, size: u64, key: &str) -> Result<(), Problem> {
        let entry = (content_key.to_owned(), size);
        if self.contents.borrow().get(&entry).is_some_and(|k| k == key) {
            self.contents.borrow_mut().remove(&entry);
        }
        Ok(())
    }

    fn mark_cover(&self, key: &str, content_type: &str) -> Result<(), Problem> {
        self.covers.borrow_mut().insert(key.to_owned(), content_type.to_owned());
        Ok(())
    }

    fn limit(&self, _: &str, _: u64) -> Result<Decision, Problem> {
        Ok(if self.limited.get() { Decision::Limited { retry_after: 42 } } else { Decision::Allowed })
    }

    fn keep_challenge(&self, id: &str, challenge: &Challenge) -> Result<(), Problem> {
        self.challenges.borrow_mut().insert(id.to_owned(), challenge.clone());
        Ok(())
    }

    fn take_challenge(&self, id: &str) -> Result<Option<Challenge>, Problem> {
        Ok(self.challenges.borrow_mut().remove(id))
    }

    async fn create_multipart(&self, key: &str, _: &str, checksummed: bool) -> Result<String, Problem> {
        if self.store_refuses.get() {
            return Err(refused());
        }
        let s3_id = format!("s3-{}", self.multipart.borrow().len() + 1);
        self.multipart.borrow_mut().insert(s3_id.clone(), Multipart { key: key.to_owned(), checksummed, ..Multipart::default() });
        Ok(s3_id)
    }

    async fn list_parts(&self, _: &str, s3_id: &str) -> Result<Vec<StoredPart>, Problem> {
        let multipart = self.multipart.borrow();
        let upload = multipart.get(s3_id).ok_or_else(|| Problem::conflict("upload-gone", "the store no longer has this upload"))?;
        let parts = upload.parts.iter().map(|(&number, (etag, bytes))| StoredPart {
            number,
            etag: etag.clone(),
            size: bytes.len() as u64,
            checksum: upload.checksummed.then(|| digest(bytes)),
        });
        Ok(parts.collect())
    }

    async fn complete_multipart(&self, key: &str, s3_id: &str, parts: &[StoredPart]) -> Result<String, Problem> {
        if self.store_refuses.get() {
            return Err(refused());
        }
        let upload = self.multipart.borrow_mut().remove(s3_id).ok_or_else(refused)?;
        let bytes = parts.iter().flat_map(|p| upload.parts.values().find(|(e, _)| *e == p.etag).unwrap().1.clone()).collect();
        assert_eq!(upload.key, key);
        self.objects.borrow_mut().insert(key.to_owned(), bytes);
        Ok(format!("\"{}-{}\"", key.len(), parts.len()))
    }

    async fn abort_multipart(&self, _: &str, s3_id: &str) -> Result<(), Problem> {
        if self.store_refuses.get() {
            return Err(refused());
        }
        self.multipart.borrow_mut().remove(s3_id);
        Ok(())
    }

    async fn delete_object(&self, key: &str) -> Result<(), Problem> {
        if self.store_refuses.get() {
            return Err(refused());
        }
        self.objects.borrow_mut().remove(key);
        Ok(())
    }

    async fn read_range(&self, key: &str, offset: u64, length: u64) -> Result<RangeRead, Problem> {
        if self.reads_refuse.get() {
            return Err(refused());
        }
        let objects = self.objects.borrow();
        let Some(object) = objects.get(key) else {
            return Ok(RangeRead { status: 404, total: None, body: Vec::new(), etag: String::new() });
        };
        let end = (offset + length).min(object.len() as u64);
        let body = object[offset as usize..end as usize].to_vec();
        Ok(RangeRead { status: 206, total: Some(object.len() as u64), body, etag: "\"stored\"".into() })
    }
}

fn caller(user: &str) -> Principal {
    Principal { user_id: user.into(), session_id: "s".into(), roles: Vec::new(), expires_at: 0, epoch: 0, incarnation: String::new() }
}

fn request(size: Option<u64>, content_key: Option<&str>) -> CreateRequest {
    typed(size, content_key, "video/mp4")
}

fn typed(size: Option<u64>, content_key: Option<&str>, content_type: &str) -> CreateRequest {
    CreateRequest {
        filename: "holiday.mp4".into(),
        size,
        content_type: content_type.into(),
        content_key: content_key.map(str::to_owned),
        part_size: Some(MIN_PART),
    }
}

/// `len` bytes of an MP4 file as far as the content check looks: an `ftyp` box, then filler.
fn video(len: u64) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    bytes[..16].copy_from_slice(b"\0\0\0\x10ftypisom\0\0\x02\0");
    bytes
}

/// An 11 MiB video: two 5 MiB parts and a 1 MiB one.
fn file() -> Vec<u8> {
    video(11 * MIB)
}

/// Creates an upload of `bytes` and puts every part; the claimed `(number, ETag)` list.
fn uploaded(m: &Memory, uploads: &Uploads<Memory>, bytes: &[u8], content_key: Option<&str>) -> (Upload, Vec<(u64, String)>) {
    uploaded_as(m, uploads, bytes, content_key, "video/mp4")
}

/// [`uploaded`], declaring `content_type`.
fn uploaded_as(
    m: &Memory,
    uploads: &Uploads<Memory>,
    bytes: &[u8],
    content_key: Option<&str>,
    content_type: &str,
) -> (Upload, Vec<(u64, String)>) {
    let upload = block_on(uploads.create(typed(Some(bytes.len() as u64), content_key, content_type))).unwrap();
    let claimed =
        bytes.chunks(MIN_PART as usize).enumerate().map(|(i, chunk)| (i as u64 + 1, m.put_part(&upload, i as u64 + 1, chunk.to_vec())));
    let claimed = claimed.collect();
    (upload, claimed)
}

#[test]
fn create_reserves_the_limits_plans_the_parts_and_records_the_upload() {
    let m = Memory::new();
    let uploads = Uploads::new(&m, caller("ann"));
    let upload = block_on(uploads.create(request(Some(11 * MIB), None))).unwrap();
    assert_eq!(upload.layout.as_ref().map(|l| (l.part_size, l.part_count)), Some((MIN_PART, 3)));
    assert_eq!((upload.state, upload.expires_at), (State::Active, m.now.get() + 3_600_000));
    assert!(upload.key.starts_with("uploads/") && upload.key.ends_with(".mp4"), "{}", upload.key);
    assert_eq!((m.active("ann"), m.today("ann")), (1, 11 * MIB));
    assert_eq!(uploads.load(&upload.id).unwrap().id, upload.id);
    assert_eq!(Uploads::new(&m, caller("bob")).load(&upload.id).unwrap_err().code(), "no-such-upload");
}

#[test]
fn create_refuses_past_the_limits_and_gives_back_what_a_refusing_store_would_have_cost() {
    let m = Memory::new();
    let uploads = Uploads::new(&m, caller("ann"));
    let too_big = block_on(uploads.create(request(Some(41 * MIB), None))).unwrap_err();
    assert_eq!((too_big.status().as_u16(), too_big.code()), (429, "daily-upload-limit"));
    block_on(uploads.create(request(Some(MIB), None))).unwrap();
    block_on(uploads.create(request(Some(MIB), None))).unwrap();
    let third = block_on(uploads.create(request(Some(MIB), None))).unwrap_err();
    assert_eq!((third.code(), third.extension("limit").and_then(|v| v.as_u64())), ("too-many-active-uploads", Some(2)));
    let m = Memory::new();
    m.store_refuses.set(true);
    let uploads = Uploads::new(&m, caller("ann"));
    assert_eq!(block_on(uploads.create(request(Some(MIB), None))).unwrap_err().code(), "storage-unavailable");
    assert_eq!((m.active("ann"), m.today("ann"), m.records.borrow().len()), (0, 0, 0), "nothing is left reserved or recorded");
}

#[test]
fn parts_are_signed_within_the_plan_until_the_upload_expires() {
    let m = Memory::new();
    let uploads = Uploads::new(&m, caller("ann"));
    let upload = block_on(uploads.create(request(Some(11 * MIB), None))).unwrap();
    let signed = uploads.sign(&upload, &[1, 3], &BTreeMap::new()).unwrap();
    assert_eq!(signed.iter().map(|p| (p.part_number, p.size)).collect::<Vec<_>>(), [(1, 5 * MIB), (3, MIB)]);
    assert!(signed[1].url.contains("partNumber=3") && signed[1].url.contains("X-Amz-Expires=900"), "{}", signed[1].url);
    assert!(signed[1].url.contains("X-Amz-SignedHeaders=content-length%3Bhost"), "the length is signed: {}", signed[1].url);
    let keyed = block_on(uploads.create(request(Some(11 * MIB), Some(SHA)))).unwrap();
    let one = BTreeMap::from([("1".to_owned(), digest(b"part one"))]);
    assert_eq!(uploads.sign(&keyed, &[1, 2], &one).unwrap_err().code(), "checksum-required", "a keyed upload's parts carry digests");
    assert!(uploads.sign(&keyed, &[1], &one).unwrap()[0].url.contains("x-amz-checksum-sha256"));
    assert_eq!(uploads.sign(&upload, &[4], &BTreeMap::new()).unwrap_err().code(), "invalid-part-number");
    m.now.set(upload.expires_at + 1);
    assert_eq!(uploads.sign(&upload, &[1], &BTreeMap::new()).unwrap_err().code(), "upload-expired");
}

#[test]
fn complete_checks_the_parts_against_the_store_issues_a_receipt_once_and_frees_the_slot() {
    let m = Memory::new();
    let uploads = Uploads::new(&m, caller("ann"));
    let bytes = file();
    let (upload, claimed) = uploaded(&m, &uploads, &bytes, Some(&SHA.to_ascii_uppercase()));
    let mut wrong = claimed.clone();
    wrong[1].1 = "\"someone else's\"".into();
    assert_eq!(block_on(uploads.complete(upload.clone(), &wrong)).unwrap_err().code(), "etag-mismatch");
    assert_eq!(block_on(uploads.complete(upload.clone(), &claimed[..2])).unwrap_err().code(), "missing-part");
    let (done, receipt) = block_on(uploads.complete(upload.clone(), &claimed)).unwrap();
    assert_eq!((done.state, done.size), (State::Complete, Some(11 * MIB)));
    let receipt_body = Receipt::verify(&receipt, RECEIPT_KEY.as_bytes()).expect("a receipt signed with the receipt key");
    assert_eq!((receipt_body.upload_id, receipt_body.owner, receipt_body.size), (upload.id.clone(), "ann".to_owned(), 11 * MIB));
    assert_eq!(m.objects.borrow()[&upload.key], bytes);
    assert_eq!(receipt_body.content_key, Some(key_of(&bytes)), "the key the store's digests give");
    assert_eq!(m.active("ann"), 0);
    assert_eq!(m.find(&key_of(&bytes), 11 * MIB).unwrap(), Some(upload.key.clone()));
    assert_eq!(m.find(SHA, 11 * MIB).unwrap(), None, "the declaration is never indexed");
    let stored = uploads.load(&upload.id).unwrap();
    assert_eq!(block_on(uploads.complete(stored, &[])).unwrap().1, receipt, "completing again answers the same receipt");
}

#[test]
fn an_upload_declares_its_size_and_gives_its_reserved_bytes_back_when_it_ends_unfinished() {
    let m = Memory::new();
    let uploads = Uploads::new(&m, caller("ann"));
    assert_eq!(block_on(uploads.create(request(None, None))).unwrap_err().code(), "size-required");
    let upload = block_on(uploads.create(request(Some(6 * MIB), None))).unwrap();
    assert_eq!(m.today("ann"), 6 * MIB, "reserved in full at the start");
    block_on(uploads.abort(upload)).unwrap();
    assert_eq!(m.today("ann"), 0, "given back on abort");
    block_on(uploads.create(request(Some(7 * MIB), None))).unwrap();
    m.now.set(m.now.get() + 3_600_001);
    assert_eq!(block_on(uploads.cleanup()).unwrap(), (1, false));
    assert_eq!(m.today("ann"), 0, "given back when cleanup aborts it");
}

#[test]
fn content_that_does_not_fit_its_type_is_deleted_and_refused_with_no_receipt() {
    let m = Memory::new();
    let ann = Uploads::new(&m, caller("ann"));
    let text = b"Not a video at all, just words.\n".repeat(100);
    let (upload, claimed) = uploaded(&m, &ann, &text, Some(SHA));
    let refusal = block_on(ann.complete(upload.clone(), &claimed)).unwrap_err();
    assert_eq!((refusal.status().as_u16(), refusal.code()), (422, "unrecognised-content"));
    assert_eq!(refusal.extension("detected").and_then(|v| v.as_str()), Some("text"));
    assert_eq!(refusal.extension("content_type").and_then(|v| v.as_str()), Some("video/mp4"));
    assert!(!m.objects.borrow().contains_key(&upload.key), "the object is deleted");
    let stored = ann.load(&upload.id).unwrap();
    assert_eq!((stored.state, stored.receipt.as_deref()), (State::Rejected, None));
    assert_eq!((m.active("ann"), m.find(SHA, text.len() as u64).unwrap()), (0, None), "the slot is free; nothing to share");
    let again = block_on(ann.complete(stored.clone(), &claimed)).unwrap_err();
    assert_eq!((again.code(), again.detail()), (refusal.code(), refusal.detail()), "a second complete is refused alike");
    assert_eq!(ann.sign(&stored, &[1], &BTreeMap::new()).unwrap_err().code(), "upload-rejected");

    let (png, claimed) = uploaded_as(&m, &ann, &[b"\x89PNG\r\n\x1a\n".as_slice(), &[0; 100]].concat(), None, "image/png");
    assert_eq!(block_on(ann.complete(png, &claimed)).unwrap().0.state, State::Complete);
    let (text_png, claimed) = uploaded_as(&m, &ann, &text, None, "image/png");
    let refusal = block_on(ann.complete(text_png, &claimed)).unwrap_err();
    assert!(refusal.detail().contains("an image must be PNG"), "{}", refusal.detail());
    let (mp4_as_png, claimed) = uploaded_as(&m, &ann, &video(1000), None, "image/png");
    let refusal = block_on(ann.complete(mp4_as_png, &claimed)).unwrap_err();
    assert_eq!(refusal.extension("detected").and_then(|v| v.as_str()), Some("mp4"), "a video is no image");
}

#[test]
fn a_complete_whose_content_check_could_not_read_finishes_on_retry() {
    let m = Memory::new();
    let ann = Uploads::new(&m, caller("ann"));
    let bytes = video(MIB);
    let (upload, claimed) = uploaded(&m, &ann, &bytes, None);
    m.reads_refuse.set(true);
    assert_eq!(block_on(ann.complete(upload.clone(), &claimed)).unwrap_err().code(), "storage-unavailable");
    assert!(m.multipart.borrow().is_empty(), "the store completed the object");
    let stored = ann.load(&upload.id).unwrap();
    assert_eq!((stored.state, m.active("ann")), (State::Active, 1), "no receipt yet");
    m.reads_refuse.set(false);
    let (done, receipt) = block_on(ann.complete(stored, &claimed)).unwrap();
    assert_eq!((done.state, done.etag, m.active("ann")), (State::Complete, None, 0));
    assert_eq!(Receipt::verify(&receipt, RECEIPT_KEY.as_bytes()).unwrap().size, MIB);
}

#[test]
fn a_type_that_is_not_checked_completes_without_reading_its_bytes() {
    let m = Memory::new();
    m.settings.borrow_mut().insert("allowed_content_types", "video/*, audio/mpeg".into());
    let ann = Uploads::new(&m, caller("ann"));
    let (upload, claimed) = uploaded_as(&m, &ann, b"ID3 not checked", None, "audio/mpeg");
    m.reads_refuse.set(true);
    assert_eq!(block_on(ann.complete(upload, &claimed)).unwrap().0.state, State::Complete, "no ranged read was made");
}

#[test]
fn abort_ends_an_active_upload_and_cleanup_aborts_expired_ones_in_batches() {
    let m = Memory::new();
    m.settings.borrow_mut().insert("max_active_uploads", "100".into());
    let ann = Uploads::new(&m, caller("ann"));
    let first = block_on(ann.create(request(Some(MIB), None))).unwrap();
    let aborted = block_on(ann.abort(first.clone())).unwrap();
    assert_eq!((aborted.state, m.active("ann")), (State::Aborted, 0));
    assert_eq!(block_on(ann.abort(aborted)).unwrap_err().code(), "upload-aborted");
    for _ in 0..52 {
        block_on(ann.create(request(Some(1), None))).unwrap();
    }
    m.now.set(m.now.get() + 3_600_001);
    assert_eq!(block_on(ann.cleanup()).unwrap(), (50, true));
    assert_eq!(block_on(ann.cleanup()).unwrap(), (2, false));
    assert_eq!((m.active("ann"), m.multipart.borrow().len()), (0, 0));
}

/// The bytes a challenge asks about, concatenated.
fn asked(bytes: &[u8], challenge: &Challenge) -> Vec<u8> {
    challenge.ranges.iter().flat_map(|&(o, l)| bytes[o as usize..(o + l) as usize].to_vec()).collect()
}

#[test]
fn instant_upload_needs_the_stored_bytes_and_each_challenge_answers_once() {
    let m = Memory::new();
    let ann = Uploads::new(&m, caller("ann"));
    let bytes = file();
    let key = key_of(&bytes);
    let (upload, claimed) = uploaded(&m, &ann, &bytes, Some(&key));
    block_on(ann.complete(upload, &claimed)).unwrap();
    let bob = Uploads::new(&m, caller("bob"));
    let (id, _) = bob.challenge(&request(Some(11 * MIB), Some(&key.to_ascii_uppercase()))).unwrap();
    assert_eq!(block_on(ann.answer(&id, "x")).unwrap_err().code(), "no-such-challenge", "only its asker may answer");
    let (id, _) = bob.challenge(&request(Some(11 * MIB), Some(&key))).unwrap();
    assert_eq!(block_on(bob.answer(&id, "wrong")).unwrap_err().code(), "challenge-failed");
    assert_eq!(block_on(bob.answer(&id, "wrong")).unwrap_err().code(), "no-such-challenge", "a challenge is answered once");
    let (id, challenge) = bob.challenge(&request(Some(11 * MIB), Some(&key))).unwrap();
    assert_eq!(challenge.ranges.len(), 4, "{challenge:?}");
    let first_only = bytes[challenge.ranges[0].0 as usize..][..4 * 16 * 1024].to_vec();
    assert!(block_on(bob.answer(&id, &edge_protocol::instant::answer(&challenge.nonce, &first_only))).is_err(), "one range is not enough");
    let (id, challenge) = bob.challenge(&request(Some(11 * MIB), Some(&key))).unwrap();
    let (copy, receipt) = block_on(bob.answer(&id, &edge_protocol::instant::answer(&challenge.nonce, &asked(&bytes, &challenge)))).unwrap();
    assert_eq!((copy.owner.as_str(), copy.state, copy.size), ("bob", State::Complete, Some(11 * MIB)));
    assert_eq!(Receipt::verify(&receipt, RECEIPT_KEY.as_bytes()).unwrap().content_key, Some(key.clone()));
    let (id, _) = bob.challenge(&request(Some(10 * MIB), Some(&key))).unwrap();
    assert_eq!(block_on(bob.answer(&id, "anything")).unwrap_err().code(), "challenge-failed", "no stored file of that size");
    m.limited.set(true);
    assert_eq!(bob.challenge(&request(Some(MIB), Some(&key))).unwrap_err().code(), "too-many-challenges");
}

#[test]
fn a_declared_key_with_other_bytes_never_takes_over_the_index() {
    let m = Memory::new();
    let genuine = file();
    let victim_key = key_of(&genuine);
    // Mallory declares the victim's key but sends other bytes: completed, indexed under its own.
    let mallory = Uploads::new(&m, caller("mallory"));
    let mut other = genuine.clone();
    other[5 * MIB as usize] ^= 1;
    let (upload, claimed) = uploaded(&m, &mallory, &other, Some(&victim_key));
    block_on(mallory.complete(upload.clone(), &claimed)).unwrap();
    assert_eq!(m.find(&victim_key, 11 * MIB).unwrap(), None);
    assert_eq!(m.find(&key_of(&other), 11 * MIB).unwrap(), Some(upload.key.clone()));
    // The owner's genuine upload is indexed under the genuine key; a later one does not replace it.
    let ann = Uploads::new(&m, caller("ann"));
    let (first, claimed) = uploaded(&m, &ann, &genuine, Some(&victim_key));
    block_on(ann.complete(first.clone(), &claimed)).unwrap();
    let (second, claimed) = uploaded(&m, &mallory, &genuine, Some(&victim_key));
    block_on(mallory.complete(second, &claimed)).unwrap();
    assert_eq!(m.find(&victim_key, 11 * MIB).unwrap(), Some(first.key.clone()), "the first entry stays");
    // An entry whose object is gone is dropped when a challenge finds it missing.
    m.objects.borrow_mut().remove(&first.key);
    let bob = Uploads::new(&m, caller("bob"));
    let (id, challenge) = bob.challenge(&request(Some(11 * MIB), Some(&victim_key))).unwrap();
    let answer = edge_protocol::instant::answer(&challenge.nonce, &asked(&genuine, &challenge));
    assert_eq!(block_on(bob.answer(&id, &answer)).unwrap_err().code(), "challenge-failed");
    assert_eq!(m.find(&victim_key, 11 * MIB).unwrap(), None);
}

#[test]
fn a_cover_is_recorded_only_when_its_bytes_are_the_picture_its_key_names() {
    let m = Memory::new();
    let ann = Uploads::new(&m, caller("ann"));
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0; 100]].concat();
    let (key, _, _) = ann.form("cover.png", "image/png", Some(png.len() as u64)).unwrap();
    assert_eq!(block_on(ann.check_cover(&key)).unwrap_err().code(), "no-such-cover", "not uploaded yet");
    m.objects.borrow_mut().insert(key.clone(), png);
    assert_eq!(block_on(ann.check_cover(&key)).unwrap(), "image/png");
    assert_eq!(m.covers.borrow().get(&key).map(String::as_str), Some("image/png"));
    assert_eq!(block_on(Uploads::new(&m, caller("bob")).check_cover(&key)).unwrap_err().code(), "no-such-cover", "only its owner's");

    let (fake, _, _) = ann.form("cover.png", "image/png", Some(10)).unwrap();
    m.objects.borrow_mut().insert(fake.clone(), b"<svg onload=alert(1)>".to_vec());
    let refused = block_on(ann.check_cover(&fake)).unwrap_err();
    assert_eq!((refused.status().as_u16(), refused.code()), (422, "unrecognised-content"));
    assert!(!m.objects.borrow().contains_key(&fake) && !m.covers.borrow().contains_key(&fake), "deleted, never recorded");
    let (gif, _, _) = ann.form("cover.png", "image/png", Some(10)).unwrap();
    m.objects.borrow_mut().insert(gif.clone(), b"GIF89a\x01\0\x01\0".to_vec());
    assert_eq!(block_on(ann.check_cover(&gif)).unwrap_err().code(), "unrecognised-content", "a GIF is no PNG");
}

#[test]
fn form_uploads_are_charged_and_large_files_go_multipart() {
    let m = Memory::new();
    let ann = Uploads::new(&m, caller("ann"));
    let (key, form, expires_at) = ann.form("cover.png", "image/png", Some(1000)).unwrap();
    assert!(key.ends_with(".png") && form.fields.iter().any(|(k, v)| k == "key" && *v == key), "{form:?}");
    assert_eq!((expires_at, m.today("ann")), (m.now.get() + 600_000, 1000));
    assert_eq!(ann.form("big.png", "image/png", Some(21 * MIB)).unwrap_err().code(), "use-multipart");
    assert_eq!(ann.form("x.gif", "image/gif", Some(10)).unwrap_err().status().as_u16(), 415);
}
