//! `spin.toml` (manifest version 2): the parts devhost runs, parsed and checked up front.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::ids::{self, ComponentId, VariableName};

/// A parsed application manifest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manifest {
    /// The directory holding `spin.toml`; relative paths resolve against it.
    pub dir: PathBuf,
    /// `[application] name`.
    pub name: String,
    /// `[application.trigger.http] base`, default `/`.
    pub base: String,
    /// Application variables by name.
    pub variables: BTreeMap<String, VariableDecl>,
    /// HTTP triggers in manifest order.
    pub triggers: Vec<HttpTrigger>,
    /// Components by id.
    pub components: BTreeMap<String, ComponentDecl>,
}

/// One `[variables]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VariableDecl {
    /// Value used when no provider sets one.
    pub default: Option<String>,
    /// Startup fails when no value is found.
    #[serde(default)]
    pub required: bool,
    /// The value is never logged.
    #[serde(default)]
    pub secret: bool,
    /// Free text for people.
    pub description: Option<String>,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpTrigger {
    /// The route pattern, or `None` for `route = { private = true }` (reachable only by chaining).
    pub route: Option<String>,
    /// The component id it runs.
    pub component: String,
}

/// One `[component.<id>]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComponentDecl {
    /// Path of the `.wasm` file, relative to the manifest directory.
    pub source: PathBuf,
    /// Free text for people.
    pub description: Option<String>,
    /// Outbound destinations, possibly with `{{ variable }}` templates.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Key-value store labels the component may open.
    #[serde(default, deserialize_with = "ids::labels")]
    pub key_value_stores: Vec<String>,
    /// SQLite database labels the component may open.
    #[serde(default, deserialize_with = "ids::labels")]
    pub sqlite_databases: Vec<String>,
    /// Component variables: templates over application variables.
    #[serde(default)]
    pub variables: BTreeMap<VariableName, String>,
    /// Environment variables set in the guest.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Host directories the guest may read (see [`FilesMount`]).
    #[serde(default)]
    pub files: Vec<FilesMount>,
    /// Spin's exclusions from `files`; devhost mounts directories directly, so only an empty
    /// list is accepted (as with `spin up --direct-mounts`).
    #[serde(default)]
    pub exclude_files: Vec<String>,
    /// How `build` produces `source`.
    pub build: Option<BuildDecl>,
}

/// One entry of a component's `files`: a string (`"web"`, `"assets/**/*.png"`) or a table
/// `{ source = "web", destination = "/" }`.
///
/// devhost mounts files the way `spin up --direct-mounts` does: each entry is a host directory
/// preopened read-only in the guest, so edits show without a restart. A string must name a
/// directory, mounted at the same relative path under `/`; globs and single files (which Spin
/// copies into a scratch directory) are refused with a message naming the table form.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, deny_unknown_fields, expecting = "a directory path (\"web\") or a table { source = \"web\", destination = \"/\" }")]
pub(crate) enum FilesMount {
    /// `"web"`: the directory `web` at `/web`.
    Pattern(String),
    /// `{ source = "web", destination = "/" }`: the directory `web` at `/`.
    Placement {
        /// The host directory, relative to the manifest directory.
        source: PathBuf,
        /// Where it appears in the guest (an absolute path; a relative one is taken from `/`).
        destination: String,
    },
}

/// A `files` entry resolved to what the guest gets: a host directory at a guest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirMount {
    /// The host directory, relative to the manifest directory (or absolute).
    pub source: PathBuf,
    /// The absolute guest path, normalised (`/`, `/web`, `/static/img`).
    pub guest_path: String,
}

impl FilesMount {
    /// The directory mount this entry asks for, checked without touching the file system:
    /// glob patterns are refused, and no guest path may contain `..` (a `source` may, as in
    /// Spin: it resolves against the manifest directory like any path).
    pub(crate) fn plan(&self) -> Result<DirMount> {
        match self {
            FilesMount::Pattern(pattern) => {
                if pattern.contains(['*', '?', '[', ']']) {
                    bail!(
                        "files entry {pattern:?} is a glob pattern, which devhost does not support: \
                         mount the directory instead, e.g. {{ source = \"web\", destination = \"/\" }}"
                    );
                }
                if Path::new(pattern).is_absolute() {
                    bail!("files entry {pattern:?} must be a path relative to the manifest directory");
                }
                let guest_path = guest_path(pattern).with_context(|| format!("files entry {pattern:?}"))?;
                if guest_path == "/" {
                    bail!(
                        "files entry {pattern:?} names the application directory itself: \
                         use {{ source = \".\", destination = \"/\" }} if that is really meant"
                    );
                }
                Ok(DirMount { source: PathBuf::from(pattern), guest_path })
            }
            FilesMount::Placement { source, destination } => {
                let guest_path = guest_path(destination).with_context(|| format!("files destination {destination:?}"))?;
                Ok(DirMount { source: source.clone(), guest_path })
            }
        }
    }
}

