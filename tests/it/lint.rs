//! `suite lint` and `suite new`: a copy of the core suite broken in each way a suite author
//! breaks one, every break named with its file and line; a new mission's skeleton lints clean and
//! is refused by `suite check` until it is filled in, and passes once it is.

use std::path::Path;

use crate::common::{copy_suite, core_suite, edit, missions_bench, stdout_of, text};

/// One finding lint must report: the file it is in (a path ending), its line when it has one,
/// and words of its message.
struct Expected {
    path: &'static str,
    line: Option<usize>,
    words: &'static str,
}

/// The 1-based line of the first line of `path` that contains `needle`.
fn line_of(path: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{} has no line with {needle}", path.display()))
        + 1
}

#[test]
fn the_core_suite_lints_clean() {
    let output = missions_bench(
        &["suite", "lint", core_suite().to_str().unwrap()],
        &crate::common::repo(),
    );
    let stdout = stdout_of(&output, 0);
    assert!(
        stdout.contains("12 mission(s)") && stdout.contains("0 finding(s)"),
        "{stdout}"
    );
    // Every hidden test of every core mission was read and placed in its milestone.
    let tests: usize = stdout
        .split(" mission(s), ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a count of tests");
    assert!(tests > 300, "{stdout}");
}

#[test]
fn lint_names_every_break_of_a_core_copy_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&core_suite(), dir.path());
    // A typo in a milestone pattern: the pattern matches nothing, so no test has a milestone.
    edit(
        &suite.join("wordfreq/mission.toml"),
        "m1 = [\"acceptance.test_m1_*\"]",
        "m1 = [\"acceptance.tset_m1_*\"]",
    );
    // A hidden test no pattern claims.
    std::fs::write(
        suite.join("isbn/acceptance/test_extra.py"),
        "import isbn\n\n\ndef test_orphan():\n    assert isbn\n",
    )
    .unwrap();
    // A test two milestones claim.
    edit(
        &suite.join("gradebook/mission.toml"),
        "m2 = [\"acceptance.test_m2_*\"]",
        "m2 = [\"acceptance.test_m2_*\", \"acceptance.test_m1_errors::*\"]",
    );
    // A Node pattern in the wrong case.
    edit(
        &suite.join("kvlog/mission.toml"),
        "m2 = [\"test::m2 *\"]",
        "m2 = [\"test::M2 *\"]",
    );
    // An assertion a validator judges, without the command the oracle needs.
    let gradebook_contract = suite.join("gradebook/contract.toml");
    let contract = std::fs::read_to_string(&gradebook_contract).unwrap();
    let gb4 = contract.find("id = \"GB-4\"").unwrap();
    let cut = gb4 + contract[gb4..].find("\ncommand = ").unwrap() + 1;
    let end = cut + contract[cut..].find('\n').unwrap() + 1;
    std::fs::write(
        &gradebook_contract,
        format!("{}{}", &contract[..cut], &contract[end..]),
    )
    .unwrap();
    // No answers.md, and a feature whose reference solution holds no file.
    std::fs::remove_file(suite.join("taskstore/answers.md")).unwrap();
    std::fs::remove_dir_all(suite.join("taskstore/solution/f2")).unwrap();
    std::fs::create_dir(suite.join("taskstore/solution/f2")).unwrap();
    // An answers.md heading without keywords.
    let rle_answers = suite.join("rle/answers.md");
    let answers = std::fs::read_to_string(&rle_answers).unwrap();
    std::fs::write(&rle_answers, format!("{answers}\n## \nsomething\n")).unwrap();
    // A folder that is not a mission.
    std::fs::create_dir(suite.join("drafts")).unwrap();
    std::fs::write(suite.join("drafts/notes.md"), "ideas\n").unwrap();
    // Format breaks, found with the others: an unknown key, an empty goal, an assertion of a
    // milestone that does not exist.
    edit(
        &suite.join("roman/mission.toml"),
        "tags = [",
        "colour = \"red\"\ntags = [",
    );
    std::fs::write(suite.join("durations/goal.md"), "\n").unwrap();
    edit(
        &suite.join("logstats/contract.toml"),
        "milestone = \"m2\"",
        "milestone = \"m9\"",
    );

    let output = missions_bench(
        &["suite", "lint", suite.to_str().unwrap()],
        &crate::common::repo(),
    );
    let stdout = stdout_of(&output, 1);
    let isbn_extra = suite.join("isbn/acceptance/test_extra.py");
    let expected = [
        Expected {
            path: "wordfreq/mission.toml",
            line: Some(line_of(&suite.join("wordfreq/mission.toml"), "tset_m1")),
            words: "field `acceptance.milestones.m1`: pattern `acceptance.tset_m1_*` matches none of the",
        },
        Expected {
            path: "wordfreq/acceptance/test_m1_counting.py",
            line: Some(line_of(
                &suite.join("wordfreq/acceptance/test_m1_counting.py"),
                "def test_",
            )),
            words: "tests of this file belong to no milestone (no pattern of [acceptance.milestones] in mission.toml matches them): `acceptance.test_m1_counting::",
        },
        Expected {
            path: "isbn/acceptance/test_extra.py",
            line: Some(line_of(&isbn_extra, "def test_orphan")),
            words: "test `acceptance.test_extra::test_orphan` belongs to no milestone",
        },
        Expected {
            path: "gradebook/acceptance/test_m1_errors.py",
            line: Some(line_of(
                &suite.join("gradebook/acceptance/test_m1_errors.py"),
                "def test_",
            )),
            words: "tests of this file match the patterns of several milestones (`m1` and `m2` for the first); a test belongs to exactly one",
        },
        Expected {
            path: "kvlog/mission.toml",
            line: Some(line_of(&suite.join("kvlog/mission.toml"), "test::M2")),
            words: "pattern `test::M2 *` matches none of the",
        },
        Expected {
            path: "gradebook/contract.toml",
            line: None,
            words: "field `assertion.command`: assertion `GB-4` (verify = \"agent\") has no command",
        },
        Expected {
            path: "taskstore/answers.md",
            line: None,
            words: "the mission has no answers.md",
        },
        Expected {
            path: "taskstore/solution/f2",
            line: None,
            words: "the reference solution of feature `f2` holds no file",
        },
        Expected {
            path: "rle/answers.md",
            line: Some(answers.lines().count() + 2),
            words: "this one names none",
        },
        Expected {
            path: "drafts",
            line: None,
            words: "folder `drafts` has no mission.toml",
        },
        Expected {
            path: "roman/mission.toml",
            line: Some(line_of(&suite.join("roman/mission.toml"), "colour")),
            words: "colour",
        },
        Expected {
            path: "durations/goal.md",
            line: None,
            words: "goal.md is empty",
        },
        Expected {
            path: "logstats/contract.toml",
            line: Some(line_of(&suite.join("logstats/contract.toml"), "\"m9\"")),
            words: "unknown milestone `m9`",
        },
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    for want in &expected {
        let location = match want.line {
            Some(line) => format!("{}:{line}", want.path),
            None => format!("{}:", want.path),
        };
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&location) && l.contains(want.words)),
            "no finding at {location} saying {}:\n{stdout}",
            want.words
        );
    }
    // The GB-4 finding sits on its assertion's lines.
    let gb4 = lines
        .iter()
        .find(|l| l.contains("`GB-4`"))
        .expect("the GB-4 finding");
    let gb4_line = line_of(&gradebook_contract, "id = \"GB-4\"");
    let located: usize = gb4
        .split("gradebook/contract.toml:")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .expect("a line number");
    assert!(
        (gb4_line..gb4_line + 6).contains(&located),
        "GB-4 is at line {gb4_line}: {gb4}"
    );
    // The untouched missions say nothing; the summary counts the findings.
    assert!(!stdout.contains("mission `ledger`"), "{stdout}");
    let summary = lines.last().expect("a summary line");
    let findings: usize = summary
        .rsplit(" finding(s)")
        .nth(1)
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a count of findings");
    assert!(findings >= expected.len(), "{summary}");

    // `run` and `suite check` lint first and stop with the same words, before any model runs.
    for command in [&["run"][..], &["suite", "check"][..]] {
        let out = dir.path().join("reports");
        let mut args: Vec<&str> = command.to_vec();
        args.extend([
            suite.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        let output = missions_bench(&args, &crate::common::repo());
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("pattern `acceptance.tset_m1_*` matches none of the")
                && stderr.contains("folder `drafts` has no mission.toml"),
            "{stderr}"
        );
        assert!(!out.exists(), "nothing ran, so no report folder");
    }
}

