//! The one handler model: a [`Router`] of [`Endpoint`]s, each a plain `async fn` whose first
//! argument is the component's per-request state and whose others are extractors
//! ([`FromInput`]), taken from the request in argument order, so the first refusal wins.
//!
//! ```
//! use edge_http::{handler::{Answer, Input, Json, Path, Routes}, json_response};
//! use http::{Method, StatusCode};
//!
//! struct Shop;
//!
//! async fn rename(_: &Shop, Path(id): Path<u64>, Json(name): Json<String>) -> Answer {
//!     Ok(json_response(StatusCode::OK, &(id, name)))
//! }
//!
//! let routes: Routes<Shop> = Routes::new().on(Method::PUT, "/items/:id/name", rename);
//! assert_eq!(routes.routes(), [(Method::PUT, "/items/:id/name".to_owned())]);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;

use crate::{Params, Problem, Request, Response, Router};

/// What a handler returns: a response, or the problem to answer instead.
pub type Answer = Result<Response, Problem>;

/// A handler's answer still to be awaited.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Answer> + 'a>>;

/// What extractors read: the request, its path captures and the component's state.
pub struct Input<'a, S> {
    /// The request, body included.
    pub request: &'a Request,
    /// Captures of the matched route pattern.
    pub params: &'a Params,
    /// The component's per-request state (backends opened on first use, settings).
    pub state: &'a S,
}

/// A handler argument taken from the request; its `Err` is answered instead of the handler.
pub trait FromInput<S>: Sized {
    /// The value, or the problem that refuses the request.
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem>;

    /// What taking this argument says about the operation (the API description is checked
    /// against it).
    fn shape(_: &mut Shape) {}
}

/// Who may call an operation, as its handler's arguments say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// Anyone; no bearer token is read.
    #[default]
    Public,
    /// Anyone; a bearer token, when sent, must be valid and personalises the answer.
    Optional,
    /// A signed-in caller (401 otherwise).
    Bearer,
    /// A signed-in administrator (401, then 403).
    Admin,
    /// A signed-in caller by bearer token, or by the upload-only cookie on a same-origin
    /// request (401, or 403 for the cookie from another origin): Uppy's companion routes.
    BearerOrUploadCookie,
}

/// An operation as its handler's signature describes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Who may call it.
    pub access: Access,
    /// The type its JSON body is read into (`std::any::type_name`), if it reads one (so 413
    /// and 415 are possible).
    pub body: Option<&'static str>,
    /// It reads the query string.
    pub query: bool,
    /// It counts requests per client address (so a 429 with `Retry-After` is possible).
    pub limited: bool,
}

/// An `async fn(&S, A, B, ...) -> Answer` whose arguments after the state are extractors.
pub trait Handler<S, Args>: Clone + 'static {
    /// Extracts the arguments in order and runs the function.
    fn call<'a>(&self, input: Input<'a, S>) -> Pending<'a>;

    /// The operation as the arguments describe it.
    fn shape() -> Shape;
}

macro_rules! handler {
    ($($arg:ident),*) => {
        impl<S, F, $($arg,)*> Handler<S, ($($arg,)*)> for F
        where
            F: AsyncFn(&S, $($arg),*) -> Answer + Clone + 'static,
            $($arg: FromInput<S>,)*
        {
            #[allow(non_snake_case)]
            fn call<'a>(&self, input: Input<'a, S>) -> Pending<'a> {
                let handler = self.clone();
                Box::pin(async move {
                    $(let $arg = $arg::from_input(&input)?;)*
                    handler(input.state, $($arg),*).await
                })
            }

            #[allow(unused_mut)]
            fn shape() -> Shape {
                let mut shape = Shape::default();
                $($arg::shape(&mut shape);)*
                shape
            }
        }
    };
}

handler!();
handler!(A);
handler!(A, B);
handler!(A, B, C);
handler!(A, B, C, D);
handler!(A, B, C, D, E);

/// A handler with its extractors, behind one signature.
type Erased<S> = dyn for<'a> Fn(Input<'a, S>) -> Pending<'a>;

/// One route's handler with its extractors, type-erased so one table holds them all.
pub struct Endpoint<S> {
    name: &'static str,
    shape: Shape,
    call: Rc<Erased<S>>,
}

