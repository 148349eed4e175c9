//! The harness's own cost, side by side in one run:
//! - `agent_turn`: one agent-loop turn (model call, tool call, event, transcript line) with a
//!   zero-cost scripted model, a `list_files` tool call on a small workspace, and events written
//!   to a real events.jsonl;
//! - `mission_tiny_oracle`: a whole run of the shell-only tiny suite with the oracle;
//! - `fold_and_write`: the metrics fold plus all five Parquet tables for a run's events;
//! - `load_core_suite` and `lint_core_suite`: the core suite loaded as `run` loaded it before
//!   it linted, and `suite lint` of it (the same load plus every hidden test read and matched).
//!
//! Before the criterion groups it prints the harness CPU per agent turn of an oracle run (from
//! getrusage of the harness process, excluding the commands it runs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};

use missions_bench::agent::{run_agent, AgentContext, AgentLimits, AgentRunSpec, Meter};
use missions_bench::events::{read_events, Emitter, FileClass, JsonlSink};
use missions_bench::metrics::fold;
use missions_bench::mission::{run_suite, RunSettings};
use missions_bench::model::{
    CallTiming, ChatRequest, ChatResponse, ModelError, ModelSession, StopReason, ToolCall,
    ToolSpec, Usage, UsageSource,
};
use missions_bench::report::{read_run_info, write_tables, HarnessInfo};
use missions_bench::spec::config::Config;
use missions_bench::spec::Role;
use missions_bench::tools::{
    spec, CallResult, CommandEnv, ToolReply, Toolbox, Workspace, WorkspaceTools,
};

const TURNS: u32 = 50;

/// A model that lists files `TURNS - 1` times, then finishes.
struct Scripted {
    turn: u32,
}

#[async_trait]
impl ModelSession for Scripted {
    async fn complete(&mut self, _request: ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
        self.turn += 1;
        let (name, arguments) = if self.turn < TURNS {
            ("list_files", json!({}))
        } else {
            ("finish", json!({"summary": "done"}))
        };
        Ok(ChatResponse {
            text: String::new(),
            tool_calls: vec![ToolCall {
                id: format!("c{}", self.turn),
                name: name.into(),
                arguments: arguments.to_string(),
                recovered: false,
            }],
            stop: StopReason::ToolCalls,
            usage: Usage {
                input_tokens: Some(1000),
                cache_read_tokens: None,
                cache_write_tokens: None,
                output_tokens: Some(20),
                reasoning_tokens: None,
                source: UsageSource::Estimate,
                raw: None,
            },
            timing: CallTiming::default(),
            retries: 0,
        })
    }
}

struct Tools(WorkspaceTools);

#[async_trait]
impl Toolbox for Tools {
    fn specs(&self) -> Vec<ToolSpec> {
        vec![
            WorkspaceTools::list_spec(),
            spec("finish", "end", json!({"type": "object"})),
        ]
    }

    async fn call(&mut self, name: &str, arguments: Value) -> CallResult {
        Ok(match name {
            "finish" => ToolReply::ends(missions_bench::tools::Ending::Finished, "done"),
            other => self
                .0
                .call(other, arguments)
                .await
                .unwrap_or_else(|| ToolReply::ok("")),
        })
    }
}

struct NoBudget;

