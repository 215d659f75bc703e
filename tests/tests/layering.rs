//! The layering the workspace promises, checked on its sources: no import
//! cycle between the modules of a crate, and the crates depend on each
//! other only downwards (ARCHITECTURE.md, "Code map").
//!
//! Sibling modules (the files and directories of one directory) form a
//! graph: `a` depends on `b` when code of `a` names `crate::b` (or
//! `super::b` one level down). Test code (`#[cfg(test)] mod tests` and
//! `tests.rs` files) is left out: a test may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Each crate's `src` directory.
const CRATES: &[&str] = &["domain", "sync", "store", "desk", "node", "provisioning", "simulations", "tests"];

/// A module: its path from the crate root (`["http", "web"]`) and its code
/// without tests.
struct Module {
    path: Vec<String>,
    code: String,
}

fn modules(src: &Path) -> Vec<Module> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.file_stem().is_some_and(|s| s == "tests") {
                continue;
            }
            let rel = path.strip_prefix(src).expect("under src");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            let file = parts.pop().expect("a file name");
            let stem = file.trim_end_matches(".rs");
            if !matches!(stem, "lib" | "main" | "mod") {
                parts.push(stem.to_string());
            }
            if parts.first().is_some_and(|p| p == "bin") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            out.push(Module { path: parts, code: without_tests(&text) });
        }
    }
    out
}

/// The code before a file's test module.
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" && lines.peek().is_some_and(|l| l.trim_start().starts_with("mod tests")) {
            break;
        }
        // A doc link is no dependency.
        if line.trim_start().starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The first path segments named after `prefix` (`crate::` or `super::`),
/// with `use crate::{a, b::c}` groups opened.
fn named_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|p| p.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
            .take_while(|p| !p.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(inner.split(',').map(|p| ident(p.trim())));
        } else {
            out.push(ident(rest));
        }
    }
    out
}

/// Edges between the children of each directory module, keyed by that
/// directory's path.
fn sibling_edges(modules: &[Module]) -> BTreeMap<Vec<String>, BTreeSet<(String, String)>> {
    let known: BTreeSet<&Vec<String>> = modules.iter().map(|m| &m.path).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<(String, String)>> = BTreeMap::new();
    for m in modules {
        let mut targets: Vec<Vec<String>> = named_after(&m.code, "crate::");
        if let Some((_, parent)) = m.path.split_last() {
            for rel in named_after(&m.code, "super::") {
                let mut full = parent.to_vec();
                full.extend(rel);
                targets.push(full);
            }
        }
        for target in targets {
            // The shared ancestor, then the two children of it that differ.
            let common = m.path.iter().zip(&target).take_while(|(a, b)| a == b).count();
            let (Some(from), Some(to)) = (m.path.get(common), target.get(common)) else { continue };
            let sibling = m.path[..=common].to_vec();
            let mut other = m.path[..common].to_vec();
            other.push(to.clone());
            if known.contains(&sibling) && known.contains(&other) {
                edges.entry(m.path[..common].to_vec()).or_default().insert((from.clone(), to.clone()));
            }
        }
    }
    edges
}

/// A cycle in a directed graph, if there is one.
fn find_cycle(edges: &BTreeSet<(String, String)>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    fn visit<'a>(
        n: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| *p == n) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if !done.insert(n) {
            return None;
        }
        path.push(n);
        for m in next.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    next.keys().find_map(|n| visit(n, &next, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let mut cycles = Vec::new();
    for krate in CRATES {
        let mods = modules(&root().join(krate).join("src"));
        assert!(mods.len() > 1 || *krate == "provisioning", "{krate}: no modules found");
        for (dir, mut edges) in sibling_edges(&mods) {
            // Every cycle, each reported once: one of its edges is set
            // aside before looking again.
            while let Some(c) = find_cycle(&edges) {
                cycles.push(format!("{krate}/src/{}: {}", dir.join("/"), c.join(" → ")));
                edges.remove(&(c[c.len() - 2].clone(), c[c.len() - 1].clone()));
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_a_cycle_between_sibling_modules() {
    let m =
        |path: &[&str], code: &str| Module { path: path.iter().map(|s| s.to_string()).collect(), code: code.into() };
    let mods = [
        m(&[], "pub mod a; pub mod b; pub mod net;"),
        m(&["a"], "use crate::b::Thing;"),
        m(&["b"], "fn f() { crate::a::g() }"),
        m(&["net"], "pub mod replica; pub mod dial;"),
        m(&["net", "replica"], "use super::dial::Redial;"),
        m(&["net", "dial"], "use crate::{net::replica::X, a};"),
    ];
    let edges = sibling_edges(&mods);
    assert_eq!(find_cycle(&edges[&vec![]]), Some(vec!["a".into(), "b".into(), "a".into()]));
    let net = &edges[&vec!["net".to_string()]];
    assert_eq!(find_cycle(net), Some(vec!["dial".into(), "replica".into(), "dial".into()]));
    let acyclic = [m(&[], ""), m(&["a"], "use crate::b::Thing;"), m(&["b"], "")];
    assert_eq!(find_cycle(&sibling_edges(&acyclic)[&vec![]]), None);
    assert_eq!(without_tests("fn a() {}\n#[cfg(test)]\nmod tests {\n use crate::b;\n}\n"), "fn a() {}\n");
    assert_eq!(without_tests("/// See [`crate::b`].\nfn a() {}\n"), "fn a() {}\n");
}

/// Which workspace crates each crate may depend on: each only on those
/// below it; and no crate but the binary links a runtime, HTTP or iroh
/// (so `motcua-provision` does not either).
#[test]
fn crates_depend_only_downwards() {
    let allowed: &[(&str, &[&str])] = &[
        ("domain", &[]),
        ("sync", &["motcua-domain"]),
        ("store", &["motcua-domain", "motcua-sync"]),
        ("desk", &["motcua-domain", "motcua-sync", "motcua-store"]),
        ("node", &["motcua-domain", "motcua-sync", "motcua-store", "motcua-desk"]),
        ("provisioning", &["motcua-domain", "motcua-sync", "motcua-store", "motcua-desk"]),
    ];
    for (krate, may) in allowed {
        let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).expect("manifest");
        let deps = manifest.split("[dependencies]").nth(1).unwrap_or("");
        let deps = deps.split("\n[").next().unwrap_or("");
        for line in deps.lines() {
            let name = line.split(['=', '.']).next().unwrap_or("").trim();
            if name.starts_with("motcua") {
                assert!(may.contains(&name), "{krate} depends on {name}, which is not below it");
            }
            // An async runtime, HTTP or the network only in the binary.
            if *krate != "node" {
                let adapter = ["tokio", "axum", "hyper", "iroh"].iter().any(|a| name.starts_with(a));
                assert!(!adapter, "{krate} depends on {name}: only the motcua binary holds adapters");
            }
        }
    }
}

/// One write path: the adapters (HTTP handlers, the sync network) and the
/// technician's tool never open a store transaction of their own; every
/// write goes through a desk operation and the store's single writer.
#[test]
fn adapters_open_no_store_transaction() {
    let mut found = Vec::new();
    for krate in ["node", "provisioning"] {
        for m in modules(&root().join(krate).join("src")) {
            if m.code.contains(".begin()") || m.code.contains("commit_durable") {
                found.push(format!("{krate}/src/{}", m.path.join("/")));
            }
        }
    }
    assert!(found.is_empty(), "modules that open a transaction: {found:?}");
}
