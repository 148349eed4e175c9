//! The hidden acceptance tests of a mission, found by reading their files without starting a
//! runner: the ids the runner's report will give them, which `suite lint` checks against the
//! milestone patterns of `[acceptance.milestones]`.
//!
//! What each runner collects, and the id it reports:
//! - pytest: `test_*.py` and `*_test.py`; functions `test*` at the top of a file, and methods
//!   `test*` of classes named `Test*` or deriving from a `TestCase`. The id is the JUnit address,
//!   `<into>.<module>::<function>` or `<into>.<module>.<Class>::<method>`.
//! - `node --test` with JUnit results: calls `test('name', ...)` and `it('name', ...)` with a
//!   literal name, `.only`, `.skip` and `.todo` included; Node's reporter writes the class `test`,
//!   so the id is `test::<name>`.
//! - `cargo test` with libtest JSON: functions under `#[test]` (or an attribute path ending in
//!   `::test`), in the module the file and its inline `mod` blocks make, from the target's
//!   `main.rs`: `m1::name`.
//!
//! Parametrized pytest tests are listed once, without their parameters.

use std::path::{Path, PathBuf};

use super::mission::{MissionSpec, ResultsFormat, Runner};

/// One hidden test as its file declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTest {
    /// The id the runner's report gives it.
    pub id: String,
    pub path: PathBuf,
    /// 1-based line of its declaration.
    pub line: usize,
}

/// The tests of a mission's `acceptance/`, or why they cannot be listed without running them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    Found(Vec<FoundTest>),
    NotListed(String),
}

/// Lists the tests of `mission`'s `acceptance/` folder as its runner would report them.
pub fn discover(mission: &MissionSpec) -> Discovery {
    let acceptance = &mission.file.acceptance;
    let runner = mission.runner();
    let parse: fn(&str, &str) -> Vec<(String, usize)> = match (runner, acceptance.results) {
        (Runner::Pytest, ResultsFormat::Junit) => python_tests,
        (Runner::Node, ResultsFormat::Junit) => node_tests,
        (Runner::Cargo, ResultsFormat::LibtestJson) => rust_tests,
        (runner, results) => {
            return Discovery::NotListed(format!(
            "the runner `{}` with `{}` results cannot be asked for its tests without running them",
            runner.as_str(),
            results_name(results)
        ))
        }
    };
    let dir = mission.acceptance_dir();
    let mut files = Vec::new();
    collect_files(&dir, &mut files);
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let Ok(relative) = path.strip_prefix(&dir) else {
            continue;
        };
        let relative = relative.to_string_lossy().replace('\\', "/");
        if !collects(runner, &relative) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let module = module_of(runner, &acceptance.into, &relative);
        for (id, line) in parse(&module, &text) {
            found.push(FoundTest {
                id,
                path: path.clone(),
                line,
            });
        }
    }
    Discovery::Found(found)
}

