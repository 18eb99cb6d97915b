//! The one error the SDK rejects its promises with: a JavaScript `Error` named
//! `VideoEdgeError` carrying the server's problem details.

use wasm_bindgen::{JsCast, JsValue};

/// Why a call failed.
#[derive(Debug)]
pub enum SdkError {
    /// The server answered with an RFC 9457 problem (or a non-JSON error status).
    Problem { status: u16, code: String, detail: String, body: JsValue },
    /// The request never got an answer.
    Network(String),
    /// The caller cancelled it.
    Cancelled,
    /// A misuse of the SDK or a browser refusal, explained.
    Other(String),
}

impl SdkError {
    /// A problem from a status and the parsed body (`null` when there was none).
    pub fn problem(status: u16, body: JsValue) -> Self {
        let field = |name: &str| js_sys::Reflect::get(&body, &name.into()).ok().and_then(|v| v.as_string());
        let code = field("code").unwrap_or_else(|| format!("http-{status}"));
        let detail = field("detail").or_else(|| field("title")).unwrap_or_else(|| format!("the server answered {status}"));
        SdkError::Problem { status, code, detail, body }
    }

    /// The HTTP status (0 when there was no answer).
    pub fn status(&self) -> u16 {
        match self {
            SdkError::Problem { status, .. } => *status,
            _ => 0,
        }
    }

    /// The stable problem `code`, or `network`, `cancelled`, `sdk`.
    pub fn code(&self) -> &str {
        match self {
            SdkError::Problem { code, .. } => code,
            SdkError::Network(_) => "network",
            SdkError::Cancelled => "cancelled",
            SdkError::Other(_) => "sdk",
        }
    }

    /// A thrown JavaScript value, as an error (a network failure when it is a `TypeError`,
    /// as `fetch` throws them).
    pub fn from_js(value: JsValue) -> Self {
        if let Some(error) = value.dyn_ref::<js_sys::Error>() {
            let name = error.name().as_string().unwrap_or_default();
            let message = error.message().as_string().unwrap_or_default();
            if name == "VideoEdgeError" {
                return rebuild(&value, message);
            }
            return if name == "TypeError" { SdkError::Network(message) } else { SdkError::Other(format!("{name}: {message}")) };
        }
        SdkError::Other(value.as_string().unwrap_or_else(|| format!("{value:?}")))
    }
}

/// An error that went through JavaScript (a shared promise) back into its Rust form.
fn rebuild(value: &JsValue, message: String) -> SdkError {
    let get = |name: &str| js_sys::Reflect::get(value, &name.into()).unwrap_or(JsValue::UNDEFINED);
    let status = get("status").as_f64().unwrap_or(0.0) as u16;
    match get("code").as_string().as_deref() {
        Some("network") => SdkError::Network(message),
        Some("cancelled") => SdkError::Cancelled,
        Some("sdk") | None => SdkError::Other(message),
        Some(code) => SdkError::Problem { status, code: code.to_owned(), detail: message, body: get("problem") },
    }
}

impl From<SdkError> for JsValue {
    fn from(error: SdkError) -> JsValue {
        let (message, problem) = match &error {
            SdkError::Problem { detail, body, .. } => (detail.clone(), body.clone()),
            SdkError::Network(m) => (format!("the network failed ({m}); check the connection and retry"), JsValue::NULL),
            SdkError::Cancelled => ("cancelled".to_owned(), JsValue::NULL),
            SdkError::Other(m) => (m.clone(), JsValue::NULL),
        };
        let js = js_sys::Error::new(&message);
        js.set_name("VideoEdgeError");
        let set = |k: &str, v: JsValue| {
            let _ = js_sys::Reflect::set(&js, &k.into(), &v);
        };
        set("status", JsValue::from(error.status()));
        set("code", JsValue::from(error.code()));
        set("problem", problem);
        js.into()
    }
}

impl From<JsValue> for SdkError {
    fn from(value: JsValue) -> Self {
        SdkError::from_js(value)
    }
}

/// Results inside the adapter.
pub(crate) type Result<T> = std::result::Result<T, SdkError>;
