//! The binary as users run it: commands, output, exit codes.

use std::path::Path;

use crate::common::{
    assert_input_error, copy_suite, edit, missions_bench, run_tiny, stdout_of, text, tiny_suite,
};

#[test]
fn help_lists_the_commands_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let output = missions_bench(&["--help"], dir.path());
    assert!(output.status.success());
    let help = text(&output.stdout);
    for word in ["run", "suite", "compare", "Exit codes"] {
        assert!(help.contains(word), "{help}");
    }
    let run_help = text(&missions_bench(&["run", "--help"], dir.path()).stdout);
    for flag in [
        "--mission",
        "--pairing",
        "--role",
        "--repeats",
        "--jobs",
        "--out",
        "--config",
    ] {
        assert!(run_help.contains(flag), "{run_help}");
    }
}

#[test]
fn run_then_compare() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite();
    // A report folder relative to the current folder, as users type it.
    let output = missions_bench(
        &[
            "run",
            suite.to_str().unwrap(),
            "--out",
            "reports",
            "-q",
            "--pairing",
            "oracle",
            "--pairing",
            "nop",
        ],
        dir.path(),
    );
    let stdout = stdout_of(&output, 0);
    assert!(
        stdout.contains("greet") && stdout.contains("passed") && stdout.contains("no_plan"),
        "{stdout}"
    );
    let report = stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .expect("report line")
        .to_string();
    assert!(Path::new(&report).join("missions.parquet").is_file());
    assert!(
        Path::new(&report).starts_with(dir.path().join("reports")),
        "{report}"
    );
    // Git ran in each workspace: the checkpoint repositories stayed in the report folder and
    // out of the workspaces and their diffs.
    for entry in std::fs::read_dir(Path::new(&report).join("diffs")).unwrap() {
        let patch = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!patch.contains("checkpoints/"), "{patch}");
    }

    let output = missions_bench(
        &["compare", &report, "--by", "difficulty", "--by", "language"],
        dir.path(),
    );
    let table = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        table.contains("by difficulty:") && table.contains("by language:"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("small") && l.contains("oracle")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("shell") && l.contains("nop")),
        "{table}"
    );

    let output = missions_bench(&["compare", &report], dir.path());
    let table = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let oracle_line = table
        .lines()
        .find(|l| l.starts_with("oracle"))
        .expect(&table);
    assert!(oracle_line.contains("100%"), "{table}");
    let nop_line = table.lines().find(|l| l.starts_with("nop")).expect(&table);
    assert!(nop_line.contains(" 0%"), "{table}");

    let output = missions_bench(&["compare", &report, "--format", "json"], dir.path());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let pairings = &json["pairings"];
    assert_eq!(pairings[0]["pairing"], "nop");
    assert_eq!(pairings[1]["pass_rate"], 1.0);
    let missions = pairings[1]["missions"].as_u64().unwrap();
    // Oracle against nop, mission by mission: oracle passed every one, nop none.
    let difference = &json["differences"][0];
    assert_eq!(difference["baseline"], "nop");
    assert_eq!(difference["candidate"], "oracle");
    assert_eq!(difference["pairs"].as_u64(), Some(missions));
    assert_eq!(difference["only_candidate_passed"].as_u64(), Some(missions));
    assert_eq!(difference["pass_rate_difference"], 1.0);
    let p = 2.0 * 0.5f64.powi(missions as i32);
    assert!((difference["mcnemar_p"].as_f64().unwrap() - p.min(1.0)).abs() < 1e-12);
    assert_eq!(pairings[1]["pass_at_k"]["1"], 1.0);
    assert_eq!(pairings[0]["pass_hat_k"]["1"], 0.0);

    let output = missions_bench(
        &[
            "compare",
            &report,
            "--format",
            "markdown",
            "--baseline",
            "nop",
        ],
        dir.path(),
    );
    let markdown = text(&output.stdout);
    assert!(markdown.starts_with("| pairing |"), "{markdown}");
    assert!(markdown.contains("| oracle vs nop |"), "{markdown}");
    let output = missions_bench(&["compare", &report, "--baseline", "gpt"], dir.path());
    assert_input_error(&output, "gpt");
}