/// `"/static/"`, `"static"`, `"./static"` → `"/static"`; `""`, `"/"` → `"/"`; `..` refused.
fn guest_path(path: &str) -> Result<String> {
    let mut segments = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => bail!("a guest path may not contain `..`"),
            s => segments.push(s),
        }
    }
    Ok(format!("/{}", segments.join("/")))
}

/// `[component.<id>.build]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BuildDecl {
    /// Shell command that builds the component.
    pub command: String,
    /// Directory to run it in, relative to the manifest directory.
    pub workdir: Option<PathBuf>,
    /// Files whose changes call for a rebuild (used by `spin watch`; kept for compatibility).
    #[serde(default)]
    pub watch: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<VariableName, VariableDecl>,
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<ComponentId, ComponentDecl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    #[serde(default)]
    #[allow(dead_code, reason = "checked for its type only, as Spin does")]
    version: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "checked for its type only, as Spin does")]
    description: Option<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "checked for its type only, as Spin does")]
    authors: Vec<String>,
    #[serde(default)]
    trigger: RawAppTrigger,
}

#[derive(Deserialize, Default)]
struct RawAppTrigger {
    http: Option<RawAppHttp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppHttp {
    base: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    route: RawRoute,
    component: ComponentId,
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for compatibility; devhost serves only HTTP/1")]
    executor: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        Self::parse(&text, dir).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses manifest text; `dir` is where relative paths resolve.
    pub(crate) fn parse(text: &str, dir: PathBuf) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        if raw.spin_manifest_version.as_integer() != Some(2) {
            bail!("invalid manifest version: {} (devhost runs version 2 manifests)", raw.spin_manifest_version);
        }
        let base = raw.application.trigger.http.and_then(|h| h.base).unwrap_or_else(|| "/".into());
        let mut triggers = Vec::new();
        for trigger in raw.trigger.http {
            if !raw.component.contains_key(&*trigger.component) {
                bail!(
                    "no such component {:?}: a [[trigger.http]] names it but no [component.{}] defines it",
                    &*trigger.component,
                    trigger.component
                );
            }
            let route = match trigger.route {
                RawRoute::Path(route) => Some(route),
                RawRoute::Private { private: true } => None,
                RawRoute::Private { private: false } => {
                    bail!("route must be a string pattern or '{{ private = true }}': '{}' has {{ private = false }}", trigger.component)
                }
            };
            triggers.push(HttpTrigger { route, component: trigger.component.into() });
        }
        for (name, decl) in &raw.variables {
            if decl.required == decl.default.is_some() {
                bail!("must be `required` OR have a `default` (variable {name:?})");
            }
        }
        for (id, component) in &raw.component {
            for template in component.variables.values() {
                check_template(template, &raw.variables).with_context(|| format!("component {id:?}"))?;
            }
            if !component.exclude_files.is_empty() {
                bail!("component {id:?}: exclude_files is not supported (devhost mounts `files` directories directly)");
            }
            let mut guest_paths = BTreeSet::new();
            for mount in &component.files {
                let mount = mount.plan().with_context(|| format!("component {id:?}"))?;
                if !guest_paths.insert(mount.guest_path.clone()) {
                    bail!("component {id:?}: two files entries are mounted at {:?}", mount.guest_path);
                }
            }
        }
        Ok(Manifest {
            dir,
            name: raw.application.name,
            base,
            variables: raw.variables.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            triggers,
            components: raw.component.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        })
    }
}

