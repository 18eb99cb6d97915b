//! `Uploader`: one file into the object store through upload-sign.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::client::{Client, Session};
use super::error::{Result, SdkError};
use super::hash;
use super::js::{self, get, to_js};
use crate::challenge::{self, Hashed};
use crate::progress::{eta_secs, Meter, Progress};
use crate::resume::{self, Saved};
use crate::retry::{classify, Backoff, Outcome};
use crate::{media, parts};

/// Part numbers signed per request: a few rounds of parallel uploads.
const SIGN_BATCH: usize = 16;
/// A signed URL this close to expiry is signed again before use.
const SIGN_MARGIN_MS: f64 = 60_000.0;
/// Progress events at most this often (the last one always goes out).
const EMIT_EVERY_MS: f64 = 100.0;

/// Uploads one `File`: hashes it (in a worker), tries instant upload, else uploads its parts
/// in parallel with retries, and completes; resumes what a reloaded page left unfinished.
#[wasm_bindgen]
pub struct Uploader {
    task: Rc<Task>,
}

struct Options {
    parallelism: usize,
    retries: u32,
    backoff: Backoff,
    part_size: Option<u64>,
    worker: Option<String>,
}

struct Task {
    session: Rc<Session>,
    file: web_sys::File,
    options: Options,
    listener: RefCell<Option<js_sys::Function>>,
    started: Cell<bool>,
    paused: Cell<bool>,
    cancelled: Cell<bool>,
    waiters: RefCell<Vec<js_sys::Function>>,
    in_flight: RefCell<BTreeMap<u64, web_sys::XmlHttpRequest>>,
    upload: RefCell<Option<(String, String)>>,
    counters: RefCell<Counters>,
}

#[derive(Default)]
struct Counters {
    phase: &'static str,
    done_bytes: u64,
    loading: BTreeMap<u64, u64>,
    parts_done: u64,
    parts_total: u64,
    meter: Meter,
    last_emit: f64,
}

/// The upload as parts: which remain, which are stored, which URLs are signed.
struct Transfer {
    id: String,
    size: u64,
    part_size: u64,
    queue: RefCell<VecDeque<u64>>,
    etags: RefCell<BTreeMap<u64, String>>,
    signed: RefCell<HashMap<u64, Signed>>,
    /// Base64 SHA-256 of each part (part 1 first) when the upload declared a content key.
    checksums: Vec<String>,
}

#[derive(Clone)]
struct Signed {
    url: String,
    headers: JsValue,
    expires_at: f64,
}

enum Put {
    Stored(String),
    Interrupted,
    Failed(u16),
}

