//! The local engine over a tiny random-weight model: token-level trajectories, prefix reuse
//! across turns and agents, engine usage numbers, reproducible greedy runs, and whole missions.

use std::path::Path;

use missions_bench::model::local::fixtures::{write_hf_folder, FixtureShape};
use missions_bench::model::local::schema::Schema;
use missions_bench::model::local::shape::Family;
use missions_bench::model::local::CandleBackend;
use missions_bench::model::{ChatRequest, Message, ModelInfo, ToolCall, UsageSource};
use missions_bench::spec::config::{Config, ModelConfig};
use missions_bench::spec::Provider;
use missions_bench::tools::WorkspaceTools;

use crate::common::{run, settings, tiny_suite};

fn model_config(folder: &Path, max_new_tokens: usize) -> ModelConfig {
    ModelConfig {
        provider: Provider::Candle,
        path: Some(folder.display().to_string()),
        max_new_tokens: Some(max_new_tokens),
        max_context: Some(8192),
        ..ModelConfig::default()
    }
}

fn backend(folder: &Path, max_new_tokens: usize, share: bool) -> CandleBackend {
    let mut config = model_config(folder, max_new_tokens);
    config.share_prefixes = Some(share);
    load(&config)
}

fn load(config: &ModelConfig) -> CandleBackend {
    CandleBackend::load(
        ModelInfo {
            name: "tiny".into(),
            provider: "candle",
        },
        config,
    )
    .unwrap()
}

fn tools() -> Vec<missions_bench::model::ToolSpec> {
    vec![WorkspaceTools::read_spec(), WorkspaceTools::run_spec()]
}

#[test]
fn each_turn_prefills_only_its_new_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = write_hf_folder(
        &dir.path().join("qwen2"),
        FixtureShape::tiny(Family::Qwen2),
        11,
    )
    .unwrap();
    let templates = crate::common::repo().join("tests/fixtures/templates");
    // The built-in ChatML, and two shipped templates (Qwen3's rewrites the last assistant turn,
    // which a token-level trajectory must not be thrown off by).
    for template in [None, Some("qwen2.5-instruct.jinja"), Some("qwen3.jinja")] {
        let mut config = model_config(&fixture.folder, 12);
        config.share_prefixes = Some(false);
        config.chat_template = template.map(|t| templates.join(t).display().to_string());
        let backend = load(&config);
        let label = template.unwrap_or("chatml");
        let engine = backend.engine();
        let tools = tools();
        let mut trajectory = engine.new_trajectory(0);
        let mut messages = vec![
            Message::system("You are a worker."),
            Message::user("Write hello.py and run it."),
        ];
        let mut previous_total = 0u64;
        for turn in 0..4 {
            let request = ChatRequest {
                messages: &messages,
                tools: &tools,
                max_output_tokens: None,
                on_retry: None,
            };
            let before: Vec<u32> = trajectory.tokens().to_vec();
            let response = engine.complete(&mut trajectory, &request).unwrap();
            let usage = &response.usage;
            assert_eq!(usage.source, UsageSource::Engine);
            let input = usage.input_tokens.unwrap();
            let cached = usage.cache_read_tokens.unwrap();
            let output = usage.output_tokens.unwrap();
            assert!((1..=12).contains(&output));
            assert_eq!(usage.cache_write_tokens, Some(input - cached));
            assert_eq!(response.timing.prefill_tokens, Some(input - cached));
            assert!(response.timing.ttft_ms.unwrap() > 0.0);
            if turn == 0 {
                assert_eq!(cached, 0);
            } else {
                // Everything but the last sampled token of the previous turn was cached, and the
                // previous trajectory (generated ids verbatim) is a prefix of this prompt.
                assert_eq!(cached, previous_total - 1, "{label} turn {turn}");
                assert_eq!(
                    &trajectory.tokens()[..before.len()],
                    &before[..],
                    "{label} turn {turn}"
                );
            }
            previous_total = input + output;
            let calls = vec![ToolCall {
                id: format!("c{turn}"),
                name: "run_command".into(),
                arguments: "{\"command\": \"ls\"}".into(),
                recovered: false,
            }];
            messages.push(Message::assistant(response.text.clone(), calls.clone()));
            messages.push(Message::tool_result(
                &calls[0],
                format!("exit_code: 0\n--- stdout ---\nfile{turn}.py\n--- stderr ---\n"),
                false,
            ));
        }
    }
}