#[test]
fn bad_flags_and_names_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite();
    let suite = suite.to_str().unwrap();
    for (args, message) in [
        (
            vec!["run", suite, "--role", "boss=nop"],
            "unknown role `boss`",
        ),
        (
            vec!["run", suite, "--role", "worker"],
            "expected ROLE=MODEL",
        ),
        (
            vec!["run", suite, "--pairing", "gpt"],
            "no pairing or model named `gpt`",
        ),
        (
            vec!["run", suite, "--mission", "nope", "-q"],
            "has no mission `nope`",
        ),
        (vec!["run", "no/such/suite", "-q"], "no suite.toml here"),
    ] {
        let output = missions_bench(&args, dir.path());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            text(&output.stderr).contains(message),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let output = missions_bench(&["compare", dir.path().to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn suite_check_accepts_valid_suites() {
    let dir = tempfile::tempdir().unwrap();
    let output = missions_bench(
        &["suite", "check", tiny_suite().to_str().unwrap(), "-q"],
        dir.path(),
    );
    let stdout = stdout_of(&output, 0);
    assert!(
        stdout.contains("ok       greet") && stdout.contains("ok       weak"),
        "{stdout}"
    );
}

#[test]
fn suite_check_names_a_broken_solution() {
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), dir.path());
    edit(
        &suite.join("greet/solution/f1/greet.sh"),
        "echo \"hello, $1\"",
        "echo \"hi, $1\"",
    );
    let output = missions_bench(
        &["suite", "check", suite.to_str().unwrap(), "-q"],
        dir.path(),
    );
    let stdout = stdout_of(&output, 1);
    assert!(stdout.contains("INVALID  greet"), "{stdout}");
    assert!(stdout.contains("ok       weak"), "{stdout}");
    // A1 fails the same way in both rounds: one line naming its rounds.
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("assertion `A1` fails against the reference solution"))
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].contains("mission `greet`")
            && lines[0].contains("in rounds 1 and 2")
            && lines[0].contains("greet/contract.toml:20: field `assertion.command`"),
        "{}",
        lines[0]
    );
    // The feature's own tests failed too, and are named.
    assert!(
        stdout.contains("feature `f1`'s test command `sh tests/test_greet.sh` fails against the reference solution in round 1 (exit_code: 1)")
            && stdout.contains("greet/contract.toml:48: field `feature.test_command`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("milestone `m1` did not pass in round 1"),
        "{stdout}"
    );
}

/// A feature's test command that fails against the reference solution is blamed, at its own
/// line, not an assertion's command that passed.
#[test]
fn suite_check_blames_the_test_command_that_failed() {
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), dir.path());
    edit(
        &suite.join("greet/contract.toml"),
        "test_command = \"sh tests/test_greet.sh\"",
        "test_command = \"sh tests/test_greet.sh; exit 5\"",
    );
    let output = missions_bench(
        &["suite", "check", suite.to_str().unwrap(), "-q"],
        dir.path(),
    );
    let stdout = stdout_of(&output, 1);
    assert!(stdout.contains("INVALID  greet"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("feature `f1`"))
        .expect(&stdout);
    assert!(
        line.contains("test command `sh tests/test_greet.sh; exit 5` fails against the reference solution in round 1 (exit_code: 5)")
            && line.contains("greet/contract.toml:48: field `feature.test_command`"),
        "{line}"
    );
    assert!(!stdout.contains("assertion.command"), "{stdout}");
    crate::common::assert_no_debug_output("suite check", &stdout);
}

#[test]
fn suite_check_names_a_spec_error() {
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), dir.path());
    edit(
        &suite.join("weak/contract.toml"),
        "verify = \"command\"",
        "verify = \"sometimes\"",
    );
    let output = missions_bench(
        &["suite", "check", suite.to_str().unwrap(), "-q"],
        dir.path(),
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("mission `weak`: "), "{stderr}");
    assert!(
        stderr.contains("weak/contract.toml:9: field `verify`: unknown variant `sometimes`"),
        "{stderr}"
    );
    assert!(!stderr.contains("caused by"), "{stderr}");
}

#[test]
fn nop_missions_fail_acceptance_but_the_suite_is_still_valid() {
    // `weak` passes with the oracle but its contract cannot see the missing file: that is a
    // property of the mission, not a reason to refuse it. What makes a mission invalid is an
    // acceptance suite that nop passes.
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), dir.path());
    std::fs::write(suite.join("weak/workspace/hello.txt"), "hello\n").unwrap();
    let output = missions_bench(
        &["suite", "check", suite.to_str().unwrap(), "-q"],
        dir.path(),
    );
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("mission `weak`: with nop in every role all 1 acceptance tests pass"),
        "{stdout}"
    );
}

