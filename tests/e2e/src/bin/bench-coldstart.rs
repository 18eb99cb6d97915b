//! Cold start benchmark (run by `scripts/bench-coldstart`; prints figures, asserts nothing).
//! For the components as cargo builds them and as spin.toml ships them (through wasm-opt, see
//! tools/shrink), alternately, five times each: how long `spin up` takes until it serves, with
//! Wasmtime's cache of compiled code (Spin's default: every start after the first) and without
//! it (`DISABLE_WASMTIME_CACHE`: the first start after a build or deploy compiles every
//! component), then the first request to each component and the same request again, in
//! milliseconds. Real Redis and S3; services started before the first timing.

use std::time::Instant;

use e2e::{App, AppOptions};

const RUNS: usize = 5;

/// One cheap request per component.
const FIRST_REQUESTS: [(&str, &str); 5] = [
    ("auth", "/.well-known/jwks.json"),
    ("static-files", "/"),
    ("feed", "/feed/latest"),
    ("upload-sign", "/uploads/health"),
    ("search-proxy", "/search/health"),
];

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

/// spin.toml with every component served from where cargo builds it (absolute paths), in `dir`.
fn as_built_manifest(dir: &std::path::Path) -> std::path::PathBuf {
    let root = e2e::root();
    let manifest = std::fs::read_to_string(root.join("spin.toml")).unwrap();
    let rewritten: String = manifest
        .lines()
        .map(|line| match line.strip_prefix("source = \"target/shipped/") {
            Some(rest) => format!("source = \"{}/target/wasm32-wasip2/release/{rest}", root.display()),
            None => line.to_owned(),
        })
        .map(|line| line + "\n")
        .collect();
    // Spin serves files only from inside the application's directory.
    std::os::unix::fs::symlink(root.join("web"), dir.join("web")).unwrap();
    let path = dir.join("spin.toml");
    std::fs::write(&path, rewritten).unwrap();
    path
}

fn main() {
    e2e::build();
    e2e::Services::shared();
    let dir = e2e::TempDir::new("coldstart");
    let built = as_built_manifest(dir.path());
    let variants = [("as built", built.to_str().unwrap().to_owned()), ("shipped (wasm-opt)", "spin.toml".to_owned())];
    let size = |manifest: &str| -> u64 {
        let text = std::fs::read_to_string(e2e::root().join(manifest)).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix("source = \"")?.strip_suffix('"'))
            .map(|source| std::fs::metadata(e2e::root().join(source)).map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    let mut ready: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut compiling: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut first: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); FIRST_REQUESTS.len()]; variants.len()];
    let mut second: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); FIRST_REQUESTS.len()]; variants.len()];
    for _ in 0..RUNS {
        for (v, (_, manifest)) in variants.iter().enumerate() {
            let uncached = vec![("DISABLE_WASMTIME_CACHE".to_owned(), "true".to_owned())];
            let start = Instant::now();
            drop(App::start(AppOptions { manifest, env: uncached, ..AppOptions::default() }));
            compiling[v].push(start.elapsed().as_secs_f64() * 1000.0);
            let start = Instant::now();
            let app = App::start(AppOptions { manifest, ..AppOptions::default() });
            ready[v].push(start.elapsed().as_secs_f64() * 1000.0);
            for (r, (_, path)) in FIRST_REQUESTS.iter().enumerate() {
                for samples in [&mut first[v][r], &mut second[v][r]] {
                    let start = Instant::now();
                    let reply = app.request("GET", path).send(None);
                    samples.push(start.elapsed().as_secs_f64() * 1000.0);
                    assert!(reply.status < 500 || reply.status == 503, "{path}: {}", reply.status);
                }
            }
        }
    }
    println!("medians of {RUNS} runs each, the two variants alternating:\n");
    println!("| | as built | shipped (wasm-opt) |");
    println!("|---|---|---|");
    println!("| bytes, all five components | {} | {} |", size(&variants[0].1), size(&variants[1].1));
    println!(
        "| `spin up` until serving, compiling every component (ms) | {:.0} | {:.0} |",
        median(&mut compiling[0]),
        median(&mut compiling[1])
    );
    println!("| `spin up` until serving, compiled code cached (ms) | {:.0} | {:.0} |", median(&mut ready[0]), median(&mut ready[1]));
    for (r, (component, path)) in FIRST_REQUESTS.iter().enumerate() {
        println!(
            "| {component} `GET {path}`: first / second request (ms) | {:.2} / {:.2} | {:.2} / {:.2} |",
            median(&mut first[0][r]),
            median(&mut second[0][r]),
            median(&mut first[1][r]),
            median(&mut second[1][r])
        );
    }
}
