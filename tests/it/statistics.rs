//! `compare` on hand-built tables: a real run's rows with their outcomes set to a known pattern,
//! checked against values computed here independently (binomials, the enumerated bootstrap
//! distribution, the binomial tail).

use missions_bench::report::compare::{
    breakdown, compare, paired_difference, render_breakdown, render_markdown, render_tool_calls,
    Dimension,
};

use crate::common::{run, settings, tiny_suite};

fn choose(n: u64, k: u64) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_gives_the_known_answers_on_hand_built_tables() {
    let out = tempfile::tempdir().unwrap();
    let mut settings = settings(&tiny_suite(), &["oracle", "nop"], out.path());
    settings.repeats = Some(3);
    let mut tables = run(&settings).await.tables;
    assert_eq!(tables.missions.len(), 12);
    // (pairing, mission) -> pass pattern over repeats 0, 1, 2.
    let pattern = |pairing: &str, mission: &str| -> [bool; 3] {
        match (pairing, mission) {
            ("oracle", "greet") => [true, true, false],
            ("oracle", "weak") => [true, false, false],
            ("nop", "greet") => [false, false, false],
            ("nop", "weak") => [true, false, false],
            other => panic!("unexpected {other:?}"),
        }
    };
    for row in &mut tables.missions {
        let passed = pattern(&row.pairing, &row.mission)[row.repeat as usize];
        row.status = if passed { "passed" } else { "failed" }.to_string();
    }
    let summaries = compare(std::slice::from_ref(&tables));
    let oracle = summaries.iter().find(|s| s.pairing == "oracle").unwrap();
    let nop = summaries.iter().find(|s| s.pairing == "nop").unwrap();
    assert_eq!(oracle.pass_rate, 0.5);
    assert_eq!(oracle.min_repeats, 3);
    assert_eq!(oracle.distinct_missions, 2);

    // pass@k and pass^k: the mean over missions of the binomial formulas, per (n, c).
    let expect = |counts: &[(u64, u64)], k: u64| {
        let at: f64 = counts
            .iter()
            .map(|(n, c)| 1.0 - choose(n - c, k) / choose(*n, k))
            .sum::<f64>()
            / counts.len() as f64;
        let hat: f64 = counts
            .iter()
            .map(|(n, c)| choose(*c, k) / choose(*n, k))
            .sum::<f64>()
            / counts.len() as f64;
        (at, hat)
    };
    for (summary, counts) in [(oracle, [(3, 2), (3, 1)]), (nop, [(3, 0), (3, 1)])] {
        for k in 1..=3u64 {
            let (at, hat) = expect(&counts, k);
            assert!(
                (summary.pass_at_k[&k] - at).abs() < 1e-12,
                "{} pass@{k}",
                summary.pairing
            );
            assert!(
                (summary.pass_hat_k[&k] - hat).abs() < 1e-12,
                "{} pass^{k}",
                summary.pairing
            );
        }
    }
    assert!((oracle.pass_at_k[&2] - 5.0 / 6.0).abs() < 1e-12);
    assert!((oracle.pass_hat_k[&2] - 1.0 / 6.0).abs() < 1e-12);

    // The interval: resampling 2 missions gives 4 equally likely pass rates, 2/6, 3/6, 3/6,
    // 4/6; each extreme weighs 25%, so the 95% interval is [1/3, 2/3].
    let ci = oracle.pass_rate_ci.unwrap();
    assert!((ci.low - 1.0 / 3.0).abs() < 1e-12, "{ci:?}");
    assert!((ci.high - 2.0 / 3.0).abs() < 1e-12, "{ci:?}");

    // Paired: oracle passed alone on greet r0 and r1, nop never alone: b = 0, c = 2, so the
    // exact two-sided p is 2 * 0.5^2.
    let paired = paired_difference(std::slice::from_ref(&tables), "nop", "oracle").unwrap();
    assert_eq!(paired.pairs, 6);
    assert_eq!(
        (
            paired.both_passed,
            paired.only_baseline_passed,
            paired.only_candidate_passed,
            paired.neither_passed
        ),
        (1, 0, 2, 3)
    );
    assert!((paired.mcnemar_p - 2.0 * 0.5f64.powi(2)).abs() < 1e-12);
    assert!((paired.pass_rate_difference - 2.0 / 6.0).abs() < 1e-12);
}

