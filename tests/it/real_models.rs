//! Real models in the repo's own checks: when the GGUF files that `../shared/models/fetch.sh`
//! assembles are present (`$MISSIONS_BENCH_MODELS/<name>/model.gguf`, else
//! `~/.cache/missions-bench/models/<name>/model.gguf`), a tiny mission runs with SmolLM2-135M as
//! its worker, loaded from the `.gguf` alone. Without them each test says in its output that the
//! step was not run, and passes.

use std::path::Path;

use missions_bench::metrics::records::{MissionRow, RunRow};
use missions_bench::spec::config::Config;

use crate::common::{self, real_model};

fn config_with_worker(model: &Path, constrained: bool) -> Config {
    let text = format!(
        r#"
default_pairing = "real"

[models.oracle]
provider = "oracle"

[models.smollm2]
provider = "candle"
path = "{}"
temperature = 0.7
seed = 11
max_new_tokens = 256
max_context = 8192
constrained_tool_calls = {constrained}

[pairings.real]
orchestrator = "oracle"
worker = "smollm2"
validator = "oracle"
"#,
        model.display()
    );
    Config::parse(Path::new("real-models.toml"), &text).expect("config")
}

async fn run_tiny_mission(
    model: &Path,
    constrained: bool,
    out: &Path,
) -> (MissionRow, Vec<RunRow>) {
    let mut settings = common::settings(&common::tiny_suite(), &[], out);
    settings.config = config_with_worker(model, constrained);
    settings.pairings = vec![settings.config.pairing("real").expect("pairing")];
    settings.missions = vec!["greet".to_string()];
    settings.jobs = 1;
    settings.budget = missions_bench::spec::suite::parse_budget_overrides(&[
        "max_turns=6".into(),
        "max_rounds=1".into(),
    ])
    .expect("budget");
    let report = common::run(&settings).await;
    let missions = report.tables.missions;
    assert_eq!(missions.len(), 1, "one mission run");
    let workers: Vec<RunRow> = report
        .tables
        .runs
        .into_iter()
        .filter(|r| r.role == "worker")
        .collect();
    (missions.into_iter().next().expect("mission row"), workers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smollm2_works_as_a_worker_from_the_gguf_alone() {
    let Some(model) = real_model("smollm2-135m") else {
        return;
    };
    let out = tempfile::tempdir().expect("tempdir");
    let (mission, workers) = run_tiny_mission(&model, true, out.path()).await;
    assert_ne!(
        mission.status, "error",
        "the mission ended as an infrastructure error: {}",
        mission.halt_detail
    );
    assert!(!workers.is_empty(), "the worker ran");
    for run in &workers {
        assert!(
            run.turns >= 1,
            "worker run {} made no model call",
            run.agent_run
        );
        assert!(
            run.input_tokens.unwrap_or(0) > 0 && run.output_tokens.unwrap_or(0) > 0,
            "worker run {} has engine token counts",
            run.agent_run
        );
        // Under schema-constrained decoding every call the model makes is valid.
        assert_eq!(
            run.malformed_calls, 0,
            "worker run {} made malformed calls under constraint",
            run.agent_run
        );
    }
    let calls: u64 = workers.iter().map(|r| r.tool_calls).sum();
    println!(
        "smollm2-135m as worker on tiny/greet: status {}, {} worker runs, {} tool calls, {} turns",
        mission.status,
        workers.len(),
        calls,
        workers.iter().map(|r| u64::from(r.turns)).sum::<u64>()
    );
}
