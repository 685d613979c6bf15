//! The shape of `core/src`, checked: the floor (`model`, `codes`) imports nothing of core,
//! and no two top-level modules import each other, directly or through others. Read from the
//! `crate::` paths in the sources, so a new import loop fails here, not in a review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read core/src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`batch/ingest.rs` → `batch`, `codes.rs` →
/// `codes`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under core/src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The top-level modules a file names through `crate::`, test modules included.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        // `$crate::` is a macro's own crate, not an import.
        if text[..at].ends_with('$') {
            continue;
        }
        let rest = &text[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&src, &file);
        if module == "lib" {
            continue; // the root declares every module
        }
        let text = std::fs::read_to_string(&file).expect("read a source");
        let to = edges.entry(module.clone()).or_default();
        to.extend(imports(&text).into_iter().filter(|m| *m != module));
    }
    edges
}

#[test]
fn the_floor_imports_nothing_of_core() {
    let edges = graph();
    for floor in ["model", "codes"] {
        let up = &edges[floor];
        assert!(up.is_empty(), "{floor} imports {up:?}");
    }
}

#[test]
fn modules_go_through_their_own_paths_not_the_roots_re_exports() {
    for (module, to) in graph() {
        let via_root: Vec<_> = to
            .iter()
            .filter(|m| m.starts_with(|c: char| c.is_ascii_uppercase()) || *m == "open_store")
            .collect();
        assert!(
            via_root.is_empty(),
            "{module} imports {via_root:?} through the crate root"
        );
    }
}

#[test]
fn no_two_modules_import_each_other() {
    let edges = graph();
    // Depth-first search for a cycle, reporting its path.
    fn visit<'a>(
        at: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(i) = path.iter().position(|m| *m == at) {
            panic!("import loop: {} -> {at}", path[i..].join(" -> "));
        }
        if done.contains(at) {
            return;
        }
        path.push(at);
        for next in edges.get(at).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(at);
    }
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        visit(module, &edges, &mut Vec::new(), &mut done);
    }
    assert!(edges.len() > 10, "the sources were read: {edges:?}");
}
