//! `Search`: full-text search and suggestions through search-proxy.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use super::client::{Client, Session};
use super::js::query;

/// The search endpoints (public; a signed-in client's token rides along).
#[wasm_bindgen]
pub struct Search {
    session: Rc<Session>,
}

#[wasm_bindgen]
impl Search {
    /// Search calls made with `client`'s session.
    #[wasm_bindgen(constructor)]
    pub fn new(client: &Client) -> Search {
        Search { session: client.session.clone() }
    }

    /// Videos and users matching `params.q`, with filters, sort and cursor paging; matches in
    /// `highlight` are HTML-escaped with `<mark>` around them.
    #[wasm_bindgen(unchecked_return_type = "Promise<SearchResults>")]
    pub fn search(&self, #[wasm_bindgen(unchecked_param_type = "SearchParams")] params: JsValue) -> js_sys::Promise {
        let names = [
            ("q", "q"),
            ("type", "type"),
            ("tags", "tags"),
            ("author", "author"),
            ("from", "from"),
            ("to", "to"),
            ("sort", "sort"),
            ("limit", "limit"),
            ("cursor", "cursor"),
        ];
        self.session.promise("GET", format!("/search{}", query(&params, &names)), None)
    }

    /// Completions of what is being typed.
    #[wasm_bindgen(unchecked_return_type = "Promise<Suggestions>")]
    pub fn suggest(
        &self,
        q: String,
        #[wasm_bindgen(unchecked_param_type = "{ type?: 'video' | 'user' | 'all', limit?: number } | undefined")] options: JsValue,
    ) -> js_sys::Promise {
        let q = format!("q={}", String::from(js_sys::encode_uri_component(&q)));
        let rest = query(&options, &[("type", "type"), ("limit", "limit")]).replacen('?', "&", 1);
        self.session.promise("GET", format!("/search/suggest?{q}{rest}"), None)
    }
}
