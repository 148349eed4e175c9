//! Bad input never panics: thousands of mutated spec files (config, suite, mission, contract,
//! answers), event journals and tool-call arguments go through the parsers, the resume's replay
//! and the tools, and every message they produce (and those of the run whose journal is
//! mutated) is scanned for Rust debug output. Each case runs under `catch_unwind`; the test
//! fails on the first panic and names the input. Mutations come from a seeded generator, so a
//! failure reproduces.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use std::collections::BTreeMap;

use missions_bench::agent::parse_arguments;
use missions_bench::events::read_events;
use missions_bench::mission::resume::Replay;
use missions_bench::report::stats::SplitMix;
use missions_bench::spec::config::{Config, LimitValue};
use missions_bench::spec::contract::parse_reference;
use missions_bench::spec::suite::load_suite;
use serde_json::{json, Value};

use crate::common::{copy_suite, harness_words, plain_tools, repo, tiny_suite, MessageScan};

/// Every message the fuzzed inputs produce (refusals, errors, tool replies), scanned for Rust
/// debug output.
type Scan = std::cell::RefCell<MessageScan>;

const TOKENS: &[&str] = &[
    "=",
    "[",
    "]",
    "[[",
    "]]",
    "\"",
    "'",
    "{",
    "}",
    ",",
    "\n",
    "#",
    "-1",
    "0",
    "1e999",
    "nan",
    "inf",
    "true",
    "\"\"\"",
    "\\",
    "\\u{0}",
    "é",
    "🦀",
    "milestone",
    "id",
    "m1",
    "a.b",
    "= =",
    "18446744073709551616",
    "[x]",
    "x = ",
    "null",
];

/// One random edit of `text`: drop, repeat or swap lines, cut it short, replace a character,
/// or insert a token.
fn mutate(rng: &mut SplitMix, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let at = rng.below(lines.len());
        match rng.below(7) {
            0 => {
                lines.remove(at);
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
            1 => {
                let line = lines[at].clone();
                lines.insert(at, line);
            }
            2 => {
                let other = rng.below(lines.len());
                lines.swap(at, other);
            }
            3 => lines.truncate(at + 1),
            4 => {
                let chars: Vec<char> = lines[at].chars().collect();
                if !chars.is_empty() {
                    let cut = rng.below(chars.len());
                    lines[at] = chars[..cut].iter().collect();
                }
            }
            5 => {
                let chars: Vec<char> = lines[at].chars().collect();
                let cut = rng.below(chars.len() + 1);
                let token = TOKENS[rng.below(TOKENS.len())];
                let mut line: String = chars[..cut].iter().collect();
                line.push_str(token);
                line.extend(&chars[cut..]);
                lines[at] = line;
            }
            _ => {
                let chars: Vec<char> = lines[at].chars().collect();
                if !chars.is_empty() {
                    let i = rng.below(chars.len());
                    let mut chars = chars;
                    chars[i] = TOKENS[rng.below(TOKENS.len())]
                        .chars()
                        .next()
                        .unwrap_or('x');
                    lines[at] = chars.into_iter().collect();
                }
            }
        }
    }
    lines.join("\n")
}

/// Runs `check` on `cases` mutations of `text`; panics name the case.
fn fuzz_text(name: &str, text: &str, cases: usize, seed: u64, check: impl Fn(&str)) -> usize {
    let mut rng = SplitMix::new(seed);
    for case in 0..cases {
        let input = mutate(&mut rng, text);
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            panic!("{name}: case {case} (seed {seed}) panicked on:\n{input}");
        }
    }
    cases
}

