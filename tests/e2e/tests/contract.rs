//! The HTTP API against its OpenAPI document (web/openapi.json, served at /openapi.json):
//! schemathesis drives every operation of the running app with generated requests and checks
//! each answer against the document (`scripts/contract`), and the document itself is checked
//! against spin.toml's routes and the files in web/.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::{json, App, Value};
use edge_http::handler::{Access, Shape};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn document() -> Value {
    let path = root().join("web/openapi.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every operation web/openapi.json documents, as (METHOD, path with `{name}` captures).
fn documented_operations() -> BTreeSet<(String, String)> {
    let doc = document();
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// The operation objects of the document, keyed by (METHOD, path).
fn operation_objects(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                out.insert((method.to_ascii_uppercase(), path.clone()), operation.clone());
            }
        }
    }
    out
}

/// `value`, or what its `$ref` names in the document's `components/<section>`.
fn resolve<'a>(doc: &'a Value, section: &str, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let prefix = format!("#/components/{section}/");
            let name = reference.strip_prefix(&prefix).unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            let resolved = &doc["components"][section][name];
            assert!(!resolved.is_null(), "{reference} is not defined");
            resolved
        }
        None => value,
    }
}

/// Whether spin.toml sends `path` (captures replaced by a made-up segment) to a component:
/// an exact route, or a `/prefix/...` wildcard (which also takes `/prefix` itself).
fn routed_by_spin(routes: &[String], path: &str) -> bool {
    let concrete: String =
        path.split('/').map(|segment| if segment.starts_with('{') { "x" } else { segment }).collect::<Vec<_>>().join("/");
    routes.iter().any(|route| match route.strip_suffix("/...") {
        Some(prefix) => concrete == prefix || concrete.starts_with(&format!("{prefix}/")),
        None => concrete == *route,
    })
}

fn spin_routes() -> Vec<String> {
    let path = root().join("spin.toml");
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(&path).expect("spin.toml")).expect("spin.toml is TOML");
    manifest["trigger"]["http"]
        .as_array()
        .expect("[[trigger.http]]")
        .iter()
        .map(|trigger| trigger["route"].as_str().expect("route").to_owned())
        .collect()
}

/// Every route of every component's router: (METHOD, path with `{name}` captures) and the
/// operation's shape as its handler's arguments give it.
fn handler_operations() -> BTreeMap<(String, String), Shape> {
    let routers = [auth::operations(), feed::operations(), upload_sign::operations(), search_proxy::operations()];
    let openapi_path = |pattern: &str| {
        let segments = pattern.split('/').map(|s| match s.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => s.to_owned(),
        });
        segments.collect::<Vec<_>>().join("/")
    };
    routers.into_iter().flatten().map(|(method, pattern, shape)| ((method.to_string(), openapi_path(&pattern)), shape)).collect()
}

/// Every route of every component's router, and the static site's routes from spin.toml
/// (`/sdk/...` as `/sdk/{file}`).
fn routed_operations() -> BTreeSet<(String, String)> {
    let mut operations: BTreeSet<(String, String)> = handler_operations().into_keys().collect();
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(root().join("spin.toml")).unwrap()).unwrap();
    for trigger in manifest["trigger"]["http"].as_array().unwrap() {
        if trigger["component"].as_str() == Some("static-files") {
            let route = trigger["route"].as_str().unwrap();
            let path = route.strip_suffix("/...").map_or(route.to_owned(), |prefix| format!("{prefix}/{{file}}"));
            operations.insert(("GET".to_owned(), path));
        }
    }
    operations
}

/// The document describes exactly the operations the routers answer: a route added, removed or
/// renamed in code without the document fails here.
#[test]
fn the_document_describes_exactly_the_routed_operations() {
    let documented = documented_operations();
    let routed = routed_operations();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not documented: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
}

