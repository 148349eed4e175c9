//! Sharding a run and merging the shards gives the unsharded run's tables (up to run ids and
//! times), through the binary's `run --shard` and `merge`.

use std::path::Path;

use missions_bench::report::read_tables;

use crate::common::{
    assert_input_error, assert_same_tables, missions_bench, report_of, run_tiny, text, tiny_suite,
};

/// The tiny suite with oracle and nop, two repeats each: 8 mission runs.
fn run(dir: &Path, out: &Path, extra: &[&str]) -> String {
    let mut flags = vec!["-p", "oracle", "-p", "nop", "--repeats", "2"];
    flags.extend_from_slice(extra);
    run_tiny(dir, out, &flags)
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let whole = run(dir.path(), &out, &[]);
    let shards: Vec<String> = (1..=3)
        .map(|i| run(dir.path(), &out, &["--shard", &format!("{i}/3")]))
        .collect();
    let whole_tables = read_tables(Path::new(&whole)).unwrap();
    let sizes: Vec<usize> = shards
        .iter()
        .map(|s| read_tables(Path::new(s)).unwrap().missions.len())
        .collect();
    // 2 missions x 2 pairings x 2 repeats = 8 runs over 3 shards.
    assert_eq!(whole_tables.missions.len(), 8);
    assert_eq!(sizes, vec![3, 3, 2]);

    // Any order of the shard folders.
    let merged_out = dir.path().join("merged");
    let mut args = vec!["merge", "--out", merged_out.to_str().unwrap()];
    args.extend([shards[2].as_str(), shards[0].as_str(), shards[1].as_str()]);
    let merged = report_of(&missions_bench(&args, dir.path()));
    let merged_tables = read_tables(Path::new(&merged)).unwrap();
    assert_same_tables(&whole_tables, &merged_tables);
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&merged).join("run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(info["merged_from"].as_array().unwrap().len(), 3);
    assert!(info.get("shard").is_none());
    assert!(Path::new(&merged).join("transcripts").is_dir());

    // A missing shard, a repeated one and a whole run are refused.
    let refused = |folders: &[&str], why: &str| {
        let mut args = vec!["merge", "--out", merged_out.to_str().unwrap()];
        args.extend_from_slice(folders);
        let output = missions_bench(&args, dir.path());
        assert_input_error(&output, why);
    };
    refused(&[&shards[0], &shards[1]], "shards missing: 3/3");
    refused(&[&shards[0], &shards[0], &shards[1], &shards[2]], "twice");
    refused(&[&whole], "not a shard");
    let output = missions_bench(
        &["run", tiny_suite().to_str().unwrap(), "--shard", "4/3"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
}

/// `report --html` writes one self-contained file: five SVG charts, one point per pairing on
/// the Pareto chart, the per-mission table, and nothing fetched from elsewhere.
#[test]
fn the_html_report_is_one_self_contained_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let report = run(dir.path(), &out, &[]);
    let html_path = dir.path().join("report.html");
    let output = missions_bench(
        &["report", &report, "--html", html_path.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<svg ").count(), 5, "charts");
    assert_eq!(html.matches("</svg>").count(), 5);
    for title in [
        "Pass rate against cost, with the Pareto front",
        "Rounds to pass, per milestone",
        "Tokens per mission, by role",
        "Cache-read share of input tokens, by role",
        "Trajectory length: turns per agent run, by role",
    ] {
        assert!(html.contains(&format!("<title>{title}</title>")), "{title}");
    }
    // Two pairings (oracle, nop): a point each; oracle alone is on the front with nop (cheaper).
    assert_eq!(html.matches("class=\"point\"").count(), 2);
    assert!(html.contains("<title>oracle: pass 100%"));
    assert!(html.contains("<title>nop: pass 0%"));
    assert!(html.matches("class=\"bar\"").count() >= 5);
    assert!(html.matches("class=\"box\"").count() >= 2);
    // One table row per mission run.
    let tables = read_tables(Path::new(&report)).unwrap();
    assert_eq!(html.matches("<tr class=").count(), tables.missions.len());
    // Nothing loaded from elsewhere: no script, no stylesheet link, no URL but the SVG namespace.
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    let output = missions_bench(&["report", "/nonexistent", "--html", "x.html"], dir.path());
    assert_eq!(output.status.code(), Some(2));

    // In a 900 x 1200 window nothing is wider than the window: wide tables scroll inside
    // themselves. Measured in a copy of the page that writes its width into its title.
    let chromium =
        missions_bench::tools::browser::find_program(&std::env::var("PATH").unwrap_or_default())
            .expect("no Chromium on PATH (install the `chromium` package; .ci/run does)");
    let measured = dir.path().join("measured.html");
    std::fs::write(
        &measured,
        html.replace(
            "</body>",
            "<script>document.title = 'width ' + document.documentElement.scrollWidth;</script></body>",
        ),
    )
    .unwrap();
    let headless = |extra: &[String]| {
        let profile = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(&chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=900,1200",
                "--virtual-time-budget=3000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let dom = headless(&[
        "--dump-dom".to_string(),
        format!("file://{}", measured.display()),
    ]);
    let width: u32 = dom
        .split("<title>width ")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no width in {dom}"));
    assert!(
        width <= 900,
        "the page is {width} px wide in a 900 px window"
    );
    let shot = dir.path().join("report-900.png");
    headless(&[
        format!("--screenshot={}", shot.display()),
        format!("file://{}", html_path.display()),
    ]);
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a screenshot of the page"
    );
}
