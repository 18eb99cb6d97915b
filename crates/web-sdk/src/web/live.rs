//! `LiveDanmaku`: one video's danmaku as they are posted, over Server-Sent Events
//! (`GET /videos/{id}/danmaku/live`), shown once each.
//!
//! The browser's `EventSource` reconnects by itself after a dropped stream or the server's
//! `end`, sending `Last-Event-ID` (the newest danmaku id it received), so the server replays
//! exactly what was missed. When the server refuses a stream (`429`, `503`, `404`: the
//! `EventSource` ends up `CLOSED`), the handle opens a new one after a jittered backoff with
//! `?after=<the newest id seen>`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js::{self, get, items};
use crate::retry::Backoff;

/// Danmaku ids remembered as shown (the largest ones are kept).
const KEPT: usize = 5000;
/// Before opening again after a refused stream: 2 s doubling to 30 s, jittered.
const BACKOFF: Backoff = Backoff { base_ms: 2000, max_ms: 30_000 };
/// The named events of the stream.
const EVENTS: [&str; 5] = ["hello", "danmaku", "viewers", "skipped", "end"];
/// `EventSource.readyState` when the browser gave up on the stream.
const CLOSED: u16 = 2;

/// A live danmaku stream, made by `Feed.live`: calls the handlers until `close()`.
#[wasm_bindgen]
pub struct LiveDanmaku {
    live: Rc<Live>,
}

/// The page's callbacks.
struct Handlers {
    danmaku: Option<js_sys::Function>,
    viewers: Option<js_sys::Function>,
    skipped: Option<js_sys::Function>,
    state: Option<js_sys::Function>,
}

/// The state behind a [`LiveDanmaku`], shared with its event listeners and timer.
struct Live {
    /// `<base>/videos/{id}/danmaku/live`, without a query.
    url: String,
    handlers: Handlers,
    shown: RefCell<crate::live::Shown>,
    source: RefCell<Option<web_sys::EventSource>>,
    listeners: RefCell<Option<Listeners>>,
    /// Refused opens in a row.
    attempt: Cell<u32>,
    timer: Cell<Option<f64>>,
    state: Cell<&'static str>,
    closed: Cell<bool>,
}

/// The listeners every source of a [`Live`] gets, kept alive as long as it.
struct Listeners {
    on_event: Closure<dyn FnMut(web_sys::MessageEvent)>,
    on_open: Closure<dyn FnMut(web_sys::Event)>,
    on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl LiveDanmaku {
    /// Opens the stream at `url` (`<base>/videos/{id}/danmaku/live`) with the page's
    /// `handlers` (`LiveHandlers`).
    pub(crate) fn start(url: String, handlers: &JsValue) -> Result<LiveDanmaku, JsValue> {
        let function = |name: &str| get(handlers, name).dyn_into::<js_sys::Function>().ok();
        let mut shown = crate::live::Shown::new(KEPT);
        if let Some(after) = whole(&get(handlers, "after")) {
            shown.note_event(after);
        }
        let live = Rc::new(Live {
            url,
            handlers: Handlers {
                danmaku: function("onDanmaku"),
                viewers: function("onViewers"),
                skipped: function("onSkipped"),
                state: function("onState"),
            },
            shown: RefCell::new(shown),
            source: RefCell::new(None),
            listeners: RefCell::new(None),
            attempt: Cell::new(0),
            timer: Cell::new(None),
            state: Cell::new("connecting"),
            closed: Cell::new(false),
        });
        let weak = Rc::downgrade(&live);
        let on_event = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if let Some(live) = weak.upgrade() {
                live.event(&event);
            }
        });
        let weak = Rc::downgrade(&live);
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            if let Some(live) = weak.upgrade() {
                live.opened(&event);
            }
        });
        let weak = Rc::downgrade(&live);
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            if let Some(live) = weak.upgrade() {
                live.failed(&event);
            }
        });
        live.listeners.replace(Some(Listeners { on_event, on_open, on_error }));
        live.connect()?;
        js::emit(&live.handlers.state, &JsValue::from("connecting"));
        Ok(LiveDanmaku { live })
    }
}

#[wasm_bindgen]
impl LiveDanmaku {
    /// Tells the stream about danmaku the page already shows (loaded with `Feed.danmaku` or
    /// posted by the user): ids, or items with `id` and `count`, one or an array. A live item
    /// with such an id is dropped unless its `count` is larger.
    pub fn seen(&self, #[wasm_bindgen(unchecked_param_type = "LiveSeen | LiveSeen[]")] ids: JsValue) {
        let list = if js_sys::Array::is_array(&ids) { items(&ids) } else { vec![ids] };
        let mut shown = self.live.shown.borrow_mut();
        for entry in list {
            let (id, count) = match whole(&entry) {
                Some(id) => (Some(id), 1),
                None => (whole(&get(&entry, "id")), whole(&get(&entry, "count")).unwrap_or(1)),
            };
            if let Some(id) = id {
                shown.admit(id, count);
            }
        }
    }

    /// Stops for good: the stream closes, no handler is called after `onState("closed")`.
    pub fn close(&self) {
        if !self.live.closed.get() {
            self.live.shut();
            self.live.set_state("closed");
        }
    }

    /// `connecting`, `open`, `reconnecting` or `closed`.
    #[wasm_bindgen(getter, unchecked_return_type = "LiveState")]
    pub fn state(&self) -> String {
        self.live.state.get().to_owned()
    }