fn results_name(results: ResultsFormat) -> &'static str {
    match results {
        ResultsFormat::Junit => "junit",
        ResultsFormat::LibtestJson => "libtest-json",
        ResultsFormat::Reward => "reward",
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect_files(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// Whether the runner reads the file at `relative` (to `acceptance/`) for tests.
fn collects(runner: Runner, relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    match runner {
        Runner::Pytest => {
            name.ends_with(".py") && (name.starts_with("test_") || name.ends_with("_test.py"))
        }
        Runner::Node => [".js", ".mjs", ".cjs"]
            .iter()
            .any(|ext| name.ends_with(ext)),
        Runner::Cargo => name.ends_with(".rs"),
        Runner::Command => false,
    }
}

/// The module a file's tests are in: the dotted path under the workspace for pytest, the
/// module path under the test target for cargo; Node's ids have none.
fn module_of(runner: Runner, into: &str, relative: &str) -> String {
    match runner {
        Runner::Pytest => {
            let path = format!("{}/{relative}", into.trim_end_matches('/'));
            let path = path.trim_start_matches("./");
            path.strip_suffix(".py").unwrap_or(path).replace('/', ".")
        }
        Runner::Cargo => {
            let stem = relative.strip_suffix(".rs").unwrap_or(relative);
            let parts: Vec<&str> = stem
                .split('/')
                .filter(|p| !matches!(*p, "main" | "mod" | "lib"))
                .collect();
            parts.join("::")
        }
        Runner::Node | Runner::Command => String::new(),
    }
}

/// The width of a line's leading whitespace.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The name of `def NAME(` or `async def NAME(` at the start of `code`.
fn python_def(code: &str) -> Option<&str> {
    let rest = code
        .strip_prefix("async def ")
        .or_else(|| code.strip_prefix("def "))?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(&rest[..end])
}

/// pytest's tests in one file.
fn python_tests(module: &str, text: &str) -> Vec<(String, usize)> {
    let mut tests = Vec::new();
    // The collected class the lines are in, with its indentation.
    let mut class: Option<(String, usize)> = None;
    for (number, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.is_empty() || code.starts_with('#') {
            continue;
        }
        let depth = indent(line);
        if class.as_ref().is_some_and(|(_, at)| depth <= *at) {
            class = None;
        }
        if let Some(rest) = code.strip_prefix("class ") {
            if depth == 0 {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let name = &rest[..end];
                let bases = &rest[end..];
                if name.starts_with("Test") || bases.contains("TestCase") {
                    class = Some((name.to_string(), depth));
                }
            }
            continue;
        }
        let Some(name) = python_def(code) else {
            continue;
        };
        if !name.starts_with("test") {
            continue;
        }
        match &class {
            Some((class_name, at)) if depth > *at => {
                tests.push((format!("{module}.{class_name}::{name}"), number + 1))
            }
            None if depth == 0 => tests.push((format!("{module}::{name}"), number + 1)),
            _ => {}
        }
    }
    tests
}

/// Node's tests in one file: `test(` and `it(` calls with a literal name.
fn node_tests(_module: &str, text: &str) -> Vec<(String, usize)> {
    let mut tests = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = find_call(rest) {
            let (name_start, after) = at;
            if let Some(name) = string_literal(&rest[after..]) {
                tests.push((format!("test::{name}"), number + 1));
            }
            rest = &rest[name_start + 1..];
        }
    }
    tests
}

/// Where the next `test(`/`it(` call (or `.only(`, `.skip(`, `.todo(`) in `text` starts, and
/// the index just past its opening parenthesis.
fn find_call(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while from < text.len() {
        let candidates = ["test", "it"];
        let next = candidates
            .iter()
            .filter_map(|word| text[from..].find(word).map(|i| (from + i, word.len())))
            .min()?;
        let (start, len) = next;
        let before_ok = start == 0 || {
            let c = bytes[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'$')
        };
        let mut end = start + len;
        if before_ok {
            for modifier in [".only", ".skip", ".todo"] {
                if text[end..].starts_with(modifier) {
                    end += modifier.len();
                    break;
                }
            }
            let after = text[end..].trim_start();
            if let Some(open) = after.strip_prefix('(') {
                return Some((start, text.len() - open.len()));
            }
        }
        from = start + len;
    }
    None
}

/// The text of a JavaScript string literal at the start of `text` (after spaces); none for a
/// template with substitutions.
fn string_literal(text: &str) -> Option<String> {
    let text = text.trim_start();
    let quote = text
        .chars()
        .next()
        .filter(|c| matches!(c, '\'' | '"' | '`'))?;
    let mut out = String::new();
    let mut chars = text[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '$' if quote == '`' && chars.clone().next() == Some('{') => return None,
            c if c == quote => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// libtest's tests in one file: functions under a test attribute, in their modules.
fn rust_tests(module: &str, text: &str) -> Vec<(String, usize)> {
    let mut tests = Vec::new();
    // Inline modules open around the line, with the brace depth they close at.
    let mut modules: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut test_attribute = false;
    for (number, line) in text.lines().enumerate() {
        let code = line.trim();
        if code.starts_with("//") {
            continue;
        }
        if code.starts_with("#[") {
            let attribute = code.trim_start_matches("#[").trim_end_matches(']');
            let path = attribute.split('(').next().unwrap_or("").trim();
            if path == "test" || path.ends_with("::test") {
                test_attribute = true;
            }
        } else if let Some(name) = rust_item(code, "mod ") {
            if code.contains('{') {
                modules.push((name.to_string(), depth));
            }
        } else if let Some(name) = rust_item(code, "fn ") {
            if test_attribute {
                let mut path: Vec<&str> = Vec::new();
                if !module.is_empty() {
                    path.push(module);
                }
                path.extend(modules.iter().map(|(m, _)| m.as_str()));
                path.push(name);
                tests.push((path.join("::"), number + 1));
            }
            test_attribute = false;
        }
        for c in code.chars() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if modules.last().is_some_and(|(_, at)| *at == depth) {
                        modules.pop();
                    }
                }
                _ => {}
            }
        }
    }
    tests
}

