//! `compare` on hand-built tables: a real run's rows with their outcomes set to a known pattern,
//! checked against values computed here independently (binomials, the enumerated bootstrap
//! distribution, the binomial tail).

use missions_bench::report::compare::{compare, paired_difference};

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
