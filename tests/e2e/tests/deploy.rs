//! The operators' manifests in deploy/: every SpinApp satisfies SpinKube's CRD schema (as the API
//! server would check it), supplies the variables spin.toml needs, references Secret and
//! ConfigMap keys that deploy/ defines, and keeps the state stores on shared services.
//!
//! The CRD is SpinKube's own, kept in shared/platform beside the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use e2e::{json, Value};
use serde::Deserialize;

const CRD: &str = "../shared/platform/spinapp-crd.yaml";

fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Every YAML document under deploy/, with the file it came from.
fn deploy_documents() -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(e2e::root().join("deploy"))
        .expect("deploy/")
        .map(|entry| entry.expect("deploy/ entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "yaml" || ext == "yml"))
        .collect();
    files.sort();
    files.into_iter().flat_map(|f| yaml_documents(&f).into_iter().map(move |doc| (f.clone(), doc))).collect()
}

fn of_kind(kind: &str) -> Vec<(PathBuf, Value)> {
    deploy_documents().into_iter().filter(|(_, doc)| doc["kind"] == kind).collect()
}

fn spinapps() -> Vec<(PathBuf, Value)> {
    let apps = of_kind("SpinApp");
    assert!(!apps.is_empty(), "no SpinApp in deploy/");
    apps
}

fn spin_manifest() -> toml::Table {
    let path = e2e::root().join("spin.toml");
    toml::from_str(&std::fs::read_to_string(&path).expect("spin.toml")).expect("spin.toml is TOML")
}

/// JSON Schema lets undeclared fields through; Kubernetes prunes them from a structural schema,
/// and kubectl's default (strict) field validation refuses them. Closing every object schema
/// that declares its properties makes a misspelt field fail here as it would there.
fn close_objects(schema: &mut Value) {
    let Some(schema) = schema.as_object_mut() else { return };
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        properties.values_mut().for_each(close_objects);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = schema.get_mut(key) {
            close_objects(sub);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(subs)) = schema.get_mut(key) {
            subs.iter_mut().for_each(close_objects);
        }
    }
    let open = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if schema.contains_key("properties") && !schema.contains_key("additionalProperties") && !open {
        schema.insert("additionalProperties".into(), Value::Bool(false));
    }
}

/// The CRD's schema for the served version `apiVersion` names.
fn spinapp_validator(api_version: &str) -> jsonschema::Validator {
    let path = e2e::root().join(CRD);
    assert!(path.exists(), "SpinKube's CRD is expected at {} (shared/ beside the repository)", path.display());
    let crd = yaml_documents(&path).into_iter().next().expect("one CRD document");
    let spec = &crd["spec"];
    assert_eq!(spec["names"]["kind"], "SpinApp");
    let (group, version) = api_version.split_once('/').expect("apiVersion is group/version");
    assert_eq!(spec["group"], group, "apiVersion {api_version}");
    let served = spec["versions"]
        .as_array()
        .expect("CRD versions")
        .iter()
        .find(|v| v["name"] == version && v["served"] == true)
        .unwrap_or_else(|| panic!("the CRD serves no version {version}"));
    let mut schema = served["schema"]["openAPIV3Schema"].clone();
    close_objects(&mut schema);
    // OpenAPI 3.0 schemas are draft 4 with extensions (x-kubernetes-*), which validators ignore.
    jsonschema::draft4::new(&schema).expect("the CRD schema compiles")
}

fn schema_errors(app: &Value) -> Vec<String> {
    let api_version = app["apiVersion"].as_str().expect("apiVersion");
    spinapp_validator(api_version).iter_errors(app).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

#[test]
fn spinapps_satisfy_the_crd_schema() {
    for (file, app) in spinapps() {
        let errors = schema_errors(&app);
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
    }
}

/// A change that makes a valid SpinApp invalid.
type Breakage = fn(&mut Value);

#[test]
fn the_schema_check_refuses_broken_spinapps() {
    let (_, app) = spinapps().swap_remove(0);
    let broken: [(&str, Breakage); 4] = [
        ("replicas as text", |app| app["spec"]["replicas"] = json!("two")),
        ("a misspelt field", |app| app["spec"]["replica"] = json!(2)),
        ("an unknown probe field", |app| app["spec"]["checks"]["readiness"]["httpGet"]["port"] = json!(80)),
        ("no executor", |app| {
            app["spec"].as_object_mut().unwrap().remove("executor");
        }),
    ];
    for (what, breaking) in broken {
        let mut copy = app.clone();
        breaking(&mut copy);
        assert!(!schema_errors(&copy).is_empty(), "a SpinApp with {what} passed the schema check");
    }
}

/// The variable bindings of a SpinApp: name → binding.
fn bindings(app: &Value) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    for binding in app["spec"]["variables"].as_array().expect("spec.variables") {
        let name = binding["name"].as_str().expect("variable name").to_owned();
        assert!(seen.insert(name.clone(), binding.clone()).is_none(), "variable {name} bound twice");
    }
    seen
}

