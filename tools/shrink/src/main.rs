//! `shrink <built.wasm> <shipped.wasm>`: the component `cargo build` made, with its code run
//! through binaryen's `wasm-opt -Oz` (about a fifth smaller), written where spin.toml ships it
//! from.
//!
//! wasm-opt reads core modules, not components, so this takes the component's largest core
//! module (the Rust code; the others are a few hundred bytes of glue), optimises it and puts it
//! back in the same place. A component instantiates its modules and wires their imports and
//! exports by name, and wasm-opt keeps every import and export, so the wiring still holds.
//!
//! Up to date (shipped newer than built) is a no-op: `spin build` runs this on every build. No
//! `wasm-opt` on the machine ships the component as built, with a warning; `scripts/setup`
//! installs it (Debian's `binaryen`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The start of every component binary: `\0asm`, then version 13 and layer 1.
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// The id of a component section holding one core module.
const CORE_MODULE: u8 = 1;

/// The WebAssembly features `wasm32-wasip2` code uses (`rustc --print cfg --target
/// wasm32-wasip2`); wasm-opt refuses code using a feature it was not told about.
const FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-multivalue",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-sign-ext",
];

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [built, shipped] = args.as_slice() else {
        eprintln!("usage: shrink <built.wasm> <shipped.wasm>");
        return ExitCode::from(2);
    };
    match run(built, shipped) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shrink: {}: {e}", built.display());
            ExitCode::FAILURE
        }
    }
}

fn run(built: &Path, shipped: &Path) -> Result<(), String> {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if let (Some(built_at), Some(shipped_at)) = (modified(built), modified(shipped)) {
        if shipped_at >= built_at {
            return Ok(());
        }
    }
    let component = std::fs::read(built).map_err(|e| format!("cannot read it ({e}); build it first"))?;
    if let Some(dir) = shipped.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let out = match optimise(&component, shipped) {
        Ok(smaller) => smaller,
        Err(why) => {
            eprintln!("warning: shipping {} as built, not optimised: {why}", built.display());
            component
        }
    };
    std::fs::write(shipped, out).map_err(|e| format!("cannot write {}: {e}", shipped.display()))
}

/// The component with its largest core module through `wasm-opt -Oz`.
fn optimise(component: &[u8], shipped: &Path) -> Result<Vec<u8>, String> {
    let sections = sections(component)?;
    let code = sections.iter().filter(|s| s.id == CORE_MODULE).max_by_key(|s| s.payload.len()).ok_or("the component has no core module")?;
    let module = shipped.with_extension("module.wasm");
    let optimised = shipped.with_extension("module.opt.wasm");
    std::fs::write(&module, &component[code.payload.clone()]).map_err(|e| format!("cannot write {}: {e}", module.display()))?;
    let result = Command::new("wasm-opt").arg("-Oz").args(FEATURES).arg(&module).arg("-o").arg(&optimised).output();
    let _ = std::fs::remove_file(&module);
    let output = result.map_err(|e| format!("cannot run wasm-opt ({e}); install binaryen (scripts/setup does)"))?;
    let smaller = std::fs::read(&optimised);
    let _ = std::fs::remove_file(&optimised);
    if !output.status.success() {
        return Err(format!("wasm-opt failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let smaller = smaller.map_err(|e| format!("wasm-opt wrote nothing ({e})"))?;
    let mut out = Vec::with_capacity(component.len());
    out.extend_from_slice(&component[..code.start]);
    out.push(CORE_MODULE);
    leb128(&mut out, smaller.len());
    out.extend_from_slice(&smaller);
    out.extend_from_slice(&component[code.payload.end..]);
    Ok(out)
}

/// One top-level section: where it starts (its id byte), its id and where its payload lies.
#[derive(Debug, PartialEq)]
struct Section {
    start: usize,
    id: u8,
    payload: std::ops::Range<usize>,
}

/// The component's top-level sections, in order.
fn sections(bytes: &[u8]) -> Result<Vec<Section>, String> {
    if !bytes.starts_with(&COMPONENT_HEADER) {
        return Err("not a WebAssembly component".into());
    }
    let mut at = COMPONENT_HEADER.len();
    let mut found = Vec::new();
    while at < bytes.len() {
        let start = at;
        let id = bytes[at];
        let (len, used) = read_leb128(&bytes[at + 1..]).ok_or("a section's length is cut off")?;
        let begin = at + 1 + used;
        let end = begin.checked_add(len).filter(|&end| end <= bytes.len()).ok_or("a section runs past the end")?;
        found.push(Section { start, id, payload: begin..end });
        at = end;
    }
    Ok(found)
}

/// An unsigned LEB128 number and how many bytes it took.
fn read_leb128(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, &byte) in bytes.iter().enumerate().take(5) {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_round_trips() {
        for n in [0, 1, 127, 128, 16_383, 16_384, 969_288, u32::MAX as usize] {
            let mut bytes = Vec::new();
            leb128(&mut bytes, n);
            assert_eq!(read_leb128(&bytes), Some((n, bytes.len())));
        }
    }

    #[test]
    fn sections_are_found_and_a_cut_one_is_refused() {
        let mut component = COMPONENT_HEADER.to_vec();
        component.extend([CORE_MODULE, 3, b'a', b'b', b'c', 0, 1, b'x']);
        let found = sections(&component).unwrap();
        assert_eq!(found, [Section { start: 8, id: CORE_MODULE, payload: 10..13 }, Section { start: 13, id: 0, payload: 15..16 }]);
        component.pop();
        assert!(sections(&component).is_err());
        assert!(sections(b"\0asm\x01\0\0\0").is_err(), "a core module is not a component");
    }
}
