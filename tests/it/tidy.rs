//! The map is checked, as rust-analyzer's `xtask tidy` checks its own: every source file opens
//! with a `//!` doc; each top-level module of `src/` uses only the crate modules that
//! ARCHITECTURE.md's layering table allows; no module's submodules refer to each other in a
//! cycle; the code map names every module of `src/`, and its `tests/it/` row every test module.
//! And README.md defines every column of the report tables as `src/metrics/records.rs` declares
//! it (name, type, the field's doc comment).
//!
//! Rust source is read with a small scanner (comments and literals blanked out, then tokens):
//! enough to find `mod` items and the `crate::`, `super::` and `self::` paths, in `use` trees
//! and inline.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use crate::common::repo;

/// A module's path inside the crate: `[]` is the crate root, `["mission", "lifecycle"]` is
/// `mission::lifecycle`.
type ModulePath = Vec<String>;

/// One `crate::`, `super::` or `self::` path in the source.
#[derive(Debug, Clone)]
struct Reference {
    /// The file, relative to the repository.
    file: String,
    line: usize,
    /// The module the path is written in (inline modules such as `tests` included).
    from: ModulePath,
    /// The path as written, e.g. `crate::fsutil::walk` or `super::toolbox::Toolbox`.
    text: String,
    /// What it names, from the crate root: modules first, then perhaps an item.
    target: Vec<String>,
}

/// The crate's source as the checks need it.
struct SourceTree {
    /// Every module: from files, `mod x;` declarations and inline `mod x { }` blocks.
    modules: BTreeSet<ModulePath>,
    /// Modules declared with `mod x;`, and the file that holds each.
    file_modules: BTreeMap<ModulePath, String>,
    /// The top-level modules `lib.rs` declares.
    top_level: BTreeSet<String>,
    references: Vec<Reference>,
}

// ---------------------------------------------------------------------------------------------
// The scanner.