/// Tool calls by role: valid, recovered and malformed (unknown tools included) partition a
/// role's calls, in the summary and in the text and Markdown tables.
#[tokio::test(flavor = "multi_thread")]
async fn compare_splits_each_roles_tool_calls_into_valid_recovered_and_malformed() {
    let out = tempfile::tempdir().unwrap();
    let settings = settings(&tiny_suite(), &["oracle"], out.path());
    let mut tables = run(&settings).await.tables;
    let mut workers = 0u64;
    for row in tables.runs.iter_mut().filter(|r| r.role == "worker") {
        (
            row.tool_calls,
            row.malformed_calls,
            row.unknown_tool_calls,
            row.recovered_calls,
        ) = (10, 2, 1, 3);
        workers += 1;
    }
    assert!(workers > 0);
    let summaries = compare(std::slice::from_ref(&tables));
    let summary = &summaries[0];
    let worker = &summary.tool_calls_by_role["worker"];
    assert_eq!(
        worker.counts(),
        (10 * workers, 4 * workers, 3 * workers, 3 * workers)
    );
    assert_eq!(
        (
            worker.valid_share,
            worker.recovered_share,
            worker.malformed_share
        ),
        (0.4, 0.3, 0.3)
    );
    // The oracle writes every call of the other roles validly.
    let orchestrator = &summary.tool_calls_by_role["orchestrator"];
    assert!(orchestrator.calls > 0);
    assert_eq!(orchestrator.valid, orchestrator.calls);
    assert_eq!(orchestrator.valid_share, 1.0);

    let text = render_tool_calls(&summaries);
    let line = text
        .lines()
        .find(|l| l.contains("worker"))
        .expect("a worker line");
    for cell in [
        format!("40% ({})", 4 * workers),
        format!("30% ({})", 3 * workers),
    ] {
        assert!(line.contains(&cell), "{text}");
    }
    let markdown = render_markdown(&summaries, &[]);
    let calls = format!(
        "| {} | 40% ({}) | 30% ({}) | 30% ({}) |",
        10 * workers,
        4 * workers,
        3 * workers,
        3 * workers
    );
    let row = markdown
        .lines()
        .find(|l| l.starts_with("| oracle | worker |"))
        .expect("a worker row");
    assert!(row.ends_with(&calls), "{markdown}");
    // Tokens per mission, cache share and turns per run come first.
    assert_eq!(row.matches(" | ").count(), 8, "{row}");
}

/// Broken down by difficulty or language, each group is `compare` on its own missions' rows
/// alone (milestones, agent runs and turns included), groups in ladder order, and runs recorded
/// before missions carried a difficulty fall in `unknown`.
#[tokio::test(flavor = "multi_thread")]
async fn a_breakdown_is_compare_on_each_groups_missions_alone() {
    let out = tempfile::tempdir().unwrap();
    let mut settings = settings(&tiny_suite(), &["oracle", "nop"], out.path());
    settings.repeats = Some(2);
    let mut tables = run(&settings).await.tables;
    for row in &tables.missions {
        assert_eq!(
            (row.difficulty.as_deref(), row.language.as_deref()),
            (Some("small"), Some("shell"))
        );
    }
    for row in &mut tables.missions {
        if row.mission == "weak" {
            row.difficulty = Some("micro".into());
        }
        if row.mission == "greet" && row.repeat == 1 {
            row.difficulty = None;
        }
    }
    let groups = breakdown(std::slice::from_ref(&tables), Dimension::Difficulty);
    let values: Vec<&str> = groups.iter().map(|g| g.value.as_str()).collect();
    assert_eq!(values, ["micro", "small", "unknown"]);
    // Each group matches compare over a copy of the tables holding only its mission runs.
    for group in &groups {
        let mut alone = tables.clone();
        let keep = |pairing: &str, mission: &str, repeat: u32| {
            let row = tables
                .missions
                .iter()
                .find(|m| m.pairing == pairing && m.mission == mission && m.repeat == repeat)
                .unwrap();
            Dimension::Difficulty.of(row) == group.value
        };
        macro_rules! keep_only {
            ($($rows:ident),*) => {
                $(alone.$rows.retain(|r| keep(&r.pairing, &r.mission, r.repeat));)*
            };
        }
        keep_only!(missions, milestones, runs, turns, assertions);
        assert!(alone.runs.len() < tables.runs.len(), "{}", group.value);
        assert_eq!(
            group.pairings,
            compare(std::slice::from_ref(&alone)),
            "{}",
            group.value
        );
    }
    let micro = &groups[0];
    assert_eq!(micro.missions, ["weak"]);
    let oracle = micro
        .pairings
        .iter()
        .find(|p| p.pairing == "oracle")
        .unwrap();
    assert_eq!(oracle.missions, 2);
    assert!(oracle.tokens_by_role["worker"] > 0.0);
    assert_eq!(groups[2].missions, ["greet"]);
    assert_eq!(
        groups[2].pairings.iter().map(|p| p.missions).sum::<u64>(),
        2,
        "greet's repeat 1, for each pairing"
    );
    let by_language = breakdown(std::slice::from_ref(&tables), Dimension::Language);
    assert_eq!(by_language.len(), 1);
    assert_eq!(
        by_language[0].pairings,
        compare(std::slice::from_ref(&tables))
    );
    let text = render_breakdown(Dimension::Difficulty, &groups);
    assert!(text.starts_with("difficulty"), "{text}");
    assert!(text.contains("micro") && text.contains("unknown"), "{text}");
}