/// 3,000 mutations of the spec file `name` through `parse`: every refusal names the file, and
/// mutations must produce both accepted and refused files, or they test nothing. Returns how
/// many cases ran and how many were refused.
fn fuzz_spec_file<E: std::fmt::Display>(
    name: &str,
    text: &str,
    seed: u64,
    scan: &Scan,
    parse: impl Fn(&Path, &str) -> Result<(), E>,
) -> (usize, usize) {
    let refused = std::sync::atomic::AtomicUsize::new(0);
    let cases = fuzz_text(name, text, 3000, seed, |input| {
        if let Err(errors) = parse(Path::new(name), input) {
            assert!(errors.to_string().contains(name), "{errors}");
            scan.borrow_mut()
                .scan_quoting(name, &errors.to_string(), input);
            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let refused = refused.into_inner();
    assert!(
        (300..2700).contains(&refused),
        "{name}: {refused} of 3000 refused"
    );
    (cases, refused)
}

/// A random JSON value: objects with the tools' own keys half of the time.
fn random_value(rng: &mut SplitMix, depth: u32) -> Value {
    const KEYS: &[&str] = &[
        "path",
        "content",
        "command",
        "timeout_s",
        "start_line",
        "end_line",
        "pattern",
        "old_text",
        "new_text",
        "replace_all",
        "x",
    ];
    match rng.below(if depth > 2 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 1),
        2 => json!(rng.next_u64() as i64),
        3 => json!(-(rng.below(1000) as i64)),
        4 => json!(f64::from(rng.below(1000) as u32) / 7.0),
        5 => json!(TOKENS[rng.below(TOKENS.len())].repeat(1 + rng.below(3))),
        6 => Value::Array(
            (0..rng.below(3))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut object = serde_json::Map::new();
            for _ in 0..rng.below(4) {
                object.insert(
                    KEYS[rng.below(KEYS.len())].to_string(),
                    random_value(rng, depth + 1),
                );
            }
            Value::Object(object)
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_never_panics() {
    let mut total = 0;
    let scan = Scan::default();
    let config = std::fs::read_to_string(repo().join("missions-bench.toml")).unwrap();
    let (cases, config_refused) = fuzz_spec_file("fuzz.toml", &config, 1, &scan, |path, input| {
        Config::parse(path, input).map(drop)
    });
    total += cases;
    let contract =
        std::fs::read_to_string(repo().join("suites/core/notes_service/contract.toml")).unwrap();
    let (cases, contract_refused) =
        fuzz_spec_file("contract.toml", &contract, 2, &scan, |path, input| {
            parse_reference(path, input).map(drop)
        });
    total += cases;
    let answers =
        std::fs::read_to_string(repo().join("suites/core/notes_service/answers.md")).unwrap();
    total += fuzz_text("answers", &answers, 1000, 3, |input| {
        let _ = missions_bench::spec::answers::Answers::parse(input);
    });
    total += fuzz_text("limits", "4GiB\n512\noff\n1 MiB", 1000, 4, |input| {
        for line in input.lines() {
            if let Err(message) = LimitValue::parse(line) {
                scan.borrow_mut().scan("limit", &message);
            }
            if let Err(message) = missions_bench::report::gate::Threshold::parse(line, true) {
                scan.borrow_mut().scan("threshold", &message);
            }
        }
    });

    // Whole suites: one file of a copy of the tiny suite mutated per case.
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), dir.path());
    for (file, seed) in [
        ("suite.toml", 5),
        ("greet/mission.toml", 6),
        ("greet/contract.toml", 7),
        ("greet/answers.md", 8),
    ] {
        let path = suite.join(file);
        let original = std::fs::read_to_string(&path).unwrap();
        total += fuzz_text(file, &original, 300, seed, |input| {
            std::fs::write(&path, input).unwrap();
            if let Err(errors) = load_suite(&suite) {
                scan.borrow_mut()
                    .scan_quoting(file, &errors.to_string(), input);
            }
        });
        std::fs::write(&path, original).unwrap();
    }

    // Journals a resume reads: lines of a real run's events.jsonl dropped, repeated, swapped,
    // cut or garbled, read back and split into each mission's replay.
    let out = tempfile::tempdir().unwrap();
    let mut settings = crate::common::settings(&tiny_suite(), &["oracle"], out.path());
    settings.missions = vec!["greet".to_string()];
    let report = crate::common::run(&settings).await;
    for (place, message) in crate::common::journal_messages(&report.dir.join("events.jsonl"))
        .into_iter()
        .chain(crate::common::transcript_messages(&report.dir))
    {
        scan.borrow_mut().scan(&place, &message);
    }
    let journal = std::fs::read_to_string(report.dir.join("events.jsonl")).unwrap();
    let path = dir.path().join("events.jsonl");
    let replays = std::sync::atomic::AtomicUsize::new(0);
    total += fuzz_text("events.jsonl", &journal, 1000, 11, |input| {
        std::fs::write(&path, input).unwrap();
        let records = match read_events(&path) {
            Ok(records) => records,
            Err(error) => {
                scan.borrow_mut().scan("events.jsonl", &error.to_string());
                return;
            }
        };
        let mut missions: BTreeMap<_, Vec<_>> = BTreeMap::new();
        for record in &records {
            missions
                .entry(record.mission.clone())
                .or_default()
                .push(record);
        }
        for own in missions.values() {
            if let Some((replay, kept)) = Replay::from_records(own) {
                assert!(kept <= own.len() && !replay.checkpoints.is_empty());
                replays.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let replays = replays.into_inner();
    assert!(
        (100..1000).contains(&replays),
        "{replays} of 1000 replayable"
    );

    // Tool-call arguments: mutated JSON text through the agent loop's decoder, and random
    // values through every workspace tool.
    let arguments = r#"{"path": "src/a.py", "content": "x = 1\n", "start_line": 2, "end_line": 9, "replace_all": true}"#;
    total += fuzz_text("arguments", arguments, 3000, 9, |input| {
        if let Err(message) = parse_arguments(input) {
            scan.borrow_mut().scan("arguments", &message);
        }
    });
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("a.txt"), "one\ntwo\n").unwrap();
    let tools = plain_tools(workspace.path());
    let mut rng = SplitMix::new(10);
    let names = [
        "read_file",
        "list_files",
        "search_files",
        "write_file",
        "edit_file",
        "run_command",
    ];
    let mut tool_cases = 0;
    for case in 0..3000 {
        let name = names[rng.below(names.len())];
        let mut value = random_value(&mut rng, 0);
        // Commands that decode must stay harmless: only `true` runs.
        if name == "run_command" {
            if let Some(object) = value.as_object_mut() {
                if object.get("command").is_some_and(Value::is_string) {
                    object.insert("command".into(), json!("true"));
                }
                if let Some(t) = object.get("timeout_s") {
                    if t.as_u64().is_some() {
                        object.insert("timeout_s".into(), json!(1));
                    }
                }
            }
        }
        let input = value.to_string();
        let reply = tokio::spawn({
            let tools = tools.clone();
            async move { tools.call(name, value).await }
        })
        .await;
        match reply {
            Ok(Some(reply)) => {
                tool_cases += 1;
                for words in harness_words(name, &reply) {
                    scan.borrow_mut().scan(&format!("{name} {input}"), &words);
                }
            }
            Ok(None) => panic!("{name} is a workspace tool"),
            Err(_) => panic!("{name}: case {case} panicked on {input}"),
        }
    }
    total += tool_cases;
    let scan = scan.into_inner();
    eprintln!(
        "{} messages of the fuzzed inputs scanned for debug output",
        scan.scanned
    );
    scan.assert_clean("fuzzed inputs");
    eprintln!(
        "{total} cases, no panic (config refused {config_refused} of 3000, contract {contract_refused} of 3000, {replays} of 1000 journals replayable)"
    );
    assert_eq!(total, 16_200);
}