#[test]
fn greedy_runs_repeat_and_new_agents_start_from_shared_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = write_hf_folder(
        &dir.path().join("llama"),
        FixtureShape::tiny(Family::Llama),
        5,
    )
    .unwrap();
    let messages = vec![
        Message::system("You are a worker. ".repeat(20)),
        Message::user("Implement the feature."),
    ];
    let tools = tools();
    let request = ChatRequest {
        messages: &messages,
        tools: &tools,
        max_output_tokens: None,
        on_retry: None,
    };

    let shared = backend(&fixture.folder, 8, true);
    let engine = shared.engine();
    let mut first = engine.new_trajectory(0);
    let one = engine.complete(&mut first, &request).unwrap();
    assert_eq!(one.usage.cache_read_tokens, Some(0));
    engine.share(first);
    // A second agent with the same beginning reuses the first one's cache.
    let mut second = engine.new_trajectory(1);
    let two = engine.complete(&mut second, &request).unwrap();
    let input = two.usage.input_tokens.unwrap();
    assert_eq!(
        two.usage.cache_read_tokens,
        Some(input - 1),
        "all but the last prompt token come from the shared prefix"
    );
    assert_eq!(
        (one.text.as_str(), &one.tool_calls),
        (two.text.as_str(), &two.tool_calls),
        "greedy decoding repeats"
    );

    // Without sharing, a fresh backend gives the same tokens, computed from scratch.
    let fresh = backend(&fixture.folder, 8, false);
    let mut third = fresh.engine().new_trajectory(0);
    let three = fresh.engine().complete(&mut third, &request).unwrap();
    assert_eq!(three.usage.cache_read_tokens, Some(0));
    assert_eq!(
        third.tokens().len() as u64,
        input + three.usage.output_tokens.unwrap()
    );
    assert_eq!(one.text, three.text);
}

#[test]
fn a_too_long_prompt_is_a_context_length_error() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = write_hf_folder(
        &dir.path().join("qwen3"),
        FixtureShape::tiny(Family::Qwen3),
        3,
    )
    .unwrap();
    let mut config = model_config(&fixture.folder, 8);
    config.max_context = Some(64);
    let backend = load(&config);
    let messages = vec![Message::user("word ".repeat(400))];
    let mut trajectory = backend.engine().new_trajectory(0);
    let error = backend
        .engine()
        .complete(
            &mut trajectory,
            &ChatRequest {
                messages: &messages,
                tools: &[],
                max_output_tokens: None,
                on_retry: None,
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            error,
            missions_bench::model::ModelError::ContextLength { .. }
        ),
        "{error}"
    );
}

fn candle_config(folder: &Path) -> Config {
    let source = format!(
        "default_pairing = \"tiny\"\n\
         [models.oracle]\nprovider = \"oracle\"\n\
         [models.tiny]\nprovider = \"candle\"\npath = \"{}\"\nmax_new_tokens = 24\nmax_context = 8192\n\
         [pairings.tiny]\norchestrator = \"tiny\"\nworker = \"tiny\"\nvalidator = \"tiny\"\n\
         [pairings.planned]\norchestrator = \"oracle\"\nworker = \"tiny\"\nvalidator = \"tiny\"\n",
        folder.display()
    );
    Config::parse(Path::new("test.toml"), &source).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn missions_run_with_a_local_model_in_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = write_hf_folder(
        &dir.path().join("model"),
        FixtureShape::tiny(Family::Qwen2),
        1,
    )
    .unwrap();
    let config = candle_config(&fixture.folder);
    let mut settings = settings(&tiny_suite(), &[], &dir.path().join("out"));
    settings.pairings = vec![
        config.pairing("tiny").unwrap(),
        config.pairing("planned").unwrap(),
    ];
    settings.config = config;
    settings.missions = vec!["greet".to_string()];
    settings.jobs = 1;
    let report = run(&settings).await;
    let tables = &report.tables;
    assert_eq!(tables.missions.len(), 2);
    for mission in &tables.missions {
        // Random weights produce no plan or no working code: the outcome is recorded, not faked.
        assert_ne!(mission.status, "passed", "{}", mission.pairing);
        assert!(mission.acceptance_passed < mission.acceptance_total);
        assert_eq!(
            mission.usage_source,
            if mission.pairing == "tiny" {
                "engine"
            } else {
                "mixed"
            }
        );
    }
    let all_local = tables
        .missions
        .iter()
        .find(|m| m.pairing == "tiny")
        .unwrap();
    assert_eq!(
        (all_local.status.as_str(), all_local.halt_reason.as_deref()),
        ("halted", Some("no_plan"))
    );
    let planned = tables
        .missions
        .iter()
        .find(|m| m.pairing == "planned")
        .unwrap();
    assert!(
        planned.runs_worker >= 1 && planned.runs_scrutiny >= 1 && planned.runs_user_testing >= 1,
        "{planned:?}"
    );

    let local_turns: Vec<_> = tables.turns.iter().filter(|t| t.model == "tiny").collect();
    assert!(!local_turns.is_empty());
    for turn in &local_turns {
        assert_eq!(turn.usage_source, "engine");
        let input = turn.input_tokens.unwrap();
        let cached = turn.cache_read_tokens.unwrap();
        assert!(cached < input);
        assert_eq!(turn.new_tokens, Some(input - cached));
        assert!(turn.output_tokens.unwrap() >= 1);
        assert!(turn.ttft_ms.unwrap() > 0.0 && turn.latency_ms >= turn.ttft_ms.unwrap());
        assert!(turn.prefill_tokens_per_s.unwrap() > 0.0);
    }
    // Later turns of a run reuse what earlier turns cached.
    assert!(local_turns
        .iter()
        .any(|t| t.turn > 1 && t.cache_read_tokens.unwrap() > 0));
    let local_runs: Vec<_> = tables.runs.iter().filter(|r| r.model == "tiny").collect();
    assert!(local_runs
        .iter()
        .all(|r| r.model_load_ms.unwrap() > 0.0 && r.usage_source == "engine"));
    let info = missions_bench::report::read_run_info(&report.dir).unwrap();
    let tiny = info.models.iter().find(|m| m.name == "tiny").unwrap();
    assert!(tiny.load_ms.unwrap() > 0.0 && tiny.parameters.unwrap() > 0);
}

