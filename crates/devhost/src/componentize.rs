//! Core wasm modules as components, the way Spin loads them.
//!
//! Spin accepts a component `source` that is a core module built with wit-bindgen (say
//! `cargo build --target wasm32-unknown-unknown`): such a module carries its WIT world in
//! `component-type` custom sections, and Spin's `spin-componentize` wraps it into a component
//! with wit-component's `ComponentEncoder` when it loads the app. devhost does the same, so
//! these modules (Spin's own conformance test components among them) run unchanged.
//!
//! Spin also adapts modules that import WASI preview 1 (`wasm32-wasip1` builds), with an
//! adapter module it ships; devhost ships none and refuses them with a message saying how to
//! build instead.

use std::borrow::Cow;
use std::path::Path;

use anyhow::{bail, Context, Result};
use wasmparser::{Parser, Payload};
use wasmtime::component::Component;
use wasmtime::Engine;

/// The import module of WASI preview 1, which only an adapter can provide to a component.
const PREVIEW1: &str = "wasi_snapshot_preview1";

/// Compiles the component at `path`, componentizing it first if it is a core module.
pub(crate) fn load(engine: &Engine, path: &Path) -> Result<Component> {
    let wasm = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let component = componentize_if_necessary(&wasm)?;
    Ok(Component::from_binary(engine, &component)?)
}

/// `wasm` itself when it is a component; a component made from it when it is a core module.
pub(crate) fn componentize_if_necessary(wasm: &[u8]) -> Result<Cow<'_, [u8]>> {
    if Parser::is_component(wasm) {
        return Ok(Cow::Borrowed(wasm));
    }
    if !Parser::is_core_wasm(wasm) {
        bail!("not a WebAssembly component or module");
    }
    if imports_preview1(wasm)? {
        bail!(
            "this core module imports {PREVIEW1} (a wasm32-wasip1 build), which devhost cannot adapt: \
             build for wasm32-wasip2 or wasm32-unknown-unknown, or make it a component with \
             `wasm-tools component new --adapt`"
        );
    }
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(wasm)
        .and_then(|mut encoder| encoder.encode())
        .context("cannot make a component of this core module (was it built with wit-bindgen?)")?;
    Ok(Cow::Owned(component))
}

fn imports_preview1(module: &[u8]) -> Result<bool> {
    for payload in Parser::new(0).parse_all(module) {
        if let Payload::ImportSection(imports) = payload? {
            for import in imports.into_imports() {
                if import?.module == PREVIEW1 {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection, ImportSection, Instruction, Module, TypeSection,
        ValType,
    };

    /// A core module as wit-bindgen emits it for `probe`: it imports `get` from the world
    /// (module `$root`) and exports `run`, which answers `get() + 1`.
    fn module(import_module: &str) -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function([], [ValType::I32]);
        let mut imports = ImportSection::new();
        imports.import(import_module, "get", EntityType::Function(0));
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut exports = ExportSection::new();
        exports.export("run", ExportKind::Func, 1);
        let mut body = Function::new([]);
        body.instruction(&Instruction::Call(0))
            .instruction(&Instruction::I32Const(1))
            .instruction(&Instruction::I32Add)
            .instruction(&Instruction::End);
        let mut code = CodeSection::new();
        code.function(&body);
        let mut module = Module::new();
        module.section(&types).section(&imports).section(&functions).section(&exports).section(&code);
        let mut wasm = module.finish();

        let mut resolve = wit_parser::Resolve::default();
        let package = resolve
            .push_str("probe.wit", "package test:probe; world probe { import get: func() -> u32; export run: func() -> u32; }")
            .unwrap();
        let world = resolve.select_world(&[package], Some("probe")).unwrap();
        wit_component::embed_component_metadata(&mut wasm, &resolve, world, wit_component::StringEncoding::UTF8).unwrap();
        wasm
    }

    #[test]
    fn core_modules_become_components_that_run_and_components_pass_through() {
        let core = module("$root");
        let component = componentize_if_necessary(&core).unwrap().into_owned();
        assert!(Parser::is_component(&component));
        assert!(matches!(componentize_if_necessary(&component).unwrap(), Cow::Borrowed(_)));

        let engine = Engine::default();
        let mut linker = wasmtime::component::Linker::<()>::new(&engine);
        linker.root().func_wrap("get", |_, ()| Ok((41u32,))).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = linker.instantiate(&mut store, &Component::new(&engine, &component).unwrap()).unwrap();
        let run = instance.get_typed_func::<(), (u32,)>(&mut store, "run").unwrap();
        assert_eq!(run.call(&mut store, ()).unwrap(), (42,));
    }

    #[test]
    fn preview1_modules_and_non_wasm_are_refused_with_what_to_do() {
        let error = format!("{:#}", componentize_if_necessary(&module(PREVIEW1)).unwrap_err());
        assert!(error.contains("wasm32-wasip2") && error.contains("wasm-tools component new"), "{error}");
        let error = componentize_if_necessary(b"not wasm at all").unwrap_err().to_string();
        assert!(error.contains("not a WebAssembly"), "{error}");
    }
}
