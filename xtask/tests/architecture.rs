//! The layering rule of `ARCHITECTURE.md`, enforced: every module of
//! `xtask/src` is in the code map with its layer (command, service or leaf),
//! no module imports from a higher layer, the modules of the code map import
//! each other without a circle, and so do the folders: a top-level module
//! with all its submodules (`docker` is `docker` and `docker::*`) is one node,
//! and folders that import each other in a circle, directly or through
//! others, fail the test (`flags` included: the value types it parses into
//! live in services and leaves).
//!
//! Imports are read from the code: every `crate::…` and `super::…` path (in
//! `use` lines and inline), `use` trees expanded, comments, strings and
//! `#[cfg(test)]` items left out (tests may reach what they test against).
//! The checker itself is unit-tested below on planted upward and circular
//! imports, between modules and between folders.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Leaf,
    Service,
    Command,
}

impl Layer {
    fn parse(s: &str) -> Option<Layer> {
        match s {
            "leaf" => Some(Layer::Leaf),
            "service" => Some(Layer::Service),
            "command" => Some(Layer::Command),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Layer::Leaf => "leaf",
            Layer::Service => "service",
            Layer::Command => "command",
        }
    }
}

/// The code map: lines ``- `docker::engine` (service): …``.
fn code_map(md: &str) -> BTreeMap<String, Layer> {
    let mut out = BTreeMap::new();
    for line in md.lines() {
        let Some(rest) = line.strip_prefix("- `") else { continue };
        let Some((module, rest)) = rest.split_once("` (") else { continue };
        let Some((layer, _)) = rest.split_once(')') else { continue };
        if let Some(layer) = Layer::parse(layer) {
            out.insert(module.to_owned(), layer);
        }
    }
    out
}

