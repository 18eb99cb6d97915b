//! Small bindings the adapter shares: timers, `fetch` with JSON, object fields, storage.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::error::{Result, SdkError};

#[wasm_bindgen]
extern "C" {
    // Globals, so the same code runs in a window and in a worker.
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(callback: &JsValue, ms: f64) -> f64;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: f64);
    #[wasm_bindgen(js_name = fetch)]
    fn fetch(request: &web_sys::Request) -> js_sys::Promise;
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now() -> f64 {
    js_sys::Date::now()
}

/// A promise with its `resolve` and `reject` functions, for callbacks to settle (settling
/// twice is a no-op, so callbacks need not coordinate).
pub(crate) fn deferred() -> (js_sys::Promise, js_sys::Function, js_sys::Function) {
    let mut settle = None;
    let promise = js_sys::Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    let (resolve, reject) = settle.expect("the promise executor runs at once");
    (promise, resolve, reject)
}

/// Resolves after `ms`.
pub(crate) async fn sleep(ms: f64) {
    let (promise, resolve, _) = deferred();
    set_timeout(&resolve, ms);
    let _ = JsFuture::from(promise).await;
}

/// `object[name]`, `undefined` when absent or not an object.
pub(crate) fn get(object: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The items of a JavaScript array; none when `value` is not one.
pub(crate) fn items(value: &JsValue) -> Vec<JsValue> {
    value.dyn_ref::<js_sys::Array>().map(|a| a.iter().collect()).unwrap_or_default()
}

/// A Rust value as a plain JavaScript object.
pub(crate) fn to_js<T: Serialize>(value: &T) -> JsValue {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL)
}

/// `localStorage`, when the page may use it.
pub(crate) fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Sends a JSON request and answers the parsed body, or the server's problem as the error.
/// `credentials: same-origin` lets the refresh cookie ride along to `/auth/refresh`.
pub(crate) async fn request(method: &str, url: &str, token: Option<&str>, body: Option<&JsValue>) -> Result<JsValue> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    let headers = web_sys::Headers::new()?;
    headers.set("accept", "application/json, application/problem+json")?;
    if let Some(token) = token {
        headers.set("authorization", &format!("Bearer {token}"))?;
    }
    if let Some(body) = body {
        headers.set("content-type", "application/json")?;
        init.set_body(&js_sys::JSON::stringify(body)?.into());
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(url, &init)?;
    let response: web_sys::Response = JsFuture::from(fetch(&request)).await?.dyn_into()?;
    let text = JsFuture::from(response.text()?).await?.as_string().unwrap_or_default();
    let parsed = if text.is_empty() { JsValue::NULL } else { js_sys::JSON::parse(&text).unwrap_or(JsValue::NULL) };
    if response.ok() {
        Ok(parsed)
    } else {
        Err(SdkError::problem(response.status(), parsed))
    }
}

/// A JavaScript callback called with one argument; a listener that throws is the page's
/// problem, not the SDK's, so its error is dropped.
pub(crate) fn emit(listener: &Option<js_sys::Function>, value: &JsValue) {
    if let Some(f) = listener {
        let _ = f.call1(&JsValue::NULL, value);
    }
}

/// An id for a URL path: a whole number, or a string of letters, digits, `-` and `_`.
pub(crate) fn segment(id: &JsValue) -> Result<String> {
    let text = match id.as_f64() {
        Some(n) if n.fract() == 0.0 && n >= 0.0 => format!("{n:.0}"),
        _ => id.as_string().unwrap_or_default(),
    };
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(SdkError::Other(format!("{text:?} is not an id")));
    }
    Ok(text)
}

/// `?name=value&...` from the named fields of `options` that are set (percent-encoded).
pub(crate) fn query(options: &JsValue, names: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = names
        .iter()
        .filter_map(|(field, param)| {
            let value = get(options, field);
            let text = if let Some(n) = value.as_f64() {
                format!("{n}")
            } else if let Some(list) = value.dyn_ref::<js_sys::Array>() {
                list.iter().filter_map(|v| v.as_string()).collect::<Vec<_>>().join(",")
            } else {
                value.as_string()?
            };
            Some(format!("{param}={}", String::from(js_sys::encode_uri_component(&text))))
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}
