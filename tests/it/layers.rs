//! The layers of `src/lib.rs` ("Layout"), held against the code: the pure core imports no I/O
//! crate, and the binary's top-level modules import only the layers below their own, so no two
//! of them import each other, directly or in a circle.
//!
//! The core crates cannot import the binary at all (Cargo refuses a dependency cycle), and a
//! core crate cannot use a crate its `Cargo.toml` does not list; what remains to check is the
//! list itself and the binary's own modules. Both checks read the project as it is on disk:
//! `cargo metadata` for the dependencies, the sources under `src/` for the imports.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pure core: no runtime, no sockets, no clock.
const CORE: [&str; 5] = [
    "probe-model",
    "probe-observation",
    "probe-policy",
    "probe-diagnose",
    "probe-config",
];

/// Crates that do I/O, or exist to: none may appear among the core's dependencies, however
/// indirectly. A name ending in `*` is a prefix.
const IO_CRATES: [&str; 20] = [
    "tokio*",
    "mio",
    "socket2",
    "nix",
    "libc",
    "hyper*",
    "h2",
    "http",
    "http-body*",
    "rustls*",
    "ring",
    "aws-lc*",
    "caps",
    "prometheus",
    "reqwest",
    "futures*",
    "async-*",
    "signal-hook*",
    "indicatif",
    "crossterm",
];

/// The binary's top-level modules, lowest layer first: a module may import only modules of a
/// lower layer (and the core, re-exported at the crate root). Same-layer modules are siblings
/// that must not know each other.
const LAYERS: &[&[&str]] = &[
    &["panics"],
    &["probe"],
    &["engine", "files", "plan"],
    &["output"],
    &["agent"],
    &["cli"],
];

/// The core's names at the crate root (`pub use probe_model as model` …): below everything.
const CORE_ALIASES: [&str; 6] = [
    "model",
    "observation",
    "config",
    "policy",
    "diagnose",
    "health",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn is_io(name: &str) -> bool {
    IO_CRATES
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *pattern,
        })
}

/// Every crate each core crate depends on for its normal build (not its tests), however
/// indirectly: from `cargo metadata`'s resolved graph.
fn core_closures() -> BTreeMap<&'static str, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let name_of: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id"),
                p["name"].as_str().expect("name"),
            )
        })
        .collect();
    // Package id → the ids it depends on with a normal (not dev, not build) dependency.
    let mut normal: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
        let id = node["id"].as_str().expect("node id");
        let deps = node["deps"].as_array().expect("deps").iter().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].is_null())
        });
        normal.insert(id, deps.map(|d| d["pkg"].as_str().expect("pkg")).collect());
    }
    let mut closures = BTreeMap::new();
    for core in CORE {
        let start = name_of
            .iter()
            .find(|(_, n)| **n == core)
            .map(|(id, _)| *id)
            .unwrap_or_else(|| panic!("{core} is not a package of the workspace"));
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(id) = todo.pop() {
            for &dep in normal.get(id).into_iter().flatten() {
                if seen.insert(name_of[dep].to_string()) {
                    todo.push(dep);
                }
            }
        }
        closures.insert(core, seen);
    }
    closures
}

#[test]
fn the_core_depends_on_no_io_crate() {
    let closures = core_closures();
    let mut offences = Vec::new();
    for (core, deps) in &closures {
        for dep in deps.iter().filter(|d| is_io(d)) {
            offences.push(format!("{core} depends on {dep}"));
        }
    }
    assert!(
        offences.is_empty(),
        "the pure core must do no I/O (src/lib.rs, Layout):\n{}",
        offences.join("\n")
    );
    // The check can fail: the binary itself, which probes, depends on several of them.
    assert!(is_io("tokio") && is_io("tokio-rustls") && is_io("nix") && !is_io("serde"));
}

/// The top-level modules a source file names: `crate::X`, and every first name in
/// `crate::{X, Y::…}`.
fn imported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        names.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            names.insert(first_segment(&item));
        } else {
            names.insert(first_segment(rest));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn first_segment(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Which top-level modules each top-level module of `src/` imports.
fn module_imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src/");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_string())
            .expect("a name");
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read a source file");
        // Comments (doc links) name what they explain, which is no import.
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let names = imported(&code);
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(names.into_iter().filter(|n| *n != top));
    }
    graph
}

#[test]
fn the_binary_imports_only_downwards() {
    let layer_of: HashMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (*m, i)))
        .collect();
    let graph = module_imports();
    let mut offences = Vec::new();
    for (module, imports) in &graph {
        let Some(&own) = layer_of.get(module.as_str()) else {
            offences.push(format!(
                "src/{module} is in no layer of tests/it/layers.rs (and src/lib.rs's Layout)"
            ));
            continue;
        };
        for name in imports {
            if CORE_ALIASES.contains(&name.as_str()) {
                continue;
            }
            match layer_of.get(name.as_str()) {
                Some(&l) if l < own => {}
                Some(_) => offences.push(format!("{module} imports {name}, which is not below it")),
                None => offences.push(format!(
                    "{module} imports crate::{name}, which is no module"
                )),
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the binary's modules must import only lower layers ({LAYERS:?}):\n{}\nimports: {graph:#?}",
        offences.join("\n")
    );
    // The graph is what the check says it is: the top imports the layers under it.
    assert!(graph["cli"].contains("agent") && graph["agent"].contains("engine"));
}

#[test]
fn imports_are_read_from_paths_and_groups() {
    let text = "use crate::probe::{self, sys};\nuse crate::{engine::run, output};\nx(crate::plan::spec_for(c));";
    let names: Vec<String> = imported(text).into_iter().collect();
    assert_eq!(names, ["engine", "output", "plan", "probe"]);
}