#[test]
fn constrained_calls_from_random_weights_fit_their_schema_and_budget() {
    let dir = tempfile::tempdir().unwrap();
    let tools = vec![
        WorkspaceTools::read_spec(),
        WorkspaceTools::run_spec(),
        WorkspaceTools::write_spec(),
        WorkspaceTools::edit_spec(),
    ];
    let opens_a_call = crate::common::repo().join("tests/fixtures/constrain/opens-a-call.jinja");
    let mut calls = 0;
    for (family, seed) in [
        (Family::Qwen2, 1u64),
        (Family::Llama, 3),
        (Family::Qwen3, 2),
    ] {
        let fixture = write_hf_folder(
            &dir.path().join(format!("m{seed}")),
            FixtureShape::tiny(family),
            seed,
        )
        .unwrap();
        for (budget, sample) in [
            (40usize, 0u64),
            (48, 1),
            (96, 2),
            (160, 3),
            (160, 4),
            (64, 5),
        ] {
            let mut config = model_config(&fixture.folder, budget);
            config.constrained_tool_calls = Some(true);
            config.temperature = Some(1.0);
            config.seed = Some(sample);
            // Random weights seldom open a call on their own: most runs use a template whose
            // generation prompt opens one, as tool_choice=required does.
            if sample % 3 != 2 {
                config.chat_template = Some(opens_a_call.display().to_string());
            }
            let backend = load(&config);
            let messages = vec![
                Message::system("You are a worker."),
                Message::user("List the files."),
            ];
            let engine = backend.engine();
            let mut trajectory = engine.new_trajectory(0);
            let request = ChatRequest {
                messages: &messages,
                tools: &tools,
                max_output_tokens: None,
                on_retry: None,
            };
            let response = engine.complete(&mut trajectory, &request).unwrap();
            let output_tokens = response.usage.output_tokens.unwrap() as usize;
            assert!(
                output_tokens <= budget,
                "{family:?}: {output_tokens} > {budget}"
            );
            for call in &response.tool_calls {
                let spec = tools.iter().find(|t| t.name == call.name).unwrap();
                let arguments: serde_json::Value = serde_json::from_str(&call.arguments)
                    .unwrap_or_else(|e| panic!("{family:?}: {e}: {}", call.arguments));
                Schema::compile_arguments(&spec.parameters)
                    .validate(&arguments)
                    .unwrap_or_else(|e| panic!("{family:?}: {e}: {}", call.arguments));
                calls += 1;
            }
            assert!(response.tool_calls.len() <= 1);
        }
    }
    // Every run with the opening template writes a call, however short its budget.
    assert!(calls >= 12, "random weights wrote {calls} calls");
}