#[test]
fn spinapps_supply_what_spin_toml_requires() {
    let manifest = spin_manifest();
    let declared = manifest["variables"].as_table().expect("[variables]");
    for (file, app) in spinapps() {
        let bound = bindings(&app);
        for (name, declaration) in declared {
            let flag = |key: &str| declaration.get(key).and_then(toml::Value::as_bool) == Some(true);
            if flag("required") {
                assert!(bound.contains_key(name), "{}: required variable {name} is not supplied", file.display());
            }
            // A secret in the manifest or a ConfigMap would be readable by anyone who can read those.
            if flag("secret") && bound.contains_key(name) {
                assert!(
                    bound[name]["valueFrom"].get("secretKeyRef").is_some(),
                    "{}: secret variable {name} must come from a Secret",
                    file.display()
                );
            }
        }
        // Spin ignores a SPIN_VARIABLE_* it does not declare, so a misspelt name is lost silently.
        for name in bound.keys() {
            assert!(declared.contains_key(name), "{}: {name} is not a variable of spin.toml", file.display());
        }
    }
}

/// Every `{secretKeyRef|configMapKeyRef: {name, key}}` under `value`.
fn key_refs(value: &Value, found: &mut Vec<(&'static str, String, String)>) {
    match value {
        Value::Object(map) => {
            for (field, kind) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")] {
                if let Some(r) = map.get(field) {
                    let part = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("{field} without {k}: {r}")).to_owned();
                    found.push((kind, part("name"), part("key")));
                }
            }
            map.values().for_each(|v| key_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| key_refs(v, found)),
        _ => {}
    }
}

#[test]
fn referenced_secret_and_configmap_keys_are_defined_in_deploy() {
    // (kind, name) → keys; a Secret's keys may be under data or stringData.
    let mut defined: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (_, doc) in deploy_documents() {
        let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let keys = defined.entry((kind, name)).or_default();
        for section in ["data", "stringData"] {
            keys.extend(doc[section].as_object().into_iter().flat_map(|m| m.keys().cloned()));
        }
    }
    for (file, app) in spinapps() {
        let mut refs = Vec::new();
        key_refs(&app["spec"], &mut refs);
        for (kind, name, key) in refs {
            let keys = defined.get(&(kind.to_owned(), name.clone()));
            assert!(
                keys.is_some_and(|keys| keys.contains(&key)),
                "{}: {kind} {name} with key {key} is not defined in deploy/",
                file.display()
            );
        }
    }
}

/// Labels the components of spin.toml use under `field` (key_value_stores, sqlite_databases).
fn labels_used(manifest: &toml::Table, field: &str) -> BTreeSet<String> {
    let components = manifest["component"].as_table().expect("[component]");
    components
        .values()
        .filter_map(|c| c.get(field).and_then(toml::Value::as_array))
        .flatten()
        .map(|label| label.as_str().expect("label").to_owned())
        .collect()
}

/// The settings each shared backend type takes, as Spin's deserializers name them
/// (crates/key-value-redis `RedisKeyValueRuntimeConfig`, crates/sqlite `LibSqlDatabase`).
fn shared_backend_settings(table: &str, backend: &str) -> Option<&'static [&'static str]> {
    match (table, backend) {
        ("key_value_store", "redis") => Some(&["url"]),
        ("sqlite_database", "libsql") => Some(&["token", "url"]),
        _ => None,
    }
}

#[test]
fn stores_live_on_shared_services() {
    let manifest = spin_manifest();
    let path = e2e::root().join("deploy/runtime-config.toml");
    let runtime: toml::Table =
        toml::from_str(&std::fs::read_to_string(&path).expect("deploy/runtime-config.toml")).expect("deploy/runtime-config.toml is TOML");
    for (file, app) in spinapps() {
        for (table, field, crd_list) in
            [("key_value_store", "key_value_stores", "keyValueStores"), ("sqlite_database", "sqlite_databases", "sqliteDatabases")]
        {
            let crd_stores = app["spec"]["runtimeConfig"][crd_list].as_array().cloned().unwrap_or_default();
            for label in labels_used(&manifest, field) {
                // A local backend ("spin": a file in the pod) would give each replica its own data.
                let store = runtime
                    .get(table)
                    .and_then(|t| t.get(&label))
                    .and_then(toml::Value::as_table)
                    .unwrap_or_else(|| panic!("deploy/runtime-config.toml has no [{table}.{label}]"));
                let backend = store.get("type").and_then(toml::Value::as_str).unwrap_or_default();
                let settings = shared_backend_settings(table, backend)
                    .unwrap_or_else(|| panic!("[{table}.{label}] type {backend:?} is not a shared backend"));
                let mut keys: Vec<&str> = store.keys().map(String::as_str).filter(|k| *k != "type").collect();
                keys.sort();
                assert_eq!(keys, settings, "[{table}.{label}] settings");

                // SpinKube's runtimeConfig must name the same backend with the same settings.
                let crd_store = crd_stores
                    .iter()
                    .find(|s| s["name"] == label.as_str())
                    .unwrap_or_else(|| panic!("{}: runtimeConfig.{crd_list} has no {label}", file.display()));
                assert_eq!(crd_store["type"], backend, "{}: runtimeConfig.{crd_list} {label}", file.display());
                let mut options: Vec<&str> =
                    crd_store["options"].as_array().into_iter().flatten().filter_map(|o| o["name"].as_str()).collect();
                options.sort();
                assert_eq!(options, settings, "{}: runtimeConfig.{crd_list} {label} options", file.display());
            }
        }
    }
}