/// The source with comments, string literals and char literals replaced by spaces; newlines
/// are kept, so line numbers still hold.
fn blank_comments_and_literals(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let after_ident = i > 0 && is_ident_char(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&chars, i).filter(|_| !after_ident) {
            for &c in &chars[i..end] {
                blank(&mut out, c);
            }
            i = end;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < chars.len() {
                let c = chars[i];
                if c == '\\' {
                    blank(&mut out, c);
                    if let Some(&escaped) = chars.get(i + 1) {
                        blank(&mut out, escaped);
                    }
                    i += 2;
                    continue;
                }
                blank(&mut out, c);
                i += 1;
                if c == '"' {
                    break;
                }
            }
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: `'\n'`, `'\''`, `'\u{1F600}'`.
            let mut end = i + 3;
            while end < chars.len() && chars[end] != '\'' {
                end += 1;
            }
            for &c in &chars[i..(end + 1).min(chars.len())] {
                blank(&mut out, c);
            }
            i = end + 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("   ");
            i += 3;
        } else {
            // Anything else, lifetimes included.
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Where the raw string starting at `i` (`r"…"`, `r#"…"#`, `br"…"`) ends, if one does.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if chars.get(j) == Some(&'b') || chars.get(j) == Some(&'c') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[derive(Debug)]
struct Token {
    text: String,
    line: usize,
}

impl Token {
    fn is_ident(&self) -> bool {
        self.text
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
    }
}

/// Identifiers (`$crate` read as `crate`), `::`, and every other character as a token of its
/// own; numbers are dropped.
fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' || (c == '$' && chars.get(i + 1).is_some()) {
            let start = if c == '$' { i + 1 } else { i };
            let mut end = start;
            while end < chars.len() && is_ident_char(chars[end]) {
                end += 1;
            }
            if end == start {
                tokens.push(Token {
                    text: c.to_string(),
                    line,
                });
                i += 1;
                continue;
            }
            tokens.push(Token {
                text: chars[start..end].iter().collect(),
                line,
            });
            i = end;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (is_ident_char(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push(Token {
                text: "::".to_string(),
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// A path as written: its segments, and whether it names a macro (`crate::table_rows!`).
struct RawPath {
    segments: Vec<String>,
    line: usize,
    is_macro: bool,
}

/// Reads the path or `use` tree starting at `tokens[i]` below `prefix`; returns the index after
/// it.
fn read_tree(tokens: &[Token], mut i: usize, prefix: &[String], out: &mut Vec<RawPath>) -> usize {
    let mut segments = prefix.to_vec();
    let line = tokens.get(i).map_or(0, |t| t.line);
    let path = |segments: Vec<String>, is_macro: bool| RawPath {
        segments,
        line,
        is_macro,
    };
    loop {
        let Some(token) = tokens.get(i) else {
            out.push(path(segments, false));
            return i;
        };
        if token.text == "{" {
            i += 1;
            while let Some(token) = tokens.get(i) {
                if token.text == "}" {
                    return i + 1;
                }
                i = read_tree(tokens, i, &segments, out);
                // Skip a rename (`as name`) up to the next member.
                while let Some(token) = tokens.get(i) {
                    if token.text == "}" {
                        break;
                    }
                    i += 1;
                    if token.text == "," {
                        break;
                    }
                }
            }
            return i;
        }
        if token.text == "*" {
            out.push(path(segments, false));
            return i + 1;
        }
        if !token.is_ident() {
            if !segments.is_empty() {
                out.push(path(segments, false));
            }
            return i;
        }
        // `{self, …}` names the prefix itself.
        let names_the_prefix = token.text == "self" && !segments.is_empty();
        if !names_the_prefix {
            segments.push(token.text.clone());
        }
        i += 1;
        match tokens.get(i).map(|t| t.text.as_str()) {
            Some("::") => i += 1,
            Some("!") => {
                out.push(path(segments, true));
                return i;
            }
            _ => {
                out.push(path(segments, false));
                return i;
            }
        }
    }
}

/// A path written in module `from`, from the crate root; `None` when it climbs above it.
fn resolve(from: &[String], segments: &[String]) -> Option<Vec<String>> {
    let (mut target, rest): (Vec<String>, &[String]) = match segments.first()?.as_str() {
        "crate" => (Vec::new(), &segments[1..]),
        "self" => (from.to_vec(), &segments[1..]),
        "super" => {
            let supers = segments.iter().take_while(|s| *s == "super").count();
            let kept = from.len().checked_sub(supers)?;
            (from[..kept].to_vec(), &segments[supers..])
        }
        _ => return None,
    };
    target.extend(rest.iter().cloned());
    Some(target)
}

/// What one file holds: modules it declares, macros it exports and the paths it writes.
#[derive(Default)]
struct FileScan {
    declared: Vec<(ModulePath, bool)>,
    exported_macros: Vec<String>,
    paths: Vec<(ModulePath, RawPath)>,
}

/// Scans one file of module `module`: its `mod` items (`true` for `mod x;`), the macros it
/// exports, and each `crate::`/`super::`/`self::` path with the module it is written in.
fn scan_file(module: &[String], source: &str) -> FileScan {
    let tokens = tokenize(&blank_comments_and_literals(source));
    let text = |i: usize| tokens.get(i).map_or("", |t| t.text.as_str());
    let mut scan = FileScan::default();
    // Inline modules open here: their path and the brace depth they were opened at.
    let mut inline: Vec<(ModulePath, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let current = inline.last().map_or(module, |(path, _)| path.as_slice());
        match text(i) {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, at)| *at == depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 1).is_some_and(Token::is_ident) => {
                let mut path = current.to_vec();
                path.push(text(i + 1).to_string());
                match text(i + 2) {
                    ";" => scan.declared.push((path, true)),
                    "{" => {
                        scan.declared.push((path.clone(), false));
                        inline.push((path, depth));
                    }
                    _ => {}
                }
                i += 2;
                continue;
            }
            "macro_export" if text(i + 1) == "]" && text(i + 2) == "macro_rules" => {
                scan.exported_macros.push(text(i + 4).to_string());
            }
            "crate" | "super" | "self"
                if text(i + 1) == "::" && (i == 0 || text(i - 1) != "::") =>
            {
                let mut paths = Vec::new();
                let next = read_tree(&tokens, i, &[], &mut paths);
                scan.paths
                    .extend(paths.into_iter().map(|path| (current.to_vec(), path)));
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    scan
}

// ---------------------------------------------------------------------------------------------
// The tree.

/// Every `.rs` file under `dir`, relative to the repository, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path.strip_prefix(repo()).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// The module a file of `src/` is; `None` for the binary's `main.rs`.
fn module_of(file: &Path) -> Option<ModulePath> {
    let inside = file.strip_prefix("src").ok()?;
    if inside == Path::new("main.rs") {
        return None;
    }
    let mut path: ModulePath = inside
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        path.pop();
    }
    Some(path)
}

fn display(module: &[String]) -> String {
    if module.is_empty() {
        "the crate".to_string()
    } else {
        module.join("::")
    }
}

fn read_tree_of_src() -> SourceTree {
    let mut tree = SourceTree {
        modules: BTreeSet::new(),
        file_modules: BTreeMap::new(),
        top_level: BTreeSet::new(),
        references: Vec::new(),
    };
    let mut macros: BTreeMap<String, ModulePath> = BTreeMap::new();
    let mut written: Vec<(String, ModulePath, RawPath)> = Vec::new();
    for file in rust_files(&repo().join("src")) {
        let Some(module) = module_of(&file) else {
            continue;
        };
        let source = fs::read_to_string(repo().join(&file)).unwrap();
        let scan = scan_file(&module, &source);
        let name = file.to_string_lossy().into_owned();
        tree.modules.insert(module.clone());
        if !module.is_empty() {
            tree.file_modules.insert(module.clone(), name.clone());
        }
        for (declared, _) in &scan.declared {
            tree.modules.insert(declared.clone());
            if module.is_empty() {
                tree.top_level.insert(declared[0].clone());
            }
        }
        for exported in scan.exported_macros {
            macros.insert(exported, module.clone());
        }
        written.extend(
            scan.paths
                .into_iter()
                .map(|(from, path)| (name.clone(), from, path)),
        );
    }
    for (file, from, path) in written {
        let Some(mut target) = resolve(&from, &path.segments) else {
            continue;
        };
        // `#[macro_export]` macros live at the crate root; they belong to the module that
        // defines them.
        if path.is_macro && target.len() == 1 {
            if let Some(home) = macros.get(&target[0]) {
                let name = target.remove(0);
                target = home.clone();
                target.push(name);
            }
        }
        tree.references.push(Reference {
            file,
            line: path.line,
            from,
            text: path.segments.join("::"),
            target,
        });
    }
    tree
}

// ---------------------------------------------------------------------------------------------
// ARCHITECTURE.md.

fn architecture() -> String {
    fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap()
}

/// The text of the section under `## {title}`, up to the next `## ` heading.
fn section<'a>(document: &'a str, title: &str) -> &'a str {
    let heading = format!("\n## {title}\n");
    let Some(start) = document.find(&heading) else {
        panic!("ARCHITECTURE.md has no `## {title}` section");
    };
    let body = &document[start + heading.len()..];
    body.find("\n## ").map_or(body, |end| &body[..end])
}

/// The names written in backticks in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The layering table: each row's module (`mission` or `mission::suite_run`) and the crate
/// modules it may use. A file may use what every row whose module contains it allows.
fn layering_table() -> BTreeMap<ModulePath, BTreeSet<String>> {
    let document = architecture();
    let mut table = BTreeMap::new();
    for line in section(&document, "Layers").lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let module: ModulePath = cells[1]
            .trim_matches('`')
            .split("::")
            .map(str::to_string)
            .collect();
        let allowed: BTreeSet<String> = backticked(cells[2]).into_iter().collect();
        table.insert(module, allowed);
    }
    assert!(
        !table.is_empty(),
        "ARCHITECTURE.md's `## Layers` section has no table rows"
    );
    table
}

fn allowed_for<'a>(
    table: &'a BTreeMap<ModulePath, BTreeSet<String>>,
    module: &[String],
) -> BTreeSet<&'a str> {
    table
        .iter()
        .filter(|(row, _)| module.starts_with(row))
        .flat_map(|(_, allowed)| allowed.iter().map(String::as_str))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Cycles.

/// Groups of nodes that reach each other (more than one node each), by reachability: the
/// graphs here have a dozen nodes.
fn cycles(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut pending = vec![from];
        while let Some(node) = pending.pop() {
            for (_, next) in edges.iter().filter(|(a, _)| a == node) {
                if seen.insert(next) {
                    pending.push(next);
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<&String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut grouped: BTreeSet<&String> = BTreeSet::new();
    let mut groups = Vec::new();
    for node in &nodes {
        if grouped.contains(node) || !reaches[node].contains(node) {
            continue;
        }
        let group: Vec<String> = nodes
            .iter()
            .filter(|other| reaches[node].contains(*other) && reaches[*other].contains(*node))
            .map(|n| n.to_string())
            .collect();
        grouped.extend(nodes.iter().filter(|n| group.contains(n)));
        groups.push(group);
    }
    groups
}

/// The shortest way round from the group's first node back to it, through the group.
fn way_round(group: &[String], edges: &BTreeSet<(String, String)>) -> Vec<String> {
    let start = &group[0];
    let mut came_from: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for (_, next) in edges.iter().filter(|(a, b)| a == node && group.contains(b)) {
            if next == start {
                let mut way = vec![start.clone()];
                let mut at = node;
                while at != start {
                    way.push(at.clone());
                    at = came_from[at];
                }
                way[1..].reverse();
                way.push(start.clone());
                return way;
            }
            if !came_from.contains_key(next) {
                came_from.insert(next, node);
                queue.push_back(next);
            }
        }
    }
    group.to_vec()
}

/// The cycles among the submodules of `parent`, one message each.
fn cycles_below(tree: &SourceTree, parent: &[String]) -> Vec<String> {
    let depth = parent.len();
    let children: BTreeSet<&String> = tree
        .modules
        .iter()
        .filter(|m| m.len() == depth + 1 && m.starts_with(parent))
        .map(|m| &m[depth])
        .collect();
    if children.len() < 2 {
        return Vec::new();
    }
    let mut evidence: BTreeMap<(String, String), &Reference> = BTreeMap::new();
    for reference in &tree.references {
        if reference.from.len() <= depth
            || reference.target.len() <= depth
            || !reference.from.starts_with(parent)
            || !reference.target.starts_with(parent)
        {
            continue;
        }
        let (a, b) = (&reference.from[depth], &reference.target[depth]);
        if a != b && children.contains(a) && children.contains(b) {
            evidence.entry((a.clone(), b.clone())).or_insert(reference);
        }
    }
    let edges: BTreeSet<(String, String)> = evidence.keys().cloned().collect();
    cycles(&edges)
        .into_iter()
        .map(|group| {
            let way = way_round(&group, &edges);
            let steps: Vec<String> = way
                .windows(2)
                .map(|step| {
                    let reference = evidence[&(step[0].clone(), step[1].clone())];
                    format!(
                        "{}:{} uses `{}`",
                        reference.file, reference.line, reference.text
                    )
                })
                .collect();
            format!(
                "module cycle among the submodules of {}: `{}` ({})",
                display(parent),
                way.join("` -> `"),
                steps.join("; ")
            )
        })
        .collect()
}

fn fail_with(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The checks.

#[test]
fn every_file_opens_with_a_module_doc() {
    let mut problems = Vec::new();
    for dir in ["src", "tests", "benches"] {
        for file in rust_files(&repo().join(dir)) {
            let source = fs::read_to_string(repo().join(&file)).unwrap();
            if !source.starts_with("//!") {
                problems.push(format!(
                    "{}: does not open with a `//!` doc saying what the file owns",
                    file.display()
                ));
            }
        }
    }
    fail_with(problems);
}

#[test]
fn modules_use_only_what_the_layering_table_allows() {
    let tree = read_tree_of_src();
    let table = layering_table();
    let mut problems = Vec::new();
    for module in &tree.top_level {
        if !table.contains_key(&vec![module.clone()]) {
            problems.push(format!(
                "src/lib.rs: top-level module `{module}` has no row in ARCHITECTURE.md's layering table"
            ));
        }
    }
    for row in table.keys() {
        if !tree.modules.contains(row) {
            problems.push(format!(
                "ARCHITECTURE.md: the layering table's row `{}` is no module of src/",
                display(row)
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for reference in &tree.references {
        let (Some(module), Some(used)) = (reference.from.first(), reference.target.first()) else {
            continue;
        };
        if module == used || !tree.top_level.contains(used) {
            continue;
        }
        let allowed = allowed_for(&table, &reference.from);
        let key = (reference.file.clone(), used.clone());
        if !allowed.contains(used.as_str()) && seen.insert(key) {
            problems.push(format!(
                "{}:{}: `{}`: `{}` may not use `{used}` (ARCHITECTURE.md, Layers)",
                reference.file,
                reference.line,
                reference.text,
                display(&reference.from)
            ));
        }
    }
    // The table itself forms layers: no module may use, through others, itself.
    let edges: BTreeSet<(String, String)> = table
        .iter()
        .flat_map(|(row, allowed)| allowed.iter().map(|a| (row[0].clone(), a.clone())))
        .filter(|(a, b)| a != b)
        .collect();
    for group in cycles(&edges) {
        problems.push(format!(
            "ARCHITECTURE.md: the layering table is not layered: `{}`",
            way_round(&group, &edges).join("` -> `")
        ));
    }
    fail_with(problems);
}

#[test]
fn no_module_cycles() {
    let tree = read_tree_of_src();
    let mut problems = cycles_below(&tree, &[]);
    for module in &tree.modules {
        problems.extend(cycles_below(&tree, module));
    }
    fail_with(problems);
}

#[test]
fn the_tests_row_names_every_test_module() {
    let document = architecture();
    let row = section(&document, "Code map")
        .lines()
        .find(|line| line.starts_with("| `tests/it/` |"))
        .expect("ARCHITECTURE.md's code map has no `tests/it/` row");
    let main = fs::read_to_string(repo().join("tests/it/main.rs")).unwrap();
    let scan = scan_file(&[], &main);
    let mut problems = Vec::new();
    for (module, _) in scan.declared {
        let file = format!("{}.rs", module[0]);
        if !row.contains(&format!("`{file}`")) {
            problems.push(format!(
                "tests/it/{file}: not named in ARCHITECTURE.md's `tests/it/` row"
            ));
        }
    }
    fail_with(problems);
}

/// Whether `text` names module `name`: as `name.rs`, `name/` or `` `name` ``.
fn names_module(text: &str, name: &str) -> bool {
    let starts_a_word = |at: usize| {
        text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident_char(c))
    };
    [
        format!("{name}.rs"),
        format!("{name}/"),
        format!("`{name}`"),
    ]
    .iter()
    .any(|needle| {
        text.match_indices(needle.as_str())
            .any(|(at, _)| starts_a_word(at))
    })
}

#[test]
fn the_code_map_names_every_module() {
    let tree = read_tree_of_src();
    let document = architecture();
    let code_map = section(&document, "Code map");
    let mut problems = Vec::new();
    for (module, file) in &tree.file_modules {
        let name = &module[module.len() - 1];
        if !names_module(code_map, name) {
            problems.push(format!(
                "{file}: module `{}` is not named in ARCHITECTURE.md's code map",
                display(module)
            ));
        }
    }
    fail_with(problems);
}

#[test]
fn the_scanner_reads_paths_in_use_trees_and_inline() {
    let source = r##"//! A file.
use crate::{events::Event, model::{self, ToolSpec as Spec}};
use super::toolbox::*;
// crate::metrics in a comment
const TEXT: &str = "crate::report in a string";
const RAW: &str = r#"crate::report "in" a raw string"#;
fn f<'a>(x: &'a str) -> char { crate::fsutil::walk(x); 'c' }
mod tests {
    use super::super::state;
    crate::table_rows! {}
}
"##;
    let scan = scan_file(&["mission".to_string(), "lifecycle".to_string()], source);
    let written: Vec<(String, String)> = scan
        .paths
        .iter()
        .map(|(from, path)| (from.join("::"), path.segments.join("::")))
        .collect();
    let expected = [
        ("mission::lifecycle", "crate::events::Event"),
        ("mission::lifecycle", "crate::model"),
        ("mission::lifecycle", "crate::model::ToolSpec"),
        ("mission::lifecycle", "super::toolbox"),
        ("mission::lifecycle", "crate::fsutil::walk"),
        ("mission::lifecycle::tests", "super::super::state"),
        ("mission::lifecycle::tests", "crate::table_rows"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(written, expected);
    let from = [
        "mission".to_string(),
        "lifecycle".to_string(),
        "tests".to_string(),
    ];
    let state: Vec<String> = ["super", "super", "state"].map(String::from).to_vec();
    assert_eq!(
        resolve(&from, &state),
        Some(vec!["mission".to_string(), "state".to_string()])
    );
}

/// One column of a report table as `src/metrics/records.rs` declares it.
struct Column {
    name: String,
    rust_type: String,
    /// Its doc comment, lines joined by spaces.
    doc: String,
}

/// The tables `records.rs` declares in `table_rows!`: each table's name and its columns in
/// order.
fn declared_columns() -> Vec<(String, Vec<Column>)> {
    let source = fs::read_to_string(repo().join("src/metrics/records.rs")).unwrap();
    let mut tables: Vec<(String, Vec<Column>)> = Vec::new();
    let mut doc: Vec<&str> = Vec::new();
    let mut in_table = false;
    for line in source.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim());
            continue;
        }
        if line.starts_with("pub struct ") && line.contains(" in \"") {
            let table = line.split('"').nth(1).unwrap_or_default().to_string();
            tables.push((table, Vec::new()));
            in_table = true;
        } else if line == "}" {
            in_table = false;
        } else if let (true, Some(field)) = (
            in_table,
            line.strip_prefix("pub ").and_then(|l| l.strip_suffix(',')),
        ) {
            if let (Some((name, rust_type)), Some((_, columns))) =
                (field.split_once(':'), tables.last_mut())
            {
                columns.push(Column {
                    name: name.trim().to_string(),
                    rust_type: rust_type.trim().to_string(),
                    doc: doc.join(" "),
                });
            }
        }
        doc.clear();
    }
    tables
}

/// How README.md writes a column's type: `string`, `u64`, `u64 or null`, ...
fn readme_type(rust_type: &str) -> String {
    let base = |t: &str| {
        if t == "String" {
            "string".to_string()
        } else {
            t.to_string()
        }
    };
    match rust_type
        .strip_prefix("Option<")
        .and_then(|t| t.strip_suffix('>'))
    {
        Some(inner) => format!("{} or null", base(inner)),
        None => base(rust_type),
    }
}

/// The Markdown table README.md must hold for a report table.
fn readme_table(columns: &[Column]) -> String {
    let mut text = String::from("| column | type | what it holds |\n|---|---|---|\n");
    for column in columns {
        text.push_str(&format!(
            "| `{}` | {} | {} |\n",
            column.name,
            readme_type(&column.rust_type),
            column.doc
        ));
    }
    text
}

#[test]
fn the_readme_defines_every_report_column() {
    use missions_bench::metrics::table::TableRow;
    use missions_bench::metrics::{AssertionRow, MilestoneRow, MissionRow, RunRow, TurnRow};
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let declared = declared_columns();
    // The reading of records.rs above finds what the row types say they are.
    let names = |table: &str| -> Vec<&str> {
        declared
            .iter()
            .find(|(name, _)| name == table)
            .map(|(_, columns)| columns.iter().map(|c| c.name.as_str()).collect())
            .unwrap_or_default()
    };
    assert_eq!(names(MissionRow::TABLE), MissionRow::column_names());
    assert_eq!(names(MilestoneRow::TABLE), MilestoneRow::column_names());
    assert_eq!(names(RunRow::TABLE), RunRow::column_names());
    assert_eq!(names(TurnRow::TABLE), TurnRow::column_names());
    assert_eq!(names(AssertionRow::TABLE), AssertionRow::column_names());
    let mut problems = Vec::new();
    let version = missions_bench::metrics::SCHEMA_VERSION;
    if !readme.contains(&format!("The Parquet tables are schema {version} ")) {
        problems.push(format!(
            "README.md: the report tables section does not say they are schema {version}"
        ));
    }
    for (table, columns) in &declared {
        for column in columns {
            let at = format!("src/metrics/records.rs: `{table}.{}`", column.name);
            if column.doc.is_empty() {
                problems.push(format!("{at} has no doc comment saying what it holds"));
            }
            if column.doc.contains('|') {
                problems.push(format!(
                    "{at}: its doc comment has a `|`, which ends a Markdown cell"
                ));
            }
            if column.rust_type.starts_with("Option<")
                && !column.doc.to_lowercase().contains("null")
            {
                problems.push(format!(
                    "{at} is nullable, and its doc comment does not say when it is null"
                ));
            }
        }
        let expected = readme_table(columns);
        if !readme.contains(&format!("#### `{table}.parquet`")) || !readme.contains(&expected) {
            problems.push(format!(
                "README.md: no `#### `{table}.parquet`` heading followed by the table of its columns as records.rs declares them:\n{expected}"
            ));
        }
    }
    fail_with(problems);
}