#[test]
fn lint_refuses_what_is_not_a_suite() {
    let dir = tempfile::tempdir().unwrap();
    let output = missions_bench(
        &[
            "suite",
            "lint",
            dir.path().join("missing").to_str().unwrap(),
        ],
        dir.path(),
    );
    crate::common::assert_input_error(&output, "no suite.toml here");
}

#[test]
fn a_new_mission_lints_clean_and_is_refused_until_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    // The core suite's environment, so the check reuses its cached Python.
    let suite = dir.path().join("authored");
    std::fs::create_dir(&suite).unwrap();
    std::fs::copy(core_suite().join("suite.toml"), suite.join("suite.toml")).unwrap();
    for language in ["python", "javascript", "rust"] {
        let output = missions_bench(
            &[
                "suite",
                "new",
                suite.to_str().unwrap(),
                &format!("greeter-{language}"),
                "--language",
                language,
                "--difficulty",
                "micro",
            ],
            dir.path(),
        );
        let stdout = stdout_of(&output, 0);
        assert!(stdout.contains("mission.toml"), "{stdout}");
    }
    let lint = missions_bench(&["suite", "lint", suite.to_str().unwrap()], dir.path());
    let stdout = stdout_of(&lint, 0);
    assert!(
        stdout.contains("3 mission(s), 3 acceptance test(s) read, 0 finding(s)"),
        "{stdout}"
    );
    // A second `suite new` of the same id changes nothing.
    let again = missions_bench(
        &["suite", "new", suite.to_str().unwrap(), "greeter-python"],
        dir.path(),
    );
    crate::common::assert_input_error(&again, "exists already");

    let out = dir.path().join("reports");
    let check = || {
        missions_bench(
            &[
                "suite",
                "check",
                suite.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "-q",
            ],
            dir.path(),
        )
    };
    let output = check();
    let stdout = stdout_of(&output, 1);
    for language in ["python", "javascript", "rust"] {
        assert!(
            stdout.contains(&format!("INVALID  greeter-{language}")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("still empty: acceptance/")
            && stdout.contains("goal.md:1")
            && stdout.contains("contract.toml:")
            && stdout.contains("hold `FILL IN:` placeholders"),
        "{stdout}"
    );
    assert!(!out.exists(), "no mission was ready, so none ran");

    // Filled in, the Python mission passes the check; the others are still refused.
    for other in ["javascript", "rust"] {
        std::fs::remove_dir_all(suite.join(format!("greeter-{other}"))).unwrap();
    }
    fill_in_python(&suite.join("greeter-python"));
    let output = check();
    let stdout = stdout_of(&output, 0);
    assert!(stdout.contains("ok       greeter-python"), "{stdout}");
}

/// The skeleton's Python mission written as its author would: a greeting function.
fn fill_in_python(mission: &Path) {
    fn unmark(path: &Path) {
        let text = std::fs::read_to_string(path).unwrap();
        let kept: Vec<String> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("FILL IN:"))
            .map(|l| l.replace("FILL IN: ", ""))
            .collect();
        std::fs::write(path, kept.join("\n") + "\n").unwrap();
    }
    for file in [
        "mission.toml",
        "contract.toml",
        "answers.md",
        "workspace/README.md",
    ] {
        unmark(&mission.join(file));
    }
    std::fs::write(
        mission.join("goal.md"),
        "Write `app.py` with `greet(name)`, which returns `hello, <name>`.\n",
    )
    .unwrap();
    std::fs::write(
        mission.join("acceptance/test_m1_example.py"),
        "from app import greet\n\n\ndef test_m1_greets_by_name():\n    assert greet(\"ada\") == \"hello, ada\"\n",
    )
    .unwrap();
    std::fs::write(
        mission.join("solution/f1/app.py"),
        "def greet(name):\n    return f\"hello, {name}\"\n",
    )
    .unwrap();
    std::fs::write(
        mission.join("solution/f1/tests/test_app.py"),
        "from app import greet\n\n\ndef test_greet():\n    assert greet(\"x\") == \"hello, x\"\n",
    )
    .unwrap();
}