/// `docker/engine.rs` → `docker::engine`, `docker/mod.rs` → `docker`, `main.rs` → ``.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "main" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The text with comments, string and char literals blanked (same length, lines kept).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    while i < c.len() {
        let rest = |n: usize| c.get(i + n).copied();
        let at = |i: usize, n: usize| c.get(i + n).copied();
        if c[i] == '/' && rest(1) == Some('/') {
            while i < c.len() && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '/' && rest(1) == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i, 1) == Some('*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && at(i, 1) == Some('/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if c[i] == 'r' && (rest(1) == Some('"') || rest(1) == Some('#')) && (i == 0 || !is_ident(c[i - 1])) {
            // Raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len() && !(c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#'))) {
                j += 1;
            }
            let end = (j + 1 + hashes).min(c.len());
            for &ch in &c[i..end] {
                blank(&mut out, ch);
            }
            i = end;
        } else if c[i] == '"' {
            blank(&mut out, c[i]);
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            if i < c.len() {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}'), else a lifetime.
            let end = if rest(1) == Some('\\') {
                (i + 2..c.len()).find(|&j| c[j] == '\'').map(|j| j + 1)
            } else if rest(2) == Some('\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for &ch in &c[i..end] {
                        blank(&mut out, ch);
                    }
                    i = end;
                }
                None => {
                    out.push(c[i]);
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Code without the items marked `#[cfg(test)]` (input: [`code_only`] text).
fn without_tests(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let bytes = out.as_bytes();
        let mut j = at;
        // The item ends at its block's closing brace, or at `;` (`mod tests;`).
        while j < bytes.len() && bytes[j] != b'{' && bytes[j] != b';' {
            j += 1;
        }
        if j < bytes.len() && bytes[j] == b'{' {
            let mut depth = 0;
            while j < bytes.len() {
                match bytes[j] {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        let end = (j + 1).min(out.len());
        out.replace_range(at..end, "");
    }
    out
}

/// Every path a module names through `crate::` or `super::`, as full paths
/// from the crate root (`use` trees expanded).
fn references(code: &str, module: &str) -> Vec<Vec<String>> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let at_word = i == 0 || !(is_ident(c[i - 1]) || c[i - 1] == ':');
        let starts = |w: &str| c[i..].iter().take(w.len()).copied().eq(w.chars());
        if at_word && (starts("crate::") || starts("super::")) {
            let mut base: Vec<String> =
                if module.is_empty() { Vec::new() } else { module.split("::").map(str::to_owned).collect() };
            if starts("crate::") {
                base.clear();
                i += "crate::".len();
            } else {
                while c[i..].iter().take(7).copied().eq("super::".chars()) {
                    base.pop();
                    i += "super::".len();
                }
            }
            use_tree(&c, &mut i, base, &mut out);
        } else {
            i += 1;
        }
    }
    out
}

fn use_tree(c: &[char], i: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let skip_ws = |i: &mut usize| {
        while *i < c.len() && c[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(i);
        if *i < c.len() && c[*i] == '{' {
            *i += 1;
            loop {
                skip_ws(i);
                if *i >= c.len() {
                    return;
                }
                if c[*i] == '}' {
                    *i += 1;
                    return;
                }
                use_tree(c, i, prefix.clone(), out);
                skip_ws(i);
                if *i < c.len() && c[*i] == ',' {
                    *i += 1;
                }
            }
        }
        let start = *i;
        while *i < c.len() && is_ident(c[*i]) {
            *i += 1;
        }
        let word: String = c[start..*i].iter().collect();
        if word.is_empty() {
            if *i < c.len() && c[*i] == '*' {
                *i += 1;
            }
            out.push(prefix);
            return;
        }
        if word != "self" {
            prefix.push(word);
        }
        if c[*i..].iter().take(2).copied().eq("::".chars()) {
            *i += 2;
            continue;
        }
        // The end of the path, and its `as name` if any.
        out.push(prefix);
        let mut j = *i;
        skip_ws(&mut j);
        if c[j..].iter().take(3).copied().eq("as ".chars()) {
            j += 3;
            skip_ws(&mut j);
            while j < c.len() && is_ident(c[j]) {
                j += 1;
            }
            *i = j;
        }
        return;
    }
}

/// The module of the code map that owns `path` (its longest prefix).
fn owner<'a>(path: &[String], map: &'a BTreeMap<String, Layer>) -> Option<&'a str> {
    (1..=path.len()).rev().find_map(|n| map.get_key_value(&path[..n].join("::")).map(|(k, _)| k.as_str()))
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The violations of the rule, one line each (empty: the rule holds).
/// `files`: (module path, source text).
fn check(files: &[(String, String)], map: &BTreeMap<String, Layer>) -> Vec<String> {
    let (mut problems, graph) = imports(files, map);
    for cycle in cycles(&graph) {
        problems.push(format!("import circle: {}", cycle.join(" -> ")));
    }
    problems.extend(folder_circles(&graph));
    problems.sort();
    problems.dedup();
    problems
}

/// The import graph between the modules of the code map, and the problems
/// found on the way (unmapped modules, upward imports).
fn imports(files: &[(String, String)], map: &BTreeMap<String, Layer>) -> (Vec<String>, Graph) {
    let mut problems = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in files {
        if module.is_empty() {
            continue; // main.rs: the dispatcher, above every layer
        }
        let parts: Vec<String> = module.split("::").map(str::to_owned).collect();
        let Some(from) = owner(&parts, map) else {
            problems.push(format!("`{module}` is not in the code map of ARCHITECTURE.md"));
            continue;
        };
        let from_layer = map[from];
        let code = without_tests(&code_only(text));
        for path in references(&code, module) {
            let Some(to) = owner(&path, map) else {
                // Only the crate root (main.rs) owns what no module does.
                problems.push(format!(
                    "`{module}` uses `crate::{}` of main.rs: the entry point is no dependency, import it from its module",
                    path.join("::")
                ));
                continue;
            };
            if to == from {
                continue;
            }
            let to_layer = map[to];
            if to_layer > from_layer {
                problems.push(format!(
                    "upward import: `{module}` ({}) uses `{}` ({})",
                    from_layer.name(),
                    path.join("::"),
                    to_layer.name()
                ));
            }
            graph.entry(from.to_owned()).or_default().insert(to.to_owned());
        }
    }
    (problems, graph)
}

/// `docker::engine` → `docker`.
fn folder(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// The module graph with each folder as one node (edges inside a folder
/// dropped).
fn folder_graph(graph: &Graph) -> Graph {
    let mut out = Graph::new();
    for (from, tos) in graph {
        for to in tos {
            let (f, t) = (folder(from), folder(to));
            if f != t {
                out.entry(f.to_owned()).or_default().insert(t.to_owned());
            }
        }
    }
    out
}

/// Every elementary circle of the graph, each once: from its first node by
/// name, in import order, back to that node.
fn elementary_circles(graph: &Graph) -> Vec<Vec<String>> {
    fn walk(graph: &Graph, start: &str, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        let last = path.last().unwrap().clone();
        for next in graph.get(&last).into_iter().flatten() {
            if next == start {
                let mut circle = path.clone();
                circle.push(start.to_owned());
                out.push(circle);
            } else if next.as_str() > start && !path.contains(next) {
                path.push(next.clone());
                walk(graph, start, path, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    for start in graph.keys() {
        walk(graph, start, &mut vec![start.clone()], &mut out);
    }
    out
}

/// Every circle between folders.
fn folder_circles(graph: &Graph) -> Vec<String> {
    elementary_circles(&folder_graph(graph)).iter().map(|c| format!("folder circle: {}", c.join(" -> "))).collect()
}

/// Each circle of the graph once, as a path that returns to its start.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        if let Some(pos) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[pos..].to_vec();
            cycle.push(node.to_owned());
            out.push(cycle);
            return;
        }
        if done.contains(node) {
            return;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, stack, done, out);
        }
        stack.pop();
        done.insert(node.to_owned());
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    files.sort();
    files.iter().map(|f| (module_of(f.strip_prefix(&src).unwrap()), std::fs::read_to_string(f).unwrap())).collect()
}

fn architecture_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_layering_rule_holds() {
    let map = code_map(&architecture_md());
    assert!(map.len() >= 20, "the code map lists too few modules: {map:?}");
    let files = sources();
    let problems = check(&files, &map);
    assert!(problems.is_empty(), "ARCHITECTURE.md's rule is broken:\n{}", problems.join("\n"));
}

#[test]
fn every_module_in_the_code_map_exists() {
    let map = code_map(&architecture_md());
    let modules: BTreeSet<String> = sources().into_iter().map(|(m, _)| m).collect();
    let stale: Vec<&String> = map.keys().filter(|m| !modules.contains(*m)).collect();
    assert!(stale.is_empty(), "the code map names modules that do not exist: {stale:?}");
}

#[test]
fn no_module_is_over_700_lines_apart_from_its_tests() {
    let mut big = Vec::new();
    for (module, text) in sources() {
        let code = without_tests(&code_only(&text));
        let lines = code.lines().filter(|l| !l.trim().is_empty()).count();
        if lines > 700 {
            big.push(format!("{module}: {lines} lines"));
        }
    }
    assert!(big.is_empty(), "modules over 700 non-blank lines without tests: {big:?}");
}

// --- the checker itself -------------------------------------------------------

fn map(entries: &[(&str, Layer)]) -> BTreeMap<String, Layer> {
    entries.iter().map(|(m, l)| (m.to_string(), *l)).collect()
}

fn files(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries.iter().map(|(m, t)| (m.to_string(), t.to_string())).collect()
}

#[test]
fn a_planted_upward_import_fails() {
    let m = map(&[("sys", Layer::Leaf), ("install", Layer::Service), ("doctor", Layer::Command)]);
    let ok = files(&[
        ("doctor", "use crate::{install::{self, Need}, sys};\nfn f() { crate::sys::is_root(); }"),
        ("install", "use crate::sys::quote;"),
        ("sys", "// use crate::doctor;\nconst S: &str = \"crate::doctor::x\";"),
    ]);
    assert_eq!(check(&ok, &m), Vec::<String>::new());
    let bad = files(&[("doctor", "use crate::install;"), ("install", "pub fn f() { crate::doctor::probe(); }")]);
    assert_eq!(
        check(&bad, &m),
        [
            "folder circle: doctor -> install -> doctor",
            "import circle: doctor -> install -> doctor",
            "upward import: `install` (service) uses `doctor::probe` (command)"
        ]
    );
    // Through a use tree and `super::`; a name of the crate root (main.rs).
    let m = map(&[
        ("workspace", Layer::Service),
        ("docker", Layer::Command),
        ("docker::argv", Layer::Service),
        ("docker::engine", Layer::Service),
    ]);
    let bad = files(&[("docker::engine", "use super::{Built, argv};\nuse crate::{workspace::Ctx as C, Ctx};")]);
    assert_eq!(
        check(&bad, &m),
        [
            "`docker::engine` uses `crate::Ctx` of main.rs: the entry point is no dependency, import it from its module",
            "upward import: `docker::engine` (service) uses `docker::Built` (command)"
        ]
    );
}

#[test]
fn a_planted_folder_circle_fails() {
    let m = map(&[
        ("sys", Layer::Leaf),
        ("docker", Layer::Command),
        ("docker::engine", Layer::Service),
        ("doctor", Layer::Command),
        ("build", Layer::Command),
        ("flags", Layer::Command),
    ]);
    // No circle between modules, and none between layers: `docker` uses
    // `doctor`, `doctor` uses the service `docker::engine`. Between the
    // folders `docker` and `doctor`, that is a circle.
    let base = [
        ("docker", "use crate::doctor;"),
        ("docker::engine", "use crate::sys::quote;"),
        ("doctor", "fn probe() { crate::docker::engine::choose(None); }"),
        ("flags", ""),
        ("sys", ""),
    ];
    assert_eq!(check(&files(&base), &m), ["folder circle: docker -> doctor -> docker"]);
    // A longer one: build → doctor → docker → build.
    let mut more = base.to_vec();
    more[0] = ("docker", "use crate::build;");
    more.push(("build", "fn b() { crate::doctor::ensure(); }"));
    assert_eq!(check(&files(&more), &m), ["folder circle: build -> doctor -> docker -> build"]);
    // `flags` is a folder like any other: a type of `docker` in `flags`,
    // and `docker` using its flag struct, is a circle.
    let hub = files(&[
        ("docker", "impl crate::flags::Docker {}"),
        ("docker::engine", ""),
        ("flags", "use crate::docker::engine::BuildxMode;"),
        ("doctor", ""),
        ("sys", ""),
    ]);
    assert_eq!(check(&hub, &m), ["folder circle: docker -> flags -> docker"]);
}

#[test]
fn a_planted_upward_import_between_folders_fails() {
    let m = map(&[
        ("sys", Layer::Leaf),
        ("install", Layer::Service),
        ("docker", Layer::Command),
        ("docker::engine", Layer::Service),
        ("docker::inside", Layer::Command),
        ("doctor", Layer::Command),
    ]);
    // A service of one folder reaching a command of another, and a leaf
    // reaching a service below a folder; neither makes a circle.
    let f = files(&[
        ("docker::engine", "use crate::{install, doctor::ensure};"),
        ("sys", "fn s() { crate::docker::engine::choose(None); }"),
        ("install", ""),
        ("doctor", ""),
    ]);
    assert_eq!(
        check(&f, &m),
        [
            "upward import: `docker::engine` (service) uses `doctor::ensure` (command)",
            "upward import: `sys` (leaf) uses `docker::engine::choose` (service)",
        ]
    );
}

#[test]
fn elementary_circles_once_each() {
    let g: Graph = [("a", vec!["b"]), ("b", vec!["a", "c"]), ("c", vec!["a"]), ("d", vec!["a"])]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
    let c: Vec<String> = elementary_circles(&g).iter().map(|c| c.join(" -> ")).collect();
    assert_eq!(c, ["a -> b -> a", "a -> b -> c -> a"]);
    assert_eq!(folder("docker::engine"), "docker");
}

#[test]
fn test_code_and_unmapped_modules() {
    let m = map(&[("sys", Layer::Leaf), ("doctor", Layer::Command)]);
    let f = files(&[
        (
            "sys",
            "pub fn a() {}\n#[cfg(test)]\nmod tests {\n    use crate::doctor::x;\n    fn b() { let c = '{'; }\n}\n",
        ),
        ("lonely", "fn x() {}"),
    ]);
    assert_eq!(check(&f, &m), ["`lonely` is not in the code map of ARCHITECTURE.md"]);
}

#[test]
fn code_only_blanks_comments_strings_and_chars_but_not_lifetimes() {
    let text = "fn f<'a>(x: &'a str) { let _ = \"crate::a\"; let _ = r#\"crate::b\"#; let c = '\\''; } // crate::c\n/* crate::d */";
    let code = code_only(text);
    assert_eq!(code.len(), text.len());
    assert!(!code.contains("crate::"), "{code}");
    assert!(code.contains("fn f<'a>(x: &'a str)"), "{code}");
}

#[test]
fn code_map_lines() {
    let md =
        "# x\n- `sys` (leaf): tools.\n- `docker::engine` (service): the CLI.\n- `nope` (layer?): x\ntext `a` (leaf)\n";
    assert_eq!(code_map(md), map(&[("sys", Layer::Leaf), ("docker::engine", Layer::Service)]));
    assert_eq!(module_of(Path::new("docker/mod.rs")), "docker");
    assert_eq!(module_of(Path::new("docker/engine.rs")), "docker::engine");
    assert_eq!(module_of(Path::new("main.rs")), "");
}
