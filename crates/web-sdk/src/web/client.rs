//! `Client`: the signed-in session and every authorised call.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::error::{Result, SdkError};
use super::js::{self, get, to_js};
use crate::token::{expires_at, needs_refresh, refresh_delay_ms};

/// Tabs of one origin tell each other about new tokens and sign-outs here.
const CHANNEL: &str = "video-edge:auth";
/// The Web Lock held while refreshing, so one tab refreshes and the others take its token.
const LOCK: &str = "video-edge:refresh";

/// The API client of one page: signs in, keeps the access token in memory only (never in
/// storage, where injected script could read it), and sends authorised JSON requests.
#[wasm_bindgen]
pub struct Client {
    pub(crate) session: Rc<Session>,
}

#[derive(Clone)]
struct Token {
    value: String,
    expires_at: f64,
}

/// The state behind a [`Client`], shared with the uploaders and thin clients made from it.
pub(crate) struct Session {
    base: String,
    token: RefCell<Option<Token>>,
    user: RefCell<JsValue>,
    refreshing: RefCell<Option<js_sys::Promise>>,
    channel: Option<web_sys::BroadcastChannel>,
    listener: RefCell<Option<js_sys::Function>>,
    timer: Cell<Option<f64>>,
    on_message: RefCell<Option<MessageHandler>>,
}

/// The listener kept alive for the session's broadcast channel.
type MessageHandler = Closure<dyn FnMut(web_sys::MessageEvent)>;