/// Each operation is described as its handler takes it: who may call it (the `Caller`,
/// `MaybeCaller` and `Admin` arguments) and whether it reads a JSON body (`Json`) or a query
/// (`Query`), and whether it is limited per client address (`PerClient`, so a 429), so a handler
/// that starts to need a token or a body cannot keep an outdated description.
#[test]
fn each_operation_is_described_as_its_handler_takes_it() {
    let doc = document();
    let operations = operation_objects(&doc);
    let mut wrong = Vec::new();
    for ((method, path), shape) in handler_operations() {
        let operation = &operations[&(method.clone(), path.clone())];
        let schemes: Vec<String> = operation["security"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|requirement| requirement.as_object().and_then(|r| r.keys().next().cloned()).unwrap_or_else(|| "anonymous".to_owned()))
            .collect();
        let responds = |status: &str| operation["responses"].get(status).is_some();
        let bearer = schemes.iter().any(|s| s == "bearerAuth");
        let access_ok = match shape.access {
            Access::Public => !bearer,
            Access::Optional => bearer && schemes.iter().any(|s| s == "anonymous") && responds("401"),
            Access::Bearer => schemes == ["bearerAuth"] && responds("401"),
            Access::Admin => schemes == ["bearerAuth"] && responds("401") && responds("403"),
            Access::BearerOrUploadCookie => schemes == ["bearerAuth", "uploadCookie"] && responds("401") && responds("403"),
        };
        let body = operation["requestBody"]["content"].get("application/json").is_some();
        let body_ok = body == shape.body.is_some() && (shape.body.is_none() || (responds("413") && responds("415")));
        let query = operation["parameters"].as_array().into_iter().flatten().any(|p| p["in"] == "query");
        let limited = responds("429");
        if !access_ok || !body_ok || query != shape.query || (shape.limited && !limited) {
            wrong.push(format!(
                "{method} {path}: handler takes {shape:?}; document has security {schemes:?}, JSON body {body}, query {query}, 429 {limited}"
            ));
        }
    }
    assert!(wrong.is_empty(), "described otherwise than handled:\n{}", wrong.join("\n"));
}

/// A JSON object schema's property names and required ones.
fn fields(schema: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let names = |value: &Value| -> BTreeSet<String> {
        match value {
            Value::Object(map) => map.keys().cloned().collect(),
            Value::Array(list) => list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => BTreeSet::new(),
        }
    };
    (names(&schema["properties"]), names(&schema["required"]))
}

/// Each JSON request body is described with the fields, and the required fields, of the type
/// its handler reads it into (the types' JSON schemas, derived with schemars), so a field added,
/// renamed or made optional in code fails until the description follows.
#[test]
fn each_request_body_is_described_as_its_handler_reads_it() {
    let doc = document();
    let operations = operation_objects(&doc);
    let types: BTreeMap<&str, Value> =
        [auth::body_schemas(), feed::body_schemas(), upload_sign::body_schemas()].into_iter().flatten().collect();
    let mut wrong = Vec::new();
    for ((method, path), shape) in handler_operations() {
        let Some(body_type) = shape.body else { continue };
        let what = format!("{method} {path}");
        let code = types.get(body_type).unwrap_or_else(|| panic!("{what}: {body_type} is missing from its component's body_schemas()"));
        let documented =
            resolve(&doc, "schemas", &operations[&(method.clone(), path.clone())]["requestBody"]["content"]["application/json"]["schema"]);
        let (code_fields, code_required) = fields(code);
        let (doc_fields, doc_required) = fields(documented);
        if code_fields != doc_fields || code_required != doc_required {
            wrong.push(format!(
                "{what}: {body_type} has fields {code_fields:?} (required {code_required:?}); the document {doc_fields:?} (required {doc_required:?})"
            ));
        }
    }
    assert!(wrong.is_empty(), "request bodies described otherwise than read:\n{}", wrong.join("\n"));
}