impl<S> Clone for Endpoint<S> {
    fn clone(&self) -> Self {
        Endpoint { name: self.name, shape: self.shape, call: self.call.clone() }
    }
}

impl<S> std::fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl<S> Endpoint<S> {
    /// The handler function's name (`feed::videos::create`), for tests and logs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The operation as the handler's arguments describe it.
    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Runs the handler on `input`.
    pub fn call<'a>(&self, input: Input<'a, S>) -> Pending<'a> {
        (self.call)(input)
    }
}

/// A component's route table: method + pattern to handler.
pub type Routes<S> = Router<Endpoint<S>>;

impl<S: 'static> Router<Endpoint<S>> {
    /// Adds a route answered by `handler` (see [`Router::route`] for patterns).
    pub fn on<Args, H: Handler<S, Args>>(self, method: Method, pattern: &str, handler: H) -> Self {
        let name = std::any::type_name::<H>();
        self.route(method, pattern, Endpoint { name, shape: H::shape(), call: Rc::new(move |input| handler.call(input)) })
    }

    /// Every route as `(method, pattern, shape)`, in the order added: what the API description
    /// is checked against.
    pub fn operations(&self) -> Vec<(Method, String, Shape)> {
        self.routes().into_iter().zip(self.endpoints()).map(|((method, pattern), endpoint)| (method, pattern, endpoint.shape)).collect()
    }

    /// Finds the route for `request` and runs its handler with `state`; 404 and 405 as
    /// [`Router::find`] answers them.
    pub async fn answer(&self, state: &S, request: &Request) -> Answer {
        let (endpoint, params) = self.find(request.method(), request.uri().path())?;
        endpoint.call(Input { request, params: &params, state }).await
    }
}

/// A path capture's text made into a value; a refusal is the request's 4xx.
pub trait FromParam: Sized {
    /// The value of capture `name` whose text is `raw`.
    fn from_param(name: &str, raw: &str) -> Result<Self, Problem>;
}

impl FromParam for String {
    fn from_param(_: &str, raw: &str) -> Result<Self, Problem> {
        Ok(raw.to_owned())
    }
}

impl FromParam for u64 {
    fn from_param(name: &str, raw: &str) -> Result<Self, Problem> {
        raw.parse().map_err(|_| Problem::not_found("no-such-route", format!("the path's {name} must be a whole number, not {raw:?}")))
    }
}

/// The route's captures: one value for one capture, a pair for two, in pattern order.
pub trait FromParams: Sized {
    /// The values of `params`.
    fn from_params(params: &Params) -> Result<Self, Problem>;
}

impl<T: FromParam> FromParams for T {
    fn from_params(params: &Params) -> Result<Self, Problem> {
        let (name, raw) = params.nth(0).ok_or_else(|| Problem::internal("the route has no capture for its Path argument"))?;
        T::from_param(name, raw)
    }
}

impl<A: FromParam, B: FromParam> FromParams for (A, B) {
    fn from_params(params: &Params) -> Result<Self, Problem> {
        let missing = || Problem::internal("the route has fewer than two captures for its Path argument");
        let ((a_name, a), (b_name, b)) = (params.nth(0).ok_or_else(missing)?, params.nth(1).ok_or_else(missing)?);
        Ok((A::from_param(a_name, a)?, B::from_param(b_name, b)?))
    }
}

/// The route's path captures (`/videos/:id` → `Path<VideoId>`).
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S, T: FromParams> FromInput<S> for Path<T> {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        T::from_params(input.params).map(Path)
    }
}

/// The JSON body (see [`crate::json_body`]; the adapter already refused bodies over the
/// component's limit).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S, T: DeserializeOwned> FromInput<S> for Json<T> {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        crate::json_body(input.request, usize::MAX).map(Json)
    }

    fn shape(shape: &mut Shape) {
        shape.body = Some(std::any::type_name::<T>());
    }
}

/// A body type's name as [`Shape::body`] gives it and its JSON schema, for checking the API
/// description against the types handlers read.
#[cfg(feature = "schema")]
pub fn body_schema<T: schemars::JsonSchema>() -> (&'static str, serde_json::Value) {
    (std::any::type_name::<T>(), schemars::schema_for!(T).to_value())
}