/// Spin's check of a component variable's template: every `{{ name }}` must name a declared
/// application variable (Spin refuses to start otherwise).
fn check_template(template: &str, declared: &BTreeMap<VariableName, VariableDecl>) -> Result<()> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            bail!("invalid variable template: unmatched '{{{{' in template");
        };
        let name = rest[start + 2..start + end].trim();
        if !declared.contains_key(name) {
            bail!("invalid variable template: unknown variable {name:?} (declare it under [variables])");
        }
        rest = &rest[start + end + 2..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[application.trigger.http]
base = "/api"
[variables]
redis_address = { default = "redis://127.0.0.1:6379" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = { private = true }
component = "a"
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["{{ redis_address }}"]
key_value_stores = ["default"]
[component.a.variables]
addr = "{{ redis_address }}"
[component.a.build]
command = "cargo build"
"#;

    #[test]
    fn parses_triggers_components_and_variables() {
        let m = Manifest::parse(MANIFEST, PathBuf::from("/app")).unwrap();
        assert_eq!((m.name.as_str(), m.base.as_str()), ("demo", "/api"));
        assert_eq!(m.triggers[0], HttpTrigger { route: Some("/a/...".into()), component: "a".into() });
        assert_eq!(m.triggers[1].route, None);
        assert!(m.variables["token"].required && m.variables["token"].secret);
        let a = &m.components["a"];
        assert_eq!(a.variables["addr"], "{{ redis_address }}");
        assert_eq!(a.build.as_ref().unwrap().command, "cargo build");
    }

    #[test]
    fn rejects_unknown_component_version_and_bad_names() {
        let unknown = MANIFEST.replace("component = \"a\"\n[[", "component = \"b\"\n[[");
        let err = Manifest::parse(&unknown, PathBuf::new()).unwrap_err();
        assert!(err.to_string().contains("\"b\""), "{err}");
        let v1 = MANIFEST.replace("spin_manifest_version = 2", "spin_manifest_version = 1");
        assert!(Manifest::parse(&v1, PathBuf::new()).is_err());
        let typo = MANIFEST.replace("key_value_stores", "key_value_store");
        assert!(Manifest::parse(&typo, PathBuf::new()).is_err());
    }

    fn component_files(files: &str) -> Result<Vec<FilesMount>> {
        let text = MANIFEST.replace("key_value_stores = [\"default\"]", &format!("key_value_stores = [\"default\"]\n{files}"));
        Ok(Manifest::parse(&text, PathBuf::from("/app"))?.components["a"].files.clone())
    }

    #[test]
    fn parses_files_tables_and_directory_strings() {
        let files = component_files(
            r#"files = [{ source = "web", destination = "/" }, "assets", { source = "../shared", destination = "static/img/" }]"#,
        )
        .unwrap();
        assert_eq!(files[0], FilesMount::Placement { source: "web".into(), destination: "/".into() });
        assert_eq!(files[1], FilesMount::Pattern("assets".into()));
        let plans: Vec<DirMount> = files.iter().map(|f| f.plan().unwrap()).collect();
        assert_eq!(plans[0], DirMount { source: "web".into(), guest_path: "/".into() });
        assert_eq!(plans[1], DirMount { source: "assets".into(), guest_path: "/assets".into() });
        assert_eq!(plans[2], DirMount { source: "../shared".into(), guest_path: "/static/img".into() });
        assert_eq!(FilesMount::Pattern("./web/".into()).plan().unwrap().guest_path, "/web");
        assert!(component_files("").unwrap().is_empty());
    }

    #[test]
    fn rejects_unsupported_files_entries() {
        let err = |files: &str| format!("{:#}", component_files(files).unwrap_err());
        let glob = err(r#"files = ["web/**/*"]"#);
        assert!(glob.contains("glob pattern") && glob.contains("destination"), "{glob}");
        let typo = err(r#"files = [{ source = "web", destination = "/", mode = "rw" }]"#);
        assert!(typo.contains("a directory path"), "{typo}");
        let missing = err(r#"files = [{ source = "web" }]"#);
        assert!(missing.contains("a directory path"), "{missing}");
        assert!(err(r#"files = [{ source = "web", destination = "/../etc" }]"#).contains(".."));
        assert!(err(r#"files = ["../web"]"#).contains(".."));
        assert!(err(r#"files = ["/srv/web"]"#).contains("relative"));
        assert!(err(r#"files = ["."]"#).contains("application directory"));
        let twice = err(r#"files = ["web", { source = "other", destination = "/web/" }]"#);
        assert!(twice.contains("\"/web\""), "{twice}");
        let excluded = err(r#"files = ["web"]
exclude_files = ["web/secret"]"#);
        assert!(excluded.contains("exclude_files"), "{excluded}");
    }

    #[test]
    fn ids_and_templates_are_checked_with_spins_texts() {
        let err = |from: &str, to: &str| format!("{:#}", Manifest::parse(&MANIFEST.replace(from, to), PathBuf::new()).unwrap_err());
        let digit = err("token =", "per_10s =");
        assert!(
            digit.contains("TOML parse error at line 9") && digit.contains("'_'-separated words must start with an ASCII letter; got '1'"),
            "{digit}"
        );
        let kebab = err("[component.a]\n", "[component.a_b]\nsource = \"b.wasm\"\n[component.a]\n");
        assert!(kebab.contains("words must be separated with '-', not '_'"), "{kebab}");
        let label = err("key_value_stores = [\"default\"]", "key_value_stores = [\"my_Store\"]");
        assert!(label.contains("expected kebab-case or snake_case"), "{label}");
        let both = err("token = { required = true, secret = true }", "token = { required = true, default = \"x\" }");
        assert!(both.contains("must be `required` OR have a `default`"), "{both}");
        let template = err("addr = \"{{ redis_address }}\"", "addr = \"{{ redis_adress }}\"");
        assert!(template.contains("invalid variable template: unknown variable \"redis_adress\""), "{template}");
        let unknown = err("[application]\n", "[application]\nowner = \"me\"\n");
        assert!(unknown.contains("unknown field `owner`"), "{unknown}");
        let private = err("route = { private = true }", "route = { private = false }");
        assert!(private.contains("route must be a string pattern or '{ private = true }'"), "{private}");
        assert!(err("spin_manifest_version = 2", "spin_manifest_version = \"2\"").contains("invalid manifest version: \"2\""));
    }

    /// The project's own manifest passes the same checks Spin makes.
    #[test]
    fn the_project_manifest_is_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        Manifest::load(&root.join("spin.toml")).unwrap();
        Manifest::load(&root.join("tests/fixtures/spin.toml")).unwrap();
    }
}