#[wasm_bindgen]
impl Uploader {
    /// An upload of `file` for the signed-in user of `client`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        client: &Client,
        file: web_sys::File,
        #[wasm_bindgen(unchecked_param_type = "UploadOptions | undefined")] options: JsValue,
    ) -> Uploader {
        let number = |name: &str| get(&options, name).as_f64().filter(|n| n.is_finite() && *n >= 0.0);
        let worker = match get(&options, "hashWorker") {
            v if v.as_bool() == Some(false) => None,
            v => Some(hash::worker_url(v.as_string())),
        };
        let options = Options {
            parallelism: number("parallelism").map_or(4, |n| n as usize).clamp(1, 16),
            retries: number("retries").map_or(5, |n| n as u32).min(20),
            backoff: Backoff::default(),
            part_size: number("partSize").map(|n| n as u64),
            worker,
        };
        let task = Task {
            session: client.session.clone(),
            file,
            options,
            listener: RefCell::new(None),
            started: Cell::new(false),
            paused: Cell::new(false),
            cancelled: Cell::new(false),
            waiters: RefCell::new(Vec::new()),
            in_flight: RefCell::new(BTreeMap::new()),
            upload: RefCell::new(None),
            counters: RefCell::new(Counters { phase: "ready", ..Counters::default() }),
        };
        Uploader { task: Rc::new(task) }
    }

    /// Calls `listener(progress)` as the upload moves (at most ten times a second).
    #[wasm_bindgen(js_name = onProgress)]
    pub fn on_progress(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((progress: UploadProgress) => void) | null")] listener: Option<js_sys::Function>,
    ) {
        self.task.listener.replace(listener);
    }

    /// Runs the upload to the end: the receipt to create a video with.
    #[wasm_bindgen(unchecked_return_type = "Promise<UploadResult>")]
    pub fn start(&self) -> js_sys::Promise {
        let task = self.task.clone();
        future_to_promise(async move {
            if task.started.replace(true) {
                return Err(SdkError::Other("this upload has already started; make a new Uploader".into()).into());
            }
            let result = task.clone().run().await;
            if result.is_err() {
                task.abort_in_flight();
            }
            Ok(result?)
        })
    }

    /// Stops sending: parts in flight are dropped and sent again on `resume()`.
    pub fn pause(&self) {
        if self.task.cancelled.get() || self.task.paused.replace(true) {
            return;
        }
        self.task.abort_in_flight();
        self.task.phase("paused");
    }

    /// Carries on after `pause()`.
    pub fn resume(&self) {
        if !self.task.paused.replace(false) {
            return;
        }
        self.task.phase("uploading");
        self.task.wake();
    }

    /// Whether the upload is paused.
    #[wasm_bindgen(getter)]
    pub fn paused(&self) -> bool {
        self.task.paused.get()
    }

    /// Stops for good and aborts the upload on the server; `start()` rejects with code
    /// `cancelled`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn cancel(&self) -> js_sys::Promise {
        let task = self.task.clone();
        future_to_promise(async move {
            task.cancelled.set(true);
            task.paused.set(false);
            task.abort_in_flight();
            task.wake();
            let upload = task.upload.borrow_mut().take();
            if let Some((id, key)) = upload {
                forget(&key);
                task.session.call("DELETE", &format!("/uploads/{id}"), None).await?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Whether this browser can play `file` in a `<video>` (`canPlayType` of its type), for
    /// the page to warn before uploading it. A warning only: upload-sign refuses content that
    /// is not MP4/MOV, WebM/Matroska or MPEG-TS when the upload completes.
    pub fn playable(file: &web_sys::File) -> bool {
        let video = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.create_element("video").ok())
            .and_then(|e| e.dyn_into::<web_sys::HtmlMediaElement>().ok());
        let content_type = file.type_();
        media::playable(&content_type, &video.map(|v| v.can_play_type(&content_type)).unwrap_or_default())
    }

    /// The signed-in user's uploads a reloaded page left unfinished: choosing the same file
    /// again resumes one.
    #[wasm_bindgen(unchecked_return_type = "SavedUpload[]")]
    pub fn unfinished(client: &Client) -> JsValue {
        let list = js_sys::Array::new();
        if let (Some(store), Some(user)) = (js::storage(), client.session.user_id()) {
            for i in 0..store.length().unwrap_or(0) {
                let Some(key) = store.key(i).ok().flatten().filter(|k| resume::belongs_to(k, &user)) else { continue };
                if let Some(saved) = store.get_item(&key).ok().flatten().and_then(|v| serde_json::from_str::<Saved>(&v).ok()) {
                    list.push(&to_js(&saved));
                }
            }
        }
        list.into()
    }
}

fn load(key: &str) -> Option<Saved> {
    serde_json::from_str(&js::storage()?.get_item(key).ok()??).ok()
}

fn save(key: &str, saved: &Saved) {
    if let Some(store) = js::storage() {
        let _ = store.set_item(key, &serde_json::to_string(saved).unwrap_or_default());
    }
}

fn forget(key: &str) {
    if let Some(store) = js::storage() {
        let _ = store.remove_item(key);
    }
}

/// What `start()` resolves with.
fn outcome(receipt: &JsValue, upload: &JsValue, instant: bool, resumed: bool) -> JsValue {
    let result = to_js(&json!({ "instant": instant, "resumed": resumed }));
    let _ = js_sys::Reflect::set(&result, &"receipt".into(), receipt);
    let _ = js_sys::Reflect::set(&result, &"upload".into(), upload);
    result
}

impl Task {
    async fn run(self: Rc<Self>) -> Result<JsValue> {
        let user = self.session.user_id().ok_or_else(|| SdkError::Other("sign in before uploading".into()))?;
        let size = self.file.size() as u64;
        let filename = self.file.name();
        let content_type = Some(self.file.type_()).filter(|t| !t.is_empty()).unwrap_or_else(|| "application/octet-stream".into());
        let key = resume::key(&user, &filename, size, self.file.last_modified() as u64);

        if let Some(saved) = load(&key) {
            match self.session.call("GET", &format!("/uploads/{}", saved.id), None).await {
                Ok(status) if get(&status, "state").as_string().as_deref() == Some("active") => {
                    let checksums = if get(&status, "content_key").is_string() { saved.hashed.checksums } else { Vec::new() };
                    return self.transfer(&key, &status, checksums, true).await;
                }
                Ok(status) if get(&status, "receipt").is_string() => {
                    forget(&key);
                    return Ok(outcome(&get(&status, "receipt"), &status, false, true));
                }
                Err(e) if e.status() == 0 || e.status() == 401 || e.status() >= 500 => return Err(e),
                _ => forget(&key),
            }
        }

        self.phase("hashing");
        let hashed = self.hash(size).await?;
        self.check()?;
        self.phase("checking");
        let meta = json!({ "filename": filename, "size": size, "content_type": content_type, "content_key": hashed.content_key });
        if let Some(done) = self.instant(&meta, size).await? {
            self.phase("done");
            return Ok(done);
        }
        self.check()?;
        let mut create = meta;
        // The content key is defined over the default layout: another part size gives it up.
        let checksums = match self.options.part_size.filter(|&p| p != parts::default_part_size(size)) {
            Some(part_size) => {
                create["part_size"] = json!(part_size);
                create.as_object_mut().map(|o| o.remove("content_key"));
                Vec::new()
            }
            None => hashed.checksums.clone(),
        };
        let upload = self.session.call("POST", "/uploads", Some(to_js(&create))).await?;
        let id = get(&upload, "id").as_string().unwrap_or_default();
        save(&key, &Saved { id, hashed, filename, size, started_at: js::now() as u64 });
        self.transfer(&key, &upload, checksums, false).await
    }

    async fn hash(self: &Rc<Self>, size: u64) -> Result<Hashed> {
        let progress = {
            let task = Rc::downgrade(self);
            move |bytes: u64| {
                if let Some(task) = task.upgrade() {
                    task.counters.borrow_mut().done_bytes = bytes.min(size);
                    task.emit(bytes >= size);
                }
            }
        };
        if let Some(url) = &self.options.worker {
            match hash::hash_in_worker(url, &self.file, progress.clone()).await {
                Ok(hashed) => return Ok(hashed),
                Err(e) => web_sys::console::warn_1(&format!("hashing on the page instead: {e:?}").into()),
            }
        }
        hash::hash_here(&self.file, progress).await
    }

    /// Instant upload: the server names byte ranges and a nonce, the answer over those bytes
    /// proves the file is here. `None` when no stored object matches (or instant upload is
    /// unavailable).
    async fn instant(&self, meta: &serde_json::Value, size: u64) -> Result<Option<JsValue>> {
        let fatal = |e: &SdkError| e.status() == 0 || e.status() == 401;
        let challenge = match self.session.call("POST", "/uploads/instant", Some(to_js(meta))).await {
            Ok(c) => c,
            Err(e) if fatal(&e) => return Err(e),
            Err(_) => return Ok(None),
        };
        let mut bytes = Vec::new();
        for range in js::items(&get(&challenge, "ranges")) {
            let at = |i: u32| js_sys::Reflect::get_u32(&range, i).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) as u64;
            let (offset, length) = (at(0).min(size), at(1));
            bytes.extend(hash::read(&self.file, offset, offset.saturating_add(length).min(size)).await?);
        }
        let answer = challenge::answer(&get(&challenge, "nonce").as_string().unwrap_or_default(), &bytes);
        let id = get(&challenge, "challenge_id").as_string().unwrap_or_default();
        match self.session.call("POST", &format!("/uploads/instant/{id}"), Some(to_js(&json!({ "answer": answer })))).await {
            Ok(done) => {
                let mut counters = self.counters.borrow_mut();
                counters.done_bytes = size;
                Ok(Some(outcome(&get(&done, "receipt"), &get(&done, "upload"), true, false)))
            }
            Err(e) if fatal(&e) => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// Sends the parts the server does not hold yet, then completes.
    async fn transfer(self: &Rc<Self>, key: &str, upload: &JsValue, checksums: Vec<String>, resumed: bool) -> Result<JsValue> {
        let id = get(upload, "id").as_string().unwrap_or_default();
        let number = |name: &str| get(upload, name).as_f64().unwrap_or(0.0) as u64;
        let (size, part_size, part_count) = (number("size"), number("part_size"), number("part_count"));
        self.upload.replace(Some((id.clone(), key.to_owned())));
        let mut etags = BTreeMap::new();
        let mut stored = 0;
        for part in js::items(&get(upload, "parts")) {
            let (n, etag) = (get(&part, "part_number").as_f64().unwrap_or(0.0) as u64, get(&part, "etag").as_string());
            if let (1.., Some(etag)) = (n, etag) {
                etags.insert(n, etag);
                stored += get(&part, "size").as_f64().unwrap_or(0.0) as u64;
            }
        }
        {
            let mut c = self.counters.borrow_mut();
            c.done_bytes = stored;
            c.parts_done = etags.len() as u64;
            c.parts_total = part_count;
            c.meter.reset();
        }
        let queue = (1..=part_count).filter(|n| !etags.contains_key(n)).collect();
        let transfer = Rc::new(Transfer {
            id: id.clone(),
            size,
            part_size,
            queue: RefCell::new(queue),
            etags: RefCell::new(etags),
            signed: RefCell::default(),
            checksums,
        });
        self.phase(if self.paused.get() { "paused" } else { "uploading" });
        let workers = (0..self.options.parallelism).map(|_| self.clone().send_parts(transfer.clone()));
        futures_util::future::try_join_all(workers).await?;
        self.check()?;

        self.phase("completing");
        let parts: Vec<_> = transfer.etags.borrow().iter().map(|(n, etag)| json!({ "part_number": n, "etag": etag })).collect();
        let done = match self.session.call("POST", &format!("/uploads/{id}/complete"), Some(to_js(&json!({ "parts": parts })))).await {
            // The server refused the content for good (and deleted it): nothing to resume.
            Err(e) if e.status() == 422 => {
                forget(key);
                return Err(e);
            }
            done => done?,
        };
        forget(key);
        self.upload.replace(None);
        self.phase("done");
        Ok(outcome(&get(&done, "receipt"), &get(&done, "upload"), false, resumed))
    }

    /// One of `parallelism` loops taking parts off the queue until it is empty.
    async fn send_parts(self: Rc<Self>, t: Rc<Transfer>) -> Result<()> {
        loop {
            self.until_resumed().await?;
            let Some(n) = t.queue.borrow_mut().pop_front() else { return Ok(()) };
            let (start, end) =
                parts::range(n, t.part_size, t.size).ok_or_else(|| SdkError::Other(format!("part {n} is outside the file")))?;
            let mut attempt = 0;
            loop {
                let signed = self.sign(&t, n).await?;
                match self.put(n, &signed, start, end).await? {
                    Put::Stored(etag) => {
                        t.etags.borrow_mut().insert(n, etag);
                        self.part_done(n, end - start);
                        break;
                    }
                    Put::Interrupted => {
                        self.part_loading(n, 0);
                        self.check()?;
                        t.queue.borrow_mut().push_front(n);
                        break;
                    }
                    Put::Failed(status) => {
                        self.part_loading(n, 0);
                        let outcome = classify(status);
                        if outcome == Outcome::Fail || attempt >= self.options.retries {
                            let detail = format!("part {n} failed {} time(s), last with status {status}; resume to try again", attempt + 1);
                            return Err(if status == 0 {
                                SdkError::Network(detail)
                            } else {
                                SdkError::Problem { status, code: "part-failed".into(), detail, body: JsValue::NULL }
                            });
                        }
                        if outcome == Outcome::Resign {
                            t.signed.borrow_mut().remove(&n);
                        }
                        js::sleep(f64::from(self.options.backoff.delay_ms(attempt, js_sys::Math::random()))).await;
                        attempt += 1;
                        self.until_resumed().await?;
                    }
                }
            }
        }
    }

    /// A presigned URL for part `n`, signing it with the next parts in the queue in one call.
    async fn sign(&self, t: &Transfer, n: u64) -> Result<Signed> {
        if let Some(s) = t.signed.borrow().get(&n).filter(|s| s.expires_at - SIGN_MARGIN_MS > js::now()) {
            return Ok(s.clone());
        }
        let mut batch = vec![n];
        batch.extend(t.queue.borrow().iter().filter(|m| !t.signed.borrow().contains_key(m)).take(SIGN_BATCH - 1));
        let checksums: serde_json::Map<String, serde_json::Value> = batch
            .iter()
            .filter_map(|&m| Some((m.to_string(), t.checksums.get(usize::try_from(m).ok()?.checked_sub(1)?)?.clone().into())))
            .collect();
        let body = json!({ "part_numbers": batch, "checksums": checksums });
        let answer = self.session.call("POST", &format!("/uploads/{}/parts", t.id), Some(to_js(&body))).await?;
        let expires_at = get(&answer, "expires_at").as_f64().unwrap_or(0.0);
        for part in js::items(&get(&answer, "parts")) {
            let (number, url) =
                (get(&part, "part_number").as_f64().unwrap_or(0.0) as u64, get(&part, "url").as_string().unwrap_or_default());
            t.signed.borrow_mut().insert(number, Signed { url, headers: get(&part, "headers"), expires_at });
        }
        t.signed.borrow().get(&n).cloned().ok_or_else(|| SdkError::Other(format!("the server signed no URL for part {n}")))
    }

    /// `PUT`s one part with `XMLHttpRequest`, which, unlike `fetch`, reports upload progress.
    async fn put(self: &Rc<Self>, n: u64, signed: &Signed, start: u64, end: u64) -> Result<Put> {
        let xhr = web_sys::XmlHttpRequest::new()?;
        xhr.open_with_async("PUT", &signed.url, true)?;
        let headers = signed.headers.dyn_ref::<js_sys::Object>().map(js_sys::Object::keys).unwrap_or_default();
        for name in headers.iter() {
            let name = name.as_string().unwrap_or_default();
            xhr.set_request_header(&name, &get(&signed.headers, &name).as_string().unwrap_or_default())?;
        }
        let (finished, settle, _) = js::deferred();
        let finish = |code: f64| {
            let settle = settle.clone();
            Closure::<dyn FnMut()>::new(move || {
                let _ = settle.call1(&JsValue::NULL, &JsValue::from(code));
            })
        };
        let (on_error, on_abort) = (finish(0.0), finish(-1.0));
        let on_load = {
            let xhr = xhr.clone();
            Closure::<dyn FnMut()>::new(move || {
                let _ = settle.call1(&JsValue::NULL, &JsValue::from(xhr.status().unwrap_or(0)));
            })
        };
        let task = Rc::downgrade(self);
        let on_progress = Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |event: web_sys::ProgressEvent| {
            if let Some(task) = task.upgrade() {
                task.part_loading(n, event.loaded() as u64);
            }
        });
        xhr.set_onload(Some(on_load.as_ref().unchecked_ref()));
        xhr.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        xhr.set_ontimeout(Some(on_error.as_ref().unchecked_ref()));
        xhr.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
        let upload = xhr.upload()?;
        upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        let body = self.file.slice_with_f64_and_f64(start as f64, end as f64)?;
        self.in_flight.borrow_mut().insert(n, xhr.clone());
        let sent = xhr.send_with_opt_blob(Some(&body));
        let code = match sent {
            Ok(()) => JsFuture::from(finished).await?.as_f64().unwrap_or(0.0),
            Err(_) => 0.0,
        };
        self.in_flight.borrow_mut().remove(&n);
        xhr.set_onload(None);
        xhr.set_onerror(None);
        xhr.set_ontimeout(None);
        xhr.set_onabort(None);
        upload.set_onprogress(None);
        if code < 0.0 {
            return Ok(Put::Interrupted);
        }
        let status = code as u16;
        if classify(status) != Outcome::Done {
            return Ok(Put::Failed(status));
        }
        match xhr.get_response_header("etag").ok().flatten() {
            Some(etag) => Ok(Put::Stored(etag)),
            None => Err(SdkError::Other(
                "the object store answered without an ETag header: its CORS rule must expose ETag (see README, Uploads)".into(),
            )),
        }
    }

    fn check(&self) -> Result<()> {
        if self.cancelled.get() {
            Err(SdkError::Cancelled)
        } else {
            Ok(())
        }
    }

    async fn until_resumed(&self) -> Result<()> {
        while self.paused.get() && !self.cancelled.get() {
            let (waiting, resolve, _) = js::deferred();
            self.waiters.borrow_mut().push(resolve);
            JsFuture::from(waiting).await?;
        }
        self.check()
    }

    fn wake(&self) {
        for resolve in self.waiters.take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }

    fn abort_in_flight(&self) {
        let in_flight: Vec<_> = self.in_flight.borrow().values().cloned().collect();
        for xhr in in_flight {
            let _ = xhr.abort();
        }
    }

    fn part_loading(&self, n: u64, bytes: u64) {
        self.counters.borrow_mut().loading.insert(n, bytes);
        self.emit(false);
    }

    fn part_done(&self, n: u64, bytes: u64) {
        {
            let mut c = self.counters.borrow_mut();
            c.loading.remove(&n);
            c.done_bytes += bytes;
            c.parts_done += 1;
        }
        self.emit(true);
    }

    fn phase(&self, phase: &'static str) {
        {
            let mut c = self.counters.borrow_mut();
            if c.phase != phase {
                c.meter.reset();
            }
            c.phase = phase;
        }
        self.emit(true);
    }

    /// Sends a progress event; the listener runs with no borrow held, so it may call back in.
    fn emit(&self, always: bool) {
        let now = js::now();
        let event = {
            let mut c = self.counters.borrow_mut();
            if !always && now - c.last_emit < EMIT_EVERY_MS {
                return;
            }
            c.last_emit = now;
            let total = self.file.size() as u64;
            let bytes = (c.done_bytes + c.loading.values().sum::<u64>()).min(total);
            let rate = if matches!(c.phase, "hashing" | "uploading") { c.meter.sample(now, bytes) } else { 0.0 };
            let progress = Progress {
                phase: c.phase,
                bytes,
                total,
                parts_done: c.parts_done,
                parts_total: c.parts_total,
                rate,
                eta_secs: eta_secs(total - bytes, rate),
            };
            to_js(&progress)
        };
        let listener = self.listener.borrow().clone();
        js::emit(&listener, &event);
    }
}
