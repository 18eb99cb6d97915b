//! A file's content key and part digests ([`Hashed`]), read slice by slice; in a module worker
//! when one can start, so a large file does not freeze the page.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::error::{Result, SdkError};
use super::js::{self, get};
use crate::challenge::{ContentHash, Hashed};
use crate::parts;

/// Bytes read per step: large enough to keep hashing fast, small enough to stay responsive.
const SLICE: u64 = 8 * 1024 * 1024;

#[wasm_bindgen(inline_js = "export function default_worker_url() { return new URL('../../hash-worker.js', import.meta.url).href; }")]
extern "C" {
    // This snippet lives in `snippets/<crate>/`, two levels below the SDK files.
    fn default_worker_url() -> String;
}

/// The content key and part digests of `blob` as JSON, calling `onProgress(bytesHashed)` after
/// each slice. Exported for `hash-worker.js`; pages use an `Uploader`.
#[wasm_bindgen(js_name = hashFile, unchecked_return_type = "Promise<string>")]
pub fn hash_file(
    blob: web_sys::Blob,
    #[wasm_bindgen(unchecked_param_type = "((bytes: number) => void) | null")] on_progress: Option<js_sys::Function>,
) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let hashed = hash_here(&blob, |bytes| {
            if let Some(f) = &on_progress {
                let _ = f.call1(&JsValue::NULL, &JsValue::from(bytes as f64));
            }
        })
        .await?;
        Ok(serde_json::to_string(&hashed).unwrap_or_default().into())
    })
}

/// Bytes `[start, end)` of `blob`.
pub(crate) async fn read(blob: &web_sys::Blob, start: u64, end: u64) -> Result<Vec<u8>> {
    let slice = blob.slice_with_f64_and_f64(start as f64, end as f64)?;
    let buffer = JsFuture::from(slice.array_buffer()).await?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Hashes on this thread.
pub(crate) async fn hash_here(blob: &web_sys::Blob, mut progress: impl FnMut(u64)) -> Result<Hashed> {
    let mut hash = ContentHash::new(blob.size() as u64);
    for (start, end) in parts::slices(blob.size() as u64, SLICE) {
        hash.update(&read(blob, start, end).await?);
        progress(end);
    }
    Ok(hash.finish())
}

/// Where the worker script is: `url` when given, else `hash-worker.js` beside the SDK.
pub(crate) fn worker_url(url: Option<String>) -> String {
    url.unwrap_or_else(default_worker_url)
}

/// Hashes in a module worker at `url`; the error says why when no worker could do it (the
/// caller then hashes on the page).
pub(crate) async fn hash_in_worker(url: &str, file: &web_sys::File, progress: impl Fn(u64) + 'static) -> Result<Hashed> {
    let options = web_sys::WorkerOptions::new();
    options.set_type(web_sys::WorkerType::Module);
    let worker = web_sys::Worker::new_with_options(url, &options)?;
    let (done, resolve, reject) = js::deferred();
    let on_message = {
        let reject = reject.clone();
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let data = event.data();
            let (progress_bytes, hashed) = (get(&data, "progress").as_f64(), get(&data, "hashed"));
            if let Some(bytes) = progress_bytes {
                progress(bytes as u64);
            } else if hashed.is_string() {
                let _ = resolve.call1(&JsValue::NULL, &hashed);
            } else {
                let why = get(&data, "error").as_string().unwrap_or_else(|| "the worker answered nothing useful".into());
                let _ = reject.call1(&JsValue::NULL, &SdkError::Other(why).into());
            }
        })
    };
    let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |event: web_sys::ErrorEvent| {
        event.prevent_default();
        let _ = reject.call1(&JsValue::NULL, &SdkError::Other(format!("the hashing worker failed: {}", event.message())).into());
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    worker.post_message(file)?;
    let result = JsFuture::from(done).await;
    worker.terminate();
    let json = result?.as_string().unwrap_or_default();
    serde_json::from_str(&json).map_err(|e| SdkError::Other(format!("the hashing worker answered {json:?}: {e}")))
}
