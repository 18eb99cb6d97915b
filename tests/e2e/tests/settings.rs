//! Settings have one path: every variable a component gets in spin.toml is a typed constant
//! (`Number::new`, `Text::new` or `Flag::new`) in that component's settings table or in the shared one
//! (crates/edge-spin/src/settings.rs), every constant a component declares reaches it, and only
//! the shared table's `Variables` asks Spin for a variable.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// The variable names declared as settings in `text`: `Number::new("name"`, `Text::new("name"` and
/// `Flag::new("name"`.
fn declared(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for marker in ["Number::new(\"", "Text::new(\"", "Flag::new(\""] {
        for (at, _) in text.match_indices(marker) {
            let rest = &text[at + marker.len()..];
            names.insert(rest[..rest.find('"').expect("closing quote")].to_owned());
        }
    }
    names
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_variable_is_a_typed_setting_in_one_table_and_reaches_its_component() {
    let root = e2e::root();
    let manifest: toml::Table = toml::from_str(&read(&root.join("spin.toml"))).expect("spin.toml is TOML");
    let shared = declared(&read(&root.join("crates/edge-spin/src/settings.rs")));
    assert!(shared.contains("redis_address") && shared.contains("cors_origins"), "{shared:?}");
    let components = manifest["component"].as_table().expect("[component]");
    assert_eq!(components.len(), 5);
    for (name, component) in components {
        let given: BTreeSet<String> =
            component.get("variables").and_then(|v| v.as_table()).map(|t| t.keys().cloned().collect()).unwrap_or_default();
        let own: BTreeSet<String> =
            sources(&root.join("components").join(name).join("src")).iter().flat_map(|f| declared(&read(f))).collect();
        let undeclared: Vec<&String> = given.iter().filter(|v| !own.contains(*v) && !shared.contains(*v)).collect();
        assert!(undeclared.is_empty(), "{name} gets {undeclared:?} in spin.toml but declares no setting for it");
        let unreachable: Vec<&String> = own.iter().filter(|v| !given.contains(*v)).collect();
        assert!(unreachable.is_empty(), "{name} reads {unreachable:?}, which spin.toml does not give it");
    }
}

#[test]
fn settings_are_declared_in_settings_tables_and_read_only_through_them() {
    let root = e2e::root();
    let mut files = sources(&root.join("components"));
    files.extend(sources(&root.join("crates")));
    for file in files {
        let text = read(&file);
        let relative = file.strip_prefix(&root).expect("under the root").display().to_string();
        // The types' own file tests them with made-up names.
        let table = relative.ends_with("/settings.rs")
            || relative == "components/static-files/src/lib.rs"
            || relative == "crates/edge-http/src/setting.rs";
        if !table {
            assert!(declared(&text).is_empty(), "{relative} declares settings outside a settings table");
        }
        if relative != "crates/edge-spin/src/settings.rs" {
            assert!(!text.contains("variables::get("), "{relative} asks Spin for a variable itself");
        }
    }
}
