//! The part transfer of an [`Uploader`](super::Uploader): the parts the server does not hold
//! yet, signed in batches and sent `parallelism` at a time with `XMLHttpRequest` (for byte
//! progress), retried with backoff, then completed.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::{forget, outcome, Task};
use crate::parts;
use crate::retry::{classify, Outcome};
use crate::web::error::{Result, SdkError};
use crate::web::js::{self, get, to_js};

/// Part numbers signed per request: a few rounds of parallel uploads.
const SIGN_BATCH: usize = 16;
/// A signed URL this close to expiry is signed again before use.
const SIGN_MARGIN_MS: f64 = 60_000.0;

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

impl Task {
    /// Sends the parts the server does not hold yet, then completes.
    pub(super) async fn transfer(self: &Rc<Self>, key: &str, upload: &JsValue, checksums: Vec<String>, resumed: bool) -> Result<JsValue> {
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
}