/// The document is well formed, every path it names reaches a component under spin.toml, and
/// every page file in web/ is documented.
#[test]
fn the_document_names_routed_operations_with_problem_errors() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"], json!([{ "url": "/" }]));
    let tags: BTreeSet<&str> = doc["tags"].as_array().expect("tags").iter().filter_map(|t| t["name"].as_str()).collect();
    let operations = operation_objects(&doc);
    assert_eq!(operations.keys().cloned().collect::<BTreeSet<_>>(), documented_operations());
    let routes = spin_routes();
    let mut ids = BTreeSet::new();
    for ((method, path), operation) in &operations {
        let what = format!("{method} {path}");
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{what}: no operationId"));
        assert!(
            id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{what}: operationId {id} is not snake_case"
        );
        assert!(ids.insert(id.to_owned()), "{what}: operationId {id} is used twice");
        assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()), "{what}: no summary");
        let op_tags = operation["tags"].as_array().unwrap_or_else(|| panic!("{what}: no tags"));
        assert!(op_tags.iter().all(|t| t.as_str().is_some_and(|t| tags.contains(t))), "{what}: a tag is not declared");
        assert!(routed_by_spin(&routes, path), "{what}: no route in spin.toml reaches it");
        for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
            let declared = operation["parameters"].as_array().into_iter().flatten().any(|p| p["in"] == "path" && p["name"] == name);
            assert!(declared, "{what}: path parameter {name} is not declared");
        }
        let responses = operation["responses"].as_object().unwrap_or_else(|| panic!("{what}: no responses"));
        let page = responses.get("200").is_some_and(|ok| ok["content"].get("text/html").is_some());
        assert!(responses.keys().any(|status| status.starts_with('2') || status.starts_with('3')), "{what}: no success response");
        for (status, response) in responses {
            let response = resolve(&doc, "responses", response);
            let error = status.parse::<u16>().unwrap_or(0) >= 400;
            // Health reports keep their JSON shape when degraded, and a page's not-found answer
            // is a page; every other error is a problem.
            if error && !id.ends_with("_health") && !(page && response["content"].get("text/html").is_some()) {
                let content = response["content"].as_object().unwrap_or_else(|| panic!("{what} {status}: no content"));
                assert_eq!(content.keys().collect::<Vec<_>>(), ["application/problem+json"], "{what} {status}");
                assert_eq!(content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem", "{what} {status}");
            }
        }
    }
    // Every file of the page (not the generated SDK) is served and documented at its own path.
    let documented = documented_operations();
    assert!(documented.contains(&("GET".to_owned(), "/".to_owned())), "GET / is not documented");
    for entry in std::fs::read_dir(root().join("web")).expect("web/") {
        let path = entry.expect("web/ entry").path();
        if path.is_file() {
            let url = format!("/{}", path.file_name().unwrap().to_string_lossy());
            assert!(documented.contains(&("GET".to_owned(), url.clone())), "web{url} is not documented as GET {url}");
            assert!(routes.contains(&url), "web{url} has no route in spin.toml");
        }
    }
    println!("{} operations documented:", documented.len());
    for (method, path) in &documented {
        println!("  {method} {path}");
    }
}

/// `scripts/contract`: schemathesis sends generated requests, valid and invalid, to every
/// operation with a signed-in user's token; no answer may be a 5xx, or have a status, media type
/// or body the document does not describe.
#[test]
fn the_running_app_keeps_its_openapi_contract() {
    let root = root();
    let schemathesis = root.join(".venv-contract/bin/schemathesis");
    assert!(schemathesis.exists(), "{} is missing: run scripts/setup", schemathesis.display());
    let app = App::start_default();
    // The first feed request on an empty Redis builds feed's state (`503 feed-rebuilding` while
    // it runs); the contract is that of every request after it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/feed/latest").status == 503 {
        assert!(Instant::now() < deadline, "feed still rebuilding after 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let username = e2e::unique("contract");
    let reply = app.request("POST", "/auth/register").json(&json!({ "username": username, "password": "contract password" }));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let token = reply.json()["access_token"].as_str().expect("access_token").to_owned();

    let output = Command::new(root.join("scripts/contract"))
        .args([app.url.as_str(), token.as_str()])
        .current_dir(root.as_path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/contract: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "scripts/contract failed ({}):\n{stdout}\n{stderr}", output.status);
    println!("{stdout}");
    // The token must stay alive through the first run, or its operations were only tested
    // signed out: only these may answer nothing but 401/403 there.
    let expected: BTreeSet<&str> = [
        "POST /auth/login",
        "POST /auth/refresh",
        "POST /auth/users/{id}/ban",
        "GET /search/parked",
        "GET /search/status",
        "POST /search/reindex",
        "POST /search/sync",
        "POST /uploads/cleanup",
    ]
    .into();
    let first_run = stdout.split("== schemathesis: the sign-outs").next().unwrap_or("");
    let refused = refused_operations(first_run);
    let unexpected: Vec<&str> = refused.iter().copied().filter(|op| !expected.contains(op)).collect();
    assert!(unexpected.is_empty(), "answered only 401/403 while signed in: {unexpected:?}\n{stdout}");
}

/// The operations schemathesis lists under "401 Unauthorized (n operations):" and "403
/// Forbidden (n operations):".
fn refused_operations(output: &str) -> BTreeSet<&str> {
    let mut refused = BTreeSet::new();
    let mut listing = false;
    for line in output.lines() {
        if line.starts_with("401 ") || line.starts_with("403 ") {
            listing = line.ends_with("operations):") || line.ends_with("operation):");
        } else if let Some(operation) = line.strip_prefix("  - ").filter(|_| listing) {
            refused.insert(operation.trim());
        } else {
            listing = false;
        }
    }
    refused
}