/// The query string (see [`crate::query`]).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S, T: DeserializeOwned> FromInput<S> for Query<T> {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        crate::query(input.request).map(Query)
    }

    fn shape(shape: &mut Shape) {
        shape.query = true;
    }
}

/// The request's headers (cookies, user agent, the runtime's client address and URL).
#[derive(Debug)]
pub struct Headers(pub HeaderMap);

impl<S> FromInput<S> for Headers {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        Ok(Headers(input.request.headers().clone()))
    }
}

/// The raw body, for a handler that reads another format than JSON (the adapter already
/// refused bodies over the component's limit).
#[derive(Debug)]
pub struct RawBody(pub Vec<u8>);

impl<S> FromInput<S> for RawBody {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        Ok(RawBody(input.request.body().clone()))
    }
}

/// The request's method (for handlers that serve `GET` and `HEAD` differently).
#[derive(Debug)]
pub struct RequestMethod(pub Method);

impl<S> FromInput<S> for RequestMethod {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        Ok(RequestMethod(input.request.method().clone()))
    }
}

/// The request's path, percent-encoded as sent, without the query.
#[derive(Debug)]
pub struct RequestPath(pub String);

impl<S> FromInput<S> for RequestPath {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        Ok(RequestPath(input.request.uri().path().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_response;
    use http::StatusCode;
    use serde::Deserialize;

    use futures::executor::block_on;

    struct Counter(std::cell::Cell<u32>);

    #[derive(Deserialize)]
    struct Page {
        limit: u32,
    }

    async fn health(counter: &Counter) -> Answer {
        counter.0.set(counter.0.get() + 1);
        Ok(json_response(StatusCode::OK, &"up"))
    }

    async fn part(_: &Counter, Path((id, n)): Path<(String, u64)>, Query(page): Query<Page>) -> Answer {
        Ok(json_response(StatusCode::OK, &(id, n, page.limit)))
    }

    async fn post(_: &Counter, Query(page): Query<Page>, Json(body): Json<Vec<u8>>) -> Answer {
        Ok(json_response(StatusCode::OK, &(page.limit, body)))
    }

    fn routes() -> Routes<Counter> {
        Routes::new().on(Method::GET, "/health", health).on(Method::GET, "/uploads/:id/:n", part).on(Method::POST, "/uploads/:id/:n", post)
    }

    fn run(request: http::request::Builder, body: &str) -> Answer {
        block_on(routes().answer(&Counter(0.into()), &request.body(body.as_bytes().to_vec()).unwrap()))
    }

    #[test]
    fn handlers_get_state_and_extracted_arguments() {
        let counter = Counter(0.into());
        let request = http::Request::get("/health").body(Vec::new()).unwrap();
        assert_eq!(block_on(routes().answer(&counter, &request)).unwrap().body(), br#""up""#);
        assert_eq!(counter.0.get(), 1);
        let answer = run(http::Request::get("/uploads/a%20b/3?limit=5"), "").unwrap();
        assert_eq!(answer.body(), br#"["a b",3,5]"#);
    }

    #[test]
    fn the_first_refusing_extractor_answers() {
        let not_a_number = run(http::Request::get("/uploads/a/x?limit=5"), "").unwrap_err();
        assert_eq!(not_a_number.status(), StatusCode::NOT_FOUND);
        // The query is read before the body, so its problem wins.
        let both_bad = run(http::Request::post("/uploads/a/1?limit=no"), "not json").unwrap_err();
        assert_eq!(both_bad.code(), "invalid-query");
        let bad_body = run(http::Request::post("/uploads/a/1?limit=1").header("content-type", "application/json"), "[1,").unwrap_err();
        assert_eq!(bad_body.code(), "malformed-json");
    }

    #[test]
    fn operations_are_shaped_by_their_arguments() {
        let shapes: Vec<Shape> = routes().operations().into_iter().map(|(_, _, shape)| shape).collect();
        let query = Shape { query: true, ..Shape::default() };
        assert_eq!(shapes, [Shape::default(), query, Shape { body: Some("alloc::vec::Vec<u8>"), ..query }]);
    }

    #[test]
    fn endpoints_are_named_after_their_function() {
        let (endpoint, _) = routes().find(&Method::GET, "/health").unwrap();
        assert!(endpoint.name().ends_with("::health"), "{}", endpoint.name());
    }
}