/// The name after `keyword` in an item line, past `pub`, `pub(crate)`, `async` and `unsafe`.
fn rust_item<'a>(code: &'a str, keyword: &str) -> Option<&'a str> {
    let mut rest = code;
    loop {
        let before = rest;
        for prefix in ["pub(crate) ", "pub(super) ", "pub ", "async ", "unsafe "] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        if rest == before {
            break;
        }
    }
    let rest = rest.strip_prefix(keyword)?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytest_functions_and_test_classes_get_their_junit_ids() {
        let text = "import pytest\n\ndef helper():\n    pass\n\ndef test_one():\n    def test_inner():\n        pass\n\n@pytest.mark.parametrize('x', [1, 2])\nasync def test_two(x):\n    pass\n\nclass TestThing:\n    def test_method(self):\n        pass\n    def other(self):\n        pass\n\nclass Helper:\n    def test_not_collected(self):\n        pass\n\nclass Words(unittest.TestCase):\n    def test_case(self):\n        pass\n";
        let module = module_of(Runner::Pytest, "acceptance", "sub/test_m1.py");
        assert_eq!(module, "acceptance.sub.test_m1");
        let ids = python_tests(&module, text);
        assert_eq!(
            ids,
            vec![
                ("acceptance.sub.test_m1::test_one".to_string(), 6),
                ("acceptance.sub.test_m1::test_two".to_string(), 11),
                (
                    "acceptance.sub.test_m1.TestThing::test_method".to_string(),
                    15
                ),
                ("acceptance.sub.test_m1.Words::test_case".to_string(), 25),
            ]
        );
        assert!(collects(Runner::Pytest, "test_a.py"));
        assert!(collects(Runner::Pytest, "sub/a_test.py"));
        assert!(!collects(Runner::Pytest, "conftest.py"));
        assert!(!collects(Runner::Pytest, "helpers.py"));
    }

    #[test]
    fn node_test_and_it_calls_with_literal_names_are_tests() {
        let text = "const test = require('node:test');\ntest('m1 counts words', () => {});\ndescribe('group', () => {\n  it(\"m1 it \\\"quoted\\\"\", () => {});\n  it.skip(`m1 later`, () => {});\n});\nlatest('not a test');\nt.test('subtest');\ntest(`m1 ${name}`, () => {});\n";
        let ids: Vec<String> = node_tests("", text).into_iter().map(|(id, _)| id).collect();
        assert_eq!(
            ids,
            vec![
                "test::m1 counts words",
                "test::m1 it \"quoted\"",
                "test::m1 later"
            ]
        );
    }

    #[test]
    fn rust_tests_get_their_module_paths() {
        let text = "use roman::to_roman;\n\n#[test]\nfn one() {\n    assert!(true);\n}\n\nfn helper() {}\n\nmod inner {\n    #[test]\n    #[should_panic]\n    fn two() {}\n}\n\n#[tokio::test]\nasync fn three() {}\n";
        let module = module_of(Runner::Cargo, "tests/acceptance", "m1.rs");
        assert_eq!(module, "m1");
        let ids: Vec<String> = rust_tests(&module, text)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, vec!["m1::one", "m1::inner::two", "m1::three"]);
        assert_eq!(module_of(Runner::Cargo, "tests/acceptance", "main.rs"), "");
        assert_eq!(module_of(Runner::Cargo, "t", "a/mod.rs"), "a");
    }
}