    /// The newest danmaku id the stream delivered (where a new stream would resume), or `null`.
    #[wasm_bindgen(getter, js_name = lastId, unchecked_return_type = "number | null")]
    pub fn last_id(&self) -> JsValue {
        self.live.shown.borrow().newest().map_or(JsValue::NULL, |id| JsValue::from(id as f64))
    }
}

impl Drop for LiveDanmaku {
    /// `free()` without `close()` still ends the stream (quietly).
    fn drop(&mut self) {
        self.live.shut();
    }
}

impl Live {
    /// Opens an `EventSource`, resuming after the newest id seen when there is one.
    fn connect(self: &Rc<Self>) -> Result<(), JsValue> {
        let after = self.shown.borrow().newest();
        let url = match after {
            Some(id) => format!("{}?after={id}", self.url),
            None => self.url.clone(),
        };
        // Credentials as the default (`same-origin`), like every other call; the endpoint
        // needs no token, and an `EventSource` could not send one anyway.
        let source = web_sys::EventSource::new(&url)?;
        if let Some(listeners) = self.listeners.borrow().as_ref() {
            for name in EVENTS {
                source.add_event_listener_with_callback(name, listeners.on_event.as_ref().unchecked_ref())?;
            }
            source.set_onopen(Some(listeners.on_open.as_ref().unchecked_ref()));
            source.set_onerror(Some(listeners.on_error.as_ref().unchecked_ref()));
        }
        if let Some(old) = self.source.replace(Some(source)) {
            old.close();
        }
        Ok(())
    }

    /// Closes the stream and cancels a pending reopen, calling no handler.
    fn shut(&self) {
        self.closed.set(true);
        if let Some(id) = self.timer.take() {
            js::clear_timeout(id);
        }
        if let Some(source) = self.source.borrow_mut().take() {
            source.close();
        }
    }

    fn set_state(&self, state: &'static str) {
        if self.state.replace(state) != state {
            js::emit(&self.handlers.state, &JsValue::from(state));
        }
    }

    /// Whether `event` comes from the current source (not one replaced or closed).
    fn current(&self, event: &web_sys::Event) -> bool {
        let source = self.source.borrow();
        match (source.as_ref(), event.target()) {
            (Some(source), Some(target)) => AsRef::<JsValue>::as_ref(source) == AsRef::<JsValue>::as_ref(&target),
            _ => false,
        }
    }

    fn opened(&self, event: &web_sys::Event) {
        if self.closed.get() || !self.current(event) {
            return;
        }
        self.attempt.set(0);
        self.set_state("open");
    }

    /// The stream dropped or was refused.
    fn failed(self: &Rc<Self>, event: &web_sys::Event) {
        if self.closed.get() || !self.current(event) {
            return;
        }
        let Some(source) = self.source.borrow().clone() else { return };
        if source.ready_state() == CLOSED {
            // Refused (a non-200 answer): the browser will not retry, so this handle does.
            self.reopen_later();
        } else {
            // The browser reconnects by itself, with `Last-Event-ID` (every event from `hello`
            // on carries the stream's position).
            self.set_state("reconnecting");
        }
    }

    /// Closes the source and opens a new one after the backoff, which grows with each refusal.
    fn reopen_later(self: &Rc<Self>) {
        if let Some(source) = self.source.borrow_mut().take() {
            source.close();
        }
        let attempt = self.attempt.get();
        self.attempt.set(attempt.saturating_add(1));
        let delay = BACKOFF.delay_ms(attempt, js_sys::Math::random());
        let weak = Rc::downgrade(self);
        let wake = Closure::once_into_js(move || {
            if let Some(live) = weak.upgrade() {
                live.timer.set(None);
                if !live.closed.get() && live.connect().is_err() {
                    live.reopen_later();
                }
            }
        });
        if let Some(id) = self.timer.replace(Some(js::set_timeout(&wake, f64::from(delay)))) {
            js::clear_timeout(id);
        }
        self.set_state("reconnecting");
    }

    /// One named event of the stream.
    fn event(&self, event: &web_sys::MessageEvent) {
        if self.closed.get() || !self.current(event) {
            return;
        }
        let data = event.data().as_string().and_then(|text| js_sys::JSON::parse(&text).ok()).unwrap_or(JsValue::NULL);
        // `hello`, `skipped` and `danmaku` carry the stream's position: where a new stream
        // (after a refusal, or the page's own reopen) resumes.
        if let Ok(id) = event.last_event_id().parse::<u64>() {
            self.shown.borrow_mut().note_event(id);
        }
        match event.type_().as_str() {
            "hello" | "viewers" => self.viewers(&data),
            "skipped" => js::emit(&self.handlers.skipped, &data),
            "danmaku" => {
                let fresh = js_sys::Array::new();
                {
                    let mut shown = self.shown.borrow_mut();
                    for item in items(&get(&data, "items")) {
                        let Some(id) = whole(&get(&item, "id")) else { continue };
                        if shown.admit(id, whole(&get(&item, "count")).unwrap_or(1)) {
                            fresh.push(&item);
                        }
                    }
                }
                if fresh.length() > 0 {
                    js::emit(&self.handlers.danmaku, &fresh);
                }
            }
            // `end`: the server closes next and the browser reconnects.
            _ => {}
        }
    }

    fn viewers(&self, data: &JsValue) {
        let viewers = get(data, "viewers");
        if viewers.as_f64().is_some() {
            js::emit(&self.handlers.viewers, &viewers);
        }
    }
}

/// A whole non-negative number (an id or a count).
fn whole(value: &JsValue) -> Option<u64> {
    value.as_f64().filter(|n| n.is_finite() && *n >= 0.0 && n.fract() == 0.0).map(|n| n as u64)
}
