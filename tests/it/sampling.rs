//! Reproducible sampling: a tiny random-weight model samples at temperature 1 as the worker
//! and validators of the tiny suite; the same command gives the same tables and the same
//! model replies with `--jobs 1`, `--jobs 2` and after a SIGKILL and `--resume`, while another
//! `--seed` gives other replies. `compare` warns when a pairing's repeats are greedy.

use std::collections::BTreeMap;
use std::path::Path;

use missions_bench::model::local::fixtures::{write_hf_folder, FixtureShape};
use missions_bench::model::local::shape::Family;
use missions_bench::report::read_tables;

use crate::common::{
    assert_same_tables, missions_bench, report_of, send_signal, shared_cache, stdout_of, text,
    tiny_suite, wait_for_finished,
};

/// A config with the fixture model at `temperature` in every role but the orchestrator. Prefix
/// sharing is off: with it on the tokens are the same, but which finished trajectory's cache a
/// new one starts from depends on what finished first, and so do the cache-read columns.
fn write_config(dir: &Path, temperature: f64) -> String {
    write_hf_folder(
        &dir.join("models/tiny"),
        FixtureShape::tiny(Family::Qwen2),
        1,
    )
    .unwrap();
    let config = format!(
        "default_pairing = \"sampled\"\n\
         [models.oracle]\nprovider = \"oracle\"\n\
         [models.tiny]\nprovider = \"candle\"\npath = \"models/tiny\"\nmax_new_tokens = 16\n\
         max_context = 8192\ntemperature = {temperature}\ntop_k = 200\nrepetition_penalty = 1.1\n\
         share_prefixes = false\n\
         [pairings.sampled]\norchestrator = \"oracle\"\nworker = \"tiny\"\nvalidator = \"tiny\"\n"
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, config).unwrap();
    path.display().to_string()
}

/// `run` of the tiny suite with 3 repeats and `more` flags.
fn args<'a>(suite: &'a str, config: &'a str, out: &'a Path, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        suite,
        "--config",
        config,
        "--out",
        out.to_str().unwrap(),
        "-q",
        "--repeats",
        "3",
        // One round per milestone keeps the six mission runs short.
        "--budget",
        "max_rounds=1",
    ];
    args.extend(more);
    args
}

/// Every model reply in a report's transcripts, by transcript file.
fn replies(report: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for mission in std::fs::read_dir(report.join("transcripts")).unwrap() {
        let mission = mission.unwrap();
        for file in std::fs::read_dir(mission.path()).unwrap() {
            let file = file.unwrap();
            let lines: Vec<String> = std::fs::read_to_string(file.path())
                .unwrap()
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|line| line["role"] == "assistant")
                .map(|line| line.to_string())
                .collect();
            let name = format!(
                "{}/{}",
                mission.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            out.insert(name, lines);
        }
    }
    out
}

#[test]
fn sampled_runs_repeat_with_any_jobs_and_after_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 1.0);
    let suite = tiny_suite().display().to_string();
    let run = |name: &str, more: &[&str]| {
        let out = dir.path().join(name);
        let report = report_of(&missions_bench(
            &args(&suite, &config, &out, more),
            dir.path(),
        ));
        std::path::PathBuf::from(report)
    };
    let one = run("one", &["--jobs", "1"]);
    let two = run("two", &["--jobs", "2"]);
    let other_seed = run("other", &["--jobs", "1", "--seed", "5"]);

    let tables = read_tables(&one).unwrap();
    assert_eq!(tables.missions.len(), 6);
    let sampled: Vec<_> = tables.runs.iter().filter(|r| r.model == "tiny").collect();
    assert!(!sampled.is_empty());
    assert!(sampled.iter().all(|r| r.temperature == Some(1.0)));
    // Every agent run has its own seed.
    let seeds: std::collections::BTreeSet<_> = tables.runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds.len(), tables.runs.len());
    assert!(seeds.iter().all(Option::is_some));

    // The seed matters: another run seed samples other replies, so the comparisons below can fail.
    let first = replies(&one);
    assert!(first.values().map(Vec::len).sum::<usize>() > 10);
    assert_ne!(first, replies(&other_seed));
    // And the repeats of a mission differ from each other.
    let per_repeat: std::collections::BTreeSet<_> = first
        .iter()
        .filter(|(name, _)| name.contains("greet") && name.ends_with("-worker.jsonl"))
        .map(|(_, replies)| replies.clone())
        .collect();
    assert!(per_repeat.len() > 1, "{per_repeat:?}");

    assert_same_tables(&read_tables(&two).unwrap(), &tables);
    assert_eq!(replies(&two), first);

    // Killed after two missions, then resumed with the same command.
    let out = dir.path().join("killed");
    let killed = args(&suite, &config, &out, &["--jobs", "1"]);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_missions-bench"))
        .args(&killed)
        .current_dir(dir.path())
        .env("XDG_CACHE_HOME", shared_cache())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let journal = wait_for_finished(&out, 2);
    send_signal(&child, libc::SIGKILL);
    child.wait_with_output().unwrap();
    let report = journal.parent().unwrap().to_path_buf();
    let mut resumed = args(&suite, &config, &out, &["--jobs", "2", "--resume"]);
    resumed.push(report.to_str().unwrap());
    let output = missions_bench(&resumed, dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_same_tables(&read_tables(&report).unwrap(), &tables);
    assert_eq!(replies(&report), first);

    // A resume must be given the run's seed.
    let mut reseeded = args(
        &suite,
        &config,
        &out,
        &["--resume", report.to_str().unwrap()],
    );
    reseeded.extend(["--seed", "9"]);
    let output = missions_bench(&reseeded, dir.path());
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("seed: 9 vs 0"));
}

#[test]
fn compare_warns_when_repeats_are_greedy() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), 0.0);
    let suite = tiny_suite().display().to_string();
    let out = dir.path().join("greedy");
    let report = report_of(&missions_bench(
        &args(&suite, &config, &out, &["--mission", "greet"]),
        dir.path(),
    ));
    let tables = read_tables(Path::new(&report)).unwrap();
    assert!(tables
        .runs
        .iter()
        .filter(|r| r.model == "tiny")
        .all(|r| r.temperature == Some(0.0)));
    let warning = "pairing `sampled`: its repeats are greedy";
    for format in ["table", "markdown", "json"] {
        let output = missions_bench(&["compare", &report, "--format", format], dir.path());
        let stdout = stdout_of(&output, 0);
        assert!(stdout.contains(warning), "{format}: {stdout}");
    }
}