#[test]
fn infrastructure_errors_have_their_own_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let suite = copy_suite(&tiny_suite(), dir.path());
    edit(
        &suite.join("suite.toml"),
        "[defaults]",
        "[environment]\nsetup = [\"exit 9\"]\n\n[defaults]",
    );
    let output = missions_bench(
        &[
            "run",
            suite.to_str().unwrap(),
            "-q",
            "--cache-dir",
            dir.path().join("cache").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("environment_setup_failed"));
}

#[test]
fn models_probe_measures_a_local_model() {
    use missions_bench::model::local::fixtures::{write_hf_folder, FixtureShape};
    use missions_bench::model::local::shape::Family;
    let dir = tempfile::tempdir().unwrap();
    write_hf_folder(
        &dir.path().join("models/tiny"),
        FixtureShape::tiny(Family::Qwen3),
        9,
    )
    .unwrap();
    // Model paths in a config are relative to the config file.
    let config = "default_pairing = \"local\"\n[models.tiny]\nprovider = \"candle\"\npath = \"models/tiny\"\n\
                  [models.oracle]\nprovider = \"oracle\"\n\
                  [pairings.local]\norchestrator = \"tiny\"\nworker = \"tiny\"\nvalidator = \"tiny\"\n";
    std::fs::write(dir.path().join("bench.toml"), config).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("bench.toml");
    let output = missions_bench(
        &[
            "models",
            "probe",
            "tiny",
            "--config",
            config_path.to_str().unwrap(),
            "--prompt-tokens",
            "64",
            "--decode-tokens",
            "8",
            "--depth",
            "0,100",
        ],
        elsewhere.path(),
    );
    let stdout = stdout_of(&output, 0);
    for line in [
        "qwen3 2 layers",
        // Safetensors weights run on candle's matmul; GGUF ones on the packed kernels.
        "kernels     candle",
        "load time",
        "memory",
        "context     0: prefill 64 tokens at ",
        "context   100: prefill 64 tokens at ",
        "decode 8 tokens at ",
        "tokens/s",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    let output = missions_bench(
        &[
            "models",
            "probe",
            "oracle",
            "--config",
            config_path.to_str().unwrap(),
        ],
        elsewhere.path(),
    );
    assert_input_error(&output, "probe measures local (candle) models");
}

#[test]
fn models_calls_sorts_a_local_models_replies_with_and_without_constraint() {
    use missions_bench::model::local::fixtures::{write_hf_folder, FixtureShape};
    use missions_bench::model::local::shape::Family;
    let dir = tempfile::tempdir().unwrap();
    write_hf_folder(
        &dir.path().join("models/tiny"),
        FixtureShape::tiny(Family::Qwen2),
        5,
    )
    .unwrap();
    let repo = crate::common::repo();
    // The template opens a call in its generation prompt, so random weights write calls.
    let template = repo.join("tests/fixtures/constrain/opens-a-call.jinja");
    let config = format!(
        "default_pairing = \"local\"\n[models.tiny]\nprovider = \"candle\"\npath = \"models/tiny\"\nmax_new_tokens = 64\nchat_template = \"{}\"\n\
         [pairings.local]\norchestrator = \"tiny\"\nworker = \"tiny\"\nvalidator = \"tiny\"\n",
        template.display()
    );
    let config_path = dir.path().join("bench.toml");
    std::fs::write(&config_path, config).unwrap();
    let mission = repo.join("suites/core/wordfreq");
    let output = missions_bench(
        &[
            "models",
            "calls",
            "tiny",
            "--config",
            config_path.to_str().unwrap(),
            "--mission",
            mission.to_str().unwrap(),
            "--samples",
            "2",
        ],
        dir.path(),
    );
    let stdout = stdout_of(&output, 0);
    let row = |mode: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(mode))
            .unwrap_or_else(|| panic!("{mode}: {stdout}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (free, constrained) = (row("unconstrained"), row("constrained"));
    // Same replies asked in both modes; under constraint every one is a schema-valid call.
    assert_eq!(free[2], constrained[2], "{stdout}");
    assert_eq!(constrained[3], "100%", "{stdout}");
    assert!(stdout.contains("worker turns from"), "{stdout}");
}

#[test]
fn sandbox_lists_the_protections_and_runs_a_command_inside() {
    let dir = tempfile::tempdir().unwrap();
    let output = missions_bench(&["sandbox"], dir.path());
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    for name in [
        "filesystem",
        "network",
        "processes",
        "memory",
        "file_size",
        "cpu_time",
        "disk",
        "files",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(name)),
            "{name} in {stdout}"
        );
    }
    assert!(stdout.contains("a command ran inside: ok"), "{stdout}");
    // CI installs Chromium: it must start inside the sandbox.
    let browser = stdout
        .lines()
        .find(|l| l.starts_with("browser: "))
        .unwrap_or_else(|| panic!("no browser line in {stdout}"));
    assert!(
        browser.contains("started inside the sandbox in"),
        "{browser}"
    );
    let output = missions_bench(&["sandbox", "--network", "everywhere"], dir.path());
    assert_input_error(&output, "everywhere");
}