impl Meter for NoBudget {
    fn exhausted(&self) -> Option<String> {
        None
    }
    fn charge(&self, _usage: &Usage, _cost: Option<f64>) {}
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tiny_settings(out: &Path) -> RunSettings {
    let config = Config::default_config().expect("config");
    RunSettings {
        budget: Default::default(),
        suite_dir: repo().join("tests/fixtures/tiny"),
        pairings: vec![config.pairing("oracle").expect("oracle")],
        config,
        missions: Vec::new(),
        repeats: Some(1),
        jobs: 1,
        out_dir: out.to_path_buf(),
        shard: None,
        stop: Default::default(),
        resume: false,
        force: false,
        run_id: "bench".to_string(),
        work_dir: out.join("work"),
        cache_dir: out.join("cache"),
        setup_env: Vec::new(),
        base_path: "/usr/local/bin:/usr/bin:/bin".to_string(),
        keep_workspaces: false,
        command_line: Vec::new(),
        harness: HarnessInfo {
            version: "bench".into(),
            git_commit: "bench".into(),
        },
        seed: None,
        model_env: Default::default(),
    }
}

fn agent_turn(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = dir.path().join("workspace");
    for i in 0..20 {
        std::fs::create_dir_all(workspace.join(format!("pkg{}", i % 4))).expect("mkdir");
        std::fs::write(
            workspace.join(format!("pkg{}/file{i}.py", i % 4)),
            "x = 1\n",
        )
        .expect("write");
    }
    let sink = Arc::new(JsonlSink::create(&dir.path().join("events.jsonl")).expect("events"));
    let emitter = Emitter::new(vec![sink]);
    let tools = WorkspaceTools {
        workspace: Workspace::new(&workspace).expect("workspace"),
        command_env: CommandEnv {
            vars: Vec::new(),
            timeout: Duration::from_secs(5),
            max_output_bytes: 4096,
            sandbox: None,
            stop: None,
        },
    };
    let classify = |_: &str| FileClass::Other;
    let transcript = dir.path().join("transcript.jsonl");
    let spec = AgentRunSpec {
        run: 1,
        parent: None,
        role: Role::Worker,
        model: "scripted".into(),
        provider: "scripted".into(),
        task: "implement",
        milestone: None,
        feature: None,
        round: None,
        system_prompt: "You are a worker.".repeat(40),
        user_prompt: "Implement the feature.".repeat(40),
        limits: AgentLimits::with_max_turns(TURNS + 1),
        seed: None,
        temperature: None,
    };
    let mut group = c.benchmark_group("harness");
    group.sample_size(20);
    group.bench_function("agent_turn_x50", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let context = AgentContext {
                    stop: None,
                    emitter: &emitter,
                    transcript_path: &transcript,
                    classify_path: &classify,
                    meter: &NoBudget,
                    price: None,
                    redactor: &Default::default(),
                };
                let result = run_agent(
                    &spec,
                    &mut Scripted { turn: 0 },
                    &mut Tools(tools.clone()),
                    &context,
                )
                .await;
                assert_eq!(result.turns, TURNS);
            })
        })
    });

    let out = tempfile::tempdir().expect("tempdir");
    group.sample_size(10);
    group.bench_function("mission_tiny_oracle_x2", |b| {
        b.iter(|| {
            let _ = std::fs::remove_dir_all(out.path().join("bench"));
            runtime
                .block_on(run_suite(&tiny_settings(out.path()), Vec::new()))
                .expect("run");
        })
    });

    // A filter that leaves out the mission bench leaves no run to fold: make one.
    if !out.path().join("bench/events.jsonl").exists() {
        runtime
            .block_on(run_suite(&tiny_settings(out.path()), Vec::new()))
            .expect("run");
    }
    let records = read_events(&out.path().join("bench/events.jsonl")).expect("events");
    let tables_dir = tempfile::tempdir().expect("tempdir");
    group.bench_function("fold_and_write_tiny_run", |b| {
        b.iter(|| {
            let tables = fold("bench", &records);
            write_tables(tables_dir.path(), &tables).expect("write");
        })
    });
    group.finish();
}

/// Harness CPU per agent turn over one oracle run of the tiny suite.
fn cpu_per_turn() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let out = tempfile::tempdir().expect("tempdir");
    let report = runtime
        .block_on(run_suite(&tiny_settings(out.path()), Vec::new()))
        .expect("run");
    let info = read_run_info(&report.dir).expect("run.json");
    let turns: u64 = report.tables.runs.iter().map(|r| u64::from(r.turns)).sum();
    let harness = info.harness_cpu_s.unwrap_or(0.0);
    let commands = info.commands_cpu_s.unwrap_or(0.0);
    println!(
        "oracle run of the tiny suite: {turns} turns; harness CPU {:.1} ms ({:.3} ms per turn); commands' CPU {:.1} ms",
        harness * 1000.0,
        harness * 1000.0 / turns.max(1) as f64,
        commands * 1000.0
    );
}

fn suite_lint(c: &mut Criterion) {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/core");
    let mut group = c.benchmark_group("suite");
    group.sample_size(20);
    group.bench_function("load_core_suite", |b| {
        b.iter(|| missions_bench::spec::suite::load_suite(&core).expect("core loads"))
    });
    group.bench_function("lint_core_suite", |b| {
        b.iter(|| {
            let lint = missions_bench::spec::lint::lint_suite(&core).expect("core lints");
            assert!(lint.is_clean());
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    cpu_per_turn();
    agent_turn(c);
    suite_lint(c);
}

criterion_group!(harness, benches);
criterion_main!(harness);
