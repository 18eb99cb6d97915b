//! `Uploader`: one file into the object store through upload-sign.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

mod transfer;

use super::client::{Client, Session};
use super::error::{Result, SdkError};
use super::hash;
use super::js::{self, get, to_js};
use crate::challenge::{self, Hashed};
use crate::progress::{eta_secs, Meter, Progress};
use crate::resume::{self, Saved};
use crate::retry::Backoff;
use crate::{media, parts};

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