/// `check` passes identical reports and fails a seeded regression, naming it with its evidence;
/// `--junit` writes one test case per mission run.
#[test]
fn check_gates_on_seeded_regressions() {
    use missions_bench::report::{read_tables, write_tables};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let baseline = run_tiny(dir.path(), &out, &["--pairing", "oracle", "--repeats", "2"]);
    let baseline = Path::new(&baseline);

    // Identical reports: no regression.
    let gate = |report: &Path, flags: &[&str]| {
        let mut args = vec![
            "check",
            report.to_str().unwrap(),
            "--baseline",
            baseline.to_str().unwrap(),
        ];
        args.extend_from_slice(flags);
        missions_bench(&args, dir.path())
    };
    let output = gate(
        baseline,
        &["--max-drop", "pass_rate=0.05", "--max-rise", "tokens=10%"],
    );
    let stdout = stdout_of(&output, 0);
    assert!(stdout.contains("ok: oracle pass_rate"), "{stdout}");
    let tables = read_tables(baseline).unwrap();
    let runs = tables.missions.len();
    assert!(
        stdout.contains(&format!("{runs} mission runs compared; 0 left out")),
        "{stdout}"
    );

    // Seeded: one mission run stops passing and every run spends twice the tokens.
    let seeded = dir.path().join("seeded");
    std::fs::create_dir_all(&seeded).unwrap();
    std::fs::copy(baseline.join("run.json"), seeded.join("run.json")).unwrap();
    let mut broken = tables.clone();
    broken.missions[0].status = "failed".to_string();
    for row in &mut broken.missions {
        row.input_tokens = row.input_tokens.map(|t| t * 2);
        row.output_tokens = row.output_tokens.map(|t| t * 2);
        row.tokens_worker *= 2;
        row.tokens_orchestrator *= 2;
        row.tokens_scrutiny *= 2;
        row.tokens_user_testing *= 2;
        row.tokens_subagent *= 2;
    }
    write_tables(&seeded, &broken).unwrap();
    let junit = dir.path().join("junit.xml");
    let output = gate(
        &seeded,
        &[
            "--max-drop",
            "pass_rate=0.05",
            "--max-rise",
            "tokens=10%",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let stdout = stdout_of(&output, 1);
    let pass_line = stdout
        .lines()
        .find(|l| l.starts_with("REGRESSED: oracle pass_rate"))
        .expect(&stdout);
    let drop = 1.0 / runs as f64;
    assert!(
        pass_line.contains(&format!("({:+.4}", -drop)),
        "{pass_line}"
    );
    assert!(
        pass_line.contains("1 passed only in the baseline, 0 only now (McNemar p = 1.000)"),
        "{pass_line}"
    );
    assert!(
        pass_line.contains(&format!(
            "stopped passing: {} r{}",
            broken.missions[0].mission, broken.missions[0].repeat
        )),
        "{pass_line}"
    );
    let token_line = stdout
        .lines()
        .find(|l| l.starts_with("REGRESSED: oracle tokens"))
        .expect(&stdout);
    assert!(token_line.contains("95% CI"), "{token_line}");
    // A looser threshold lets the same change through.
    let output = gate(&seeded, &["--max-drop", "pass_rate=0.5"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), runs, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(xml.contains("regressed: passed in the baseline"), "{xml}");

    // A mission whose hash differs is left out, and saying so.
    let mut changed = tables.clone();
    for row in &mut changed.missions {
        row.mission_hash = "0".repeat(64);
    }
    let other = dir.path().join("changed");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(baseline.join("run.json"), other.join("run.json")).unwrap();
    write_tables(&other, &changed).unwrap();
    let output = gate(&other, &["--max-drop", "pass_rate=0.05"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stdout).contains("the mission changed"),
        "{}",
        text(&output.stdout)
    );
    let output = gate(baseline, &["--max-drop", "speed=1"]);
    assert_input_error(&output, "unknown measure `speed`");
}

/// `--role` with lists sweeps every combination on top of each pairing.
#[test]
fn role_lists_sweep_every_combination() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let report = run_tiny(
        dir.path(),
        &out,
        &[
            "-j",
            "2",
            "--role",
            "worker=oracle,nop",
            "--role",
            "validator=oracle,nop",
        ],
    );
    let tables = missions_bench::report::read_tables(Path::new(&report)).unwrap();
    let pairings: std::collections::BTreeSet<&str> =
        tables.missions.iter().map(|m| m.pairing.as_str()).collect();
    assert_eq!(
        pairings.into_iter().collect::<Vec<_>>(),
        vec![
            "oracle+worker=nop+validator=nop",
            "oracle+worker=nop+validator=oracle",
            "oracle+worker=oracle+validator=nop",
            "oracle+worker=oracle+validator=oracle",
        ]
    );
    assert_eq!(tables.missions.len(), 8);
    let passed: Vec<&str> = tables
        .missions
        .iter()
        .filter(|m| m.status == "passed")
        .map(|m| m.pairing.as_str())
        .collect();
    assert!(
        passed
            .iter()
            .all(|p| *p == "oracle+worker=oracle+validator=oracle"),
        "{passed:?}"
    );
    let output = missions_bench(
        &["run", tiny_suite().to_str().unwrap(), "--role", "worker="],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn budget_overrides_are_checked_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let suite = tiny_suite();
    let suite = suite.to_str().unwrap();
    let output = missions_bench(&["run", suite, "--budget", "max_turn=3"], dir.path());
    assert_input_error(&output, "max_turn");
    let output = missions_bench(&["run", suite, "--budget", "max_rounds=0"], dir.path());
    assert_input_error(&output, "max_rounds must be at least 1");
    let output = missions_bench(
        &[
            "run",
            suite,
            "-m",
            "greet",
            "-q",
            "--budget",
            "max_turns=30",
        ],
        dir.path(),
    );
    stdout_of(&output, 0);
    let reports: Vec<_> = std::fs::read_dir(dir.path().join("reports"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(reports.len(), 1);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports[0].path().join("run.json")).unwrap())
            .unwrap();
    assert_eq!(info["budget"]["max_turns"], "30");
}

/// A folder where a report's file belongs (`runs.parquet`, `events.jsonl`, `run.json`) is bad
/// input for every command that reads report folders: exit 2, the path named with what is
/// there, and nothing of the report changed.
#[test]
fn a_folder_where_a_report_file_belongs_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let good = run_tiny(
        dir.path(),
        &dir.path().join("reports"),
        &["--pairing", "oracle", "--mission", "greet"],
    );
    let suite = tiny_suite();
    let suite = suite.to_str().unwrap();
    for file in ["runs.parquet", "events.jsonl", "run.json"] {
        let bad = dir.path().join(format!("bad-{file}"));
        missions_bench::fsutil::copy_tree(Path::new(&good), &bad, &[]).unwrap();
        std::fs::remove_file(bad.join(file)).unwrap();
        std::fs::create_dir(bad.join(file)).unwrap();
        let bad = bad.to_str().unwrap();
        let needle = format!("{bad}/{file}` is a folder, where a file belongs");
        let out = dir.path().join("out");
        let out = out.to_str().unwrap();
        let commands: Vec<Vec<&str>> = vec![
            vec!["report", bad, "--html", "x.html"],
            vec!["compare", bad],
            vec!["compare", &good, bad],
            vec![
                "check",
                bad,
                "--baseline",
                &good,
                "--max-drop",
                "pass_rate=0.1",
            ],
            vec![
                "check",
                &good,
                "--baseline",
                bad,
                "--max-drop",
                "pass_rate=0.1",
            ],
            vec!["merge", bad, &good, "--out", out],
            vec!["view", bad, "--static", out],
            vec!["export", "atif", bad, "--out", out],
            vec!["run", suite, "-q", "--pairing", "oracle", "--resume", bad],
        ];
        for args in &commands {
            let output = missions_bench(args, dir.path());
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(stderr.contains(&needle), "{args:?}: {stderr}");
            crate::common::assert_no_debug_output(&format!("{args:?}"), &stderr);
        }
        if file != "runs.parquet" {
            // A replay reads the journal and run.json.
            let args = ["run", suite, "-q", "--replay", bad, "--live", "worker=nop"];
            let output = missions_bench(&args, dir.path());
            assert_input_error(&output, &needle);
        }
        assert!(Path::new(bad).join(file).is_dir());
        assert!(!Path::new(out).exists(), "{file}: a command wrote {out}");
    }
}