#[wasm_bindgen]
impl Client {
    /// A client for the API at `baseUrl` (default: this page's origin).
    #[wasm_bindgen(constructor)]
    pub fn new(base_url: Option<String>) -> Client {
        let session = Rc::new(Session {
            base: base_url.unwrap_or_default().trim_end_matches('/').to_owned(),
            token: RefCell::new(None),
            user: RefCell::new(JsValue::NULL),
            refreshing: RefCell::new(None),
            channel: web_sys::BroadcastChannel::new(CHANNEL).ok(),
            listener: RefCell::new(None),
            timer: Cell::new(None),
            on_message: RefCell::new(None),
        });
        if let Some(channel) = &session.channel {
            let weak = Rc::downgrade(&session);
            let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
                if let Some(session) = weak.upgrade() {
                    session.receive(&event.data());
                }
            });
            channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            session.on_message.replace(Some(on_message));
        }
        Client { session }
    }

    /// Creates an account and signs in.
    #[wasm_bindgen(unchecked_return_type = "Promise<User>")]
    pub fn register(&self, username: String, password: String, display_name: Option<String>) -> js_sys::Promise {
        let body = json!({ "username": username, "password": password, "display_name": display_name });
        self.sign_in("/auth/register", body)
    }

    /// Signs in.
    #[wasm_bindgen(unchecked_return_type = "Promise<User>")]
    pub fn login(&self, username: String, password: String) -> js_sys::Promise {
        self.sign_in("/auth/login", json!({ "username": username, "password": password }))
    }

    /// Picks up the session a refresh cookie still holds (after a reload): the user, or
    /// `null` when signed out.
    #[wasm_bindgen(unchecked_return_type = "Promise<User | null>")]
    pub fn restore(&self) -> js_sys::Promise {
        let session = self.session.clone();
        future_to_promise(async move {
            match session.refresh(None).await {
                Ok(()) => Ok(session.user.borrow().clone()),
                Err(e) if e.status() == 401 => Ok(JsValue::NULL),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Signs this session out, here and in every other tab.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn logout(&self) -> js_sys::Promise {
        let session = self.session.clone();
        future_to_promise(async move {
            if session.current().is_some() {
                // Signed out locally whatever the server says: the token is dropped either way.
                let _ = session.call("POST", "/auth/logout", None).await;
            }
            session.set(None, JsValue::NULL, true);
            Ok(JsValue::UNDEFINED)
        })
    }

    /// The signed-in user, or `null`.
    #[wasm_bindgen(getter, unchecked_return_type = "User | null")]
    pub fn user(&self) -> JsValue {
        self.session.user.borrow().clone()
    }

    /// Calls `listener(user | null)` whenever the user signs in or out, here or in another tab.
    #[wasm_bindgen(js_name = onChange)]
    pub fn on_change(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((user: User | null) => void) | null")] listener: Option<js_sys::Function>,
    ) {
        self.session.listener.replace(listener);
    }

    /// Any API call: `method` and `path` (such as `/auth/sessions`), an optional JSON body.
    /// Authorised when signed in; refreshes and retries once on a `401`.
    #[wasm_bindgen(unchecked_return_type = "Promise<any>")]
    pub fn request(&self, method: String, path: String, body: JsValue) -> js_sys::Promise {
        let session = self.session.clone();
        let body = (!body.is_undefined() && !body.is_null()).then_some(body);
        future_to_promise(async move { Ok(session.call(&method.to_ascii_uppercase(), &path, body).await?) })
    }

    fn sign_in(&self, path: &'static str, body: serde_json::Value) -> js_sys::Promise {
        let session = self.session.clone();
        future_to_promise(async move {
            let answer = js::request("POST", &session.url(path), None, Some(&to_js(&body))).await?;
            Ok(session.adopt(&answer, true))
        })
    }
}

impl Session {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn current(&self) -> Option<Token> {
        self.token.borrow().clone()
    }

    /// [`Session::call`] as a JavaScript promise.
    pub(crate) fn promise(self: &Rc<Self>, method: &'static str, path: String, body: Option<JsValue>) -> js_sys::Promise {
        let session = self.clone();
        future_to_promise(async move { Ok(session.call(method, &path, body).await?) })
    }

    /// The signed-in user's id.
    pub(crate) fn user_id(&self) -> Option<String> {
        get(&self.user.borrow(), "id").as_string()
    }

    /// An authorised JSON call: refreshes a token about to expire first, and after a `401`
    /// refreshes and sends once more.
    pub(crate) async fn call(self: &Rc<Self>, method: &str, path: &str, body: Option<JsValue>) -> Result<JsValue> {
        let mut token = self.current();
        if let Some(t) = &token {
            if needs_refresh(js::now(), t.expires_at) && self.refresh(Some(t.value.clone())).await.is_ok() {
                token = self.current();
            }
        }
        let url = self.url(path);
        match js::request(method, &url, token.as_ref().map(|t| t.value.as_str()), body.as_ref()).await {
            Err(e) if e.status() == 401 && token.is_some() => {
                self.refresh(token.map(|t| t.value)).await?;
                let token = self.current();
                js::request(method, &url, token.as_ref().map(|t| t.value.as_str()), body.as_ref()).await
            }
            other => other,
        }
    }

    /// Replaces the token `stale` (the one the caller holds; `None` when it holds none). One
    /// refresh runs per tab at a time; callers arriving meanwhile wait for it.
    async fn refresh(self: &Rc<Self>, stale: Option<String>) -> Result<()> {
        let running = self.refreshing.borrow().clone();
        let promise = match running {
            Some(promise) => promise,
            None => {
                let this = self.clone();
                let promise = future_to_promise(async move {
                    let result = this.refresh_across_tabs(stale).await;
                    this.refreshing.replace(None);
                    result.map(|()| JsValue::UNDEFINED).map_err(JsValue::from)
                });
                self.refreshing.replace(Some(promise.clone()));
                promise
            }
        };
        JsFuture::from(promise).await.map(drop).map_err(SdkError::from_js)
    }

    /// Refreshes under the origin-wide Web Lock where the browser has one.
    async fn refresh_across_tabs(self: &Rc<Self>, stale: Option<String>) -> Result<()> {
        let locks = web_sys::window().map(|w| get(&w.navigator(), "locks")).unwrap_or(JsValue::UNDEFINED);
        let Ok(request) = get(&locks, "request").dyn_into::<js_sys::Function>() else {
            return self.refresh_now(stale).await;
        };
        let this = self.clone();
        let holder = Closure::once_into_js(move |_lock: JsValue| -> js_sys::Promise {
            future_to_promise(async move { this.refresh_now(stale).await.map(|()| JsValue::UNDEFINED).map_err(JsValue::from) })
        });
        let held: js_sys::Promise = request.call2(&locks, &LOCK.into(), &holder)?.dyn_into()?;
        JsFuture::from(held).await.map(drop).map_err(SdkError::from_js)
    }

    /// Asks the server for a new token, unless another tab already replaced `stale` (its
    /// token arrived over the channel while this one waited for the lock).
    async fn refresh_now(self: &Rc<Self>, stale: Option<String>) -> Result<()> {
        if let Some(t) = self.current() {
            if Some(&t.value) != stale.as_ref() && !needs_refresh(js::now(), t.expires_at) {
                return Ok(());
            }
        }
        match js::request("POST", &self.url("/auth/refresh"), None, None).await {
            Ok(answer) => {
                self.adopt(&answer, true);
                Ok(())
            }
            Err(e) if e.status() == 401 => {
                self.set(None, JsValue::NULL, true);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the token from a sign-in or refresh answer; answers the user.
    fn adopt(self: &Rc<Self>, answer: &JsValue, broadcast: bool) -> JsValue {
        let value = get(answer, "access_token").as_string().unwrap_or_default();
        let expires_in = get(answer, "expires_in").as_f64().unwrap_or(0.0);
        let user = get(answer, "user");
        self.set(Some(Token { value, expires_at: expires_at(js::now(), expires_in) }), user.clone(), broadcast);
        user
    }

    fn set(self: &Rc<Self>, token: Option<Token>, user: JsValue, broadcast: bool) {
        if broadcast {
            if let Some(channel) = &self.channel {
                let message = match &token {
                    Some(t) => json!({ "type": "session", "access_token": t.value, "expires_at": t.expires_at }),
                    None => json!({ "type": "signed-out" }),
                };
                let message = to_js(&message);
                let _ = js_sys::Reflect::set(&message, &"user".into(), &user);
                let _ = channel.post_message(&message);
            }
        }
        self.token.replace(token);
        self.user.replace(user.clone());
        self.schedule();
        let listener = self.listener.borrow().clone();
        js::emit(&listener, &user);
    }

    /// A message from another tab.
    fn receive(self: &Rc<Self>, message: &JsValue) {
        match get(message, "type").as_string().as_deref() {
            Some("session") => {
                let value = get(message, "access_token").as_string().unwrap_or_default();
                let expires_at = get(message, "expires_at").as_f64().unwrap_or(0.0);
                self.set(Some(Token { value, expires_at }), get(message, "user"), false);
            }
            Some("signed-out") => self.set(None, JsValue::NULL, false),
            _ => {}
        }
    }

    /// Refreshes in the background a minute before the token expires, so an idle page comes
    /// back with a working token.
    fn schedule(self: &Rc<Self>) {
        if let Some(id) = self.timer.take() {
            js::clear_timeout(id);
        }
        let Some(token) = self.current() else { return };
        let weak = Rc::downgrade(self);
        let stale = token.value.clone();
        let wake = Closure::once_into_js(move || {
            if let Some(session) = weak.upgrade() {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = session.refresh(Some(stale)).await;
                });
            }
        });
        self.timer.set(Some(js::set_timeout(&wake, refresh_delay_ms(js::now(), token.expires_at))));
    }
}
