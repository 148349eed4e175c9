//! Remote-model clients against a scripted server on 127.0.0.1 (no network, no real model):
//! - before the groups: the harness CPU per call (getrusage of the client thread alone, the
//!   server runs on other threads), and how many concurrent agent runs one process sustains when
//!   every call takes ~120 ms of "model time" (wall time of K agents x 5 turns against the ideal);
//! - `remote_call/{openai,anthropic}`: one call of a 40-message trajectory with a tool call in
//!   the reply, end to end through HTTP and SSE.

#[path = "../tests/it/http_server.rs"]
mod http_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;

use http_server::{anthropic, openai, Reply, ScriptedServer};
use missions_bench::mission::prompts::Prompts;
use missions_bench::mission::suite_run::cpu_seconds;
use missions_bench::model::remote::{ProxySettings, RemoteBackend, RemoteOptions};
use missions_bench::model::secret::Redactor;
use missions_bench::model::{
    AgentTask, ChatRequest, Message, ModelBackend, ModelInfo, SessionContext, ToolCall, ToolSpec,
};
use missions_bench::spec::config::{ModelConfig, Provider};
use missions_bench::spec::suite::load_suite;
use missions_bench::spec::Role;

/// Chunks of a slow reply and the pause before each: ~120 ms per call.
const SLOW_CHUNKS: usize = 12;
const SLOW_DELAY: Duration = Duration::from_millis(10);
const TURNS: usize = 5;

fn reply(provider: Provider, slow: bool) -> Reply {
    let mut reply = match provider {
        Provider::Anthropic => anthropic::tool_uses(
            "Running the tests.",
            &[(
                "toolu_1",
                "run_command",
                "{\"command\": \"python -m pytest -q\"}",
            )],
            json!({"input_tokens": 120, "cache_read_input_tokens": 9000, "cache_creation_input_tokens": 200, "output_tokens": 30}),
        ),
        _ => openai::tool_calls(
            "Running the tests.",
            &[("run_command", "{\"command\": \"python -m pytest -q\"}")],
            json!({"prompt_tokens": 9320, "completion_tokens": 30, "prompt_tokens_details": {"cached_tokens": 9000}}),
        ),
    };
    if slow {
        if let Reply::Stream { chunks, .. } = &mut reply {
            // Pad to a fixed number of chunks with SSE comments, which clients skip.
            while chunks.len() < SLOW_CHUNKS {
                chunks.insert(0, b": keep-alive\n\n".to_vec());
            }
        }
        if let Reply::Stream { delay, .. } = &mut reply {
            *delay = SLOW_DELAY;
        }
    }
    reply
}

/// A server on its own runtime and threads, so the client's cost can be measured alone.
struct ServerThread {
    base_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    fn start(provider: Provider, slow: bool) -> ServerThread {
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let server = ScriptedServer::start(move |_, _| reply(provider, slow)).await;
                url_tx.send(server.base_url()).expect("send url");
                let _ = stopped.await;
                drop(server);
            });
        });
        ServerThread {
            base_url: url_rx.recv().expect("server url"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn backend(provider: Provider, base_url: &str, concurrency: usize) -> RemoteBackend {
    let config = ModelConfig {
        provider,
        base_url: Some(base_url.to_string()),
        model: Some("bench".into()),
        max_concurrency: Some(concurrency),
        max_retries: Some(0),
        ..ModelConfig::default()
    };
    RemoteBackend::new(
        ModelInfo {
            name: "bench".into(),
            provider: provider.as_str(),
        },
        RemoteOptions::from_config("bench", &config, None).expect("options"),
        &ProxySettings::default(),
        Redactor::default(),
    )
    .expect("backend")
}

/// A worker's trajectory after 20 turns: its real system prompt, a feature, and 1 KB results.
fn trajectory() -> (Vec<Message>, Vec<ToolSpec>) {
    let mut messages = vec![
        Message::system(Prompts::embedded().get("worker")),
        Message::user("# Feature f1: Count words\n\nWrite wordfreq.py and its tests."),
    ];
    for turn in 0..19 {
        let call = ToolCall {
            id: format!("call_{turn}"),
            name: "run_command".into(),
            arguments: "{\"command\": \"python -m pytest -q\"}".into(),
            recovered: false,
        };
        messages.push(Message::assistant("Running the tests.", vec![call.clone()]));
        messages.push(Message::tool_result(&call, "F.".repeat(512), false));
    }
    let tools = ["read_file", "list_files", "search", "write_file", "edit_file", "run_command", "finish", "blocked"]
        .iter()
        .map(|name| ToolSpec {
            name: name.to_string(),
            description: format!("The {name} tool."),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}, "command": {"type": "string"}}}),
        })
        .collect();
    (messages, tools)
}

fn context() -> SessionContext {
    let suite = load_suite(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny"),
    )
    .expect("tiny suite");
    SessionContext {
        role: Role::Worker,
        task: AgentTask::Plan,
        mission: Arc::new(suite.missions[0].clone()),
        seed: 0,
    }
}

fn thread_cpu_seconds() -> f64 {
    cpu_seconds(libc::RUSAGE_THREAD)
}

/// Harness CPU per call: the client on a current-thread runtime on this thread.
fn cpu_per_call(provider: Provider, context: SessionContext) {
    let server = ServerThread::start(provider, false);
    let model = backend(provider, &server.base_url, 1);
    let (messages, tools) = trajectory();
    let body_bytes = serde_json::to_vec(&json!(messages
        .iter()
        .map(|m| &m.content)
        .collect::<Vec<_>>()))
    .map_or(0, |b| b.len());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let calls = 300;
    let (cpu, wall) = runtime.block_on(async {
        let mut session = model.start_session(context);
        for _ in 0..20 {
            session
                .complete(ChatRequest::new(&messages, &tools))
                .await
                .expect("warm-up");
        }
        let (cpu, wall) = (thread_cpu_seconds(), Instant::now());
        for _ in 0..calls {
            session
                .complete(ChatRequest::new(&messages, &tools))
                .await
                .expect("call");
        }
        (thread_cpu_seconds() - cpu, wall.elapsed())
    });
    println!(
        "{}: harness CPU {:.0} µs per call ({} calls, {} messages, ~{} KB of text per request; wall {:.0} µs per call with the server)",
        provider.as_str(),
        cpu * 1e6 / calls as f64,
        calls,
        messages.len(),
        body_bytes / 1024,
        wall.as_secs_f64() * 1e6 / calls as f64,
    );
}

/// The client's runtime: two workers, as on the 2-core machines these figures come from.
fn two_core_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// K agent runs of `TURNS` calls each, all at once, against ~120 ms calls.
fn concurrency_sweep(provider: Provider, context: &SessionContext) {
    let server = ServerThread::start(provider, true);
    let runtime = two_core_runtime();
    let (messages, tools) = trajectory();
    let (messages, tools) = (Arc::new(messages), Arc::new(tools));
    let ideal = SLOW_DELAY.as_secs_f64() * SLOW_CHUNKS as f64 * TURNS as f64;
    for agents in [1usize, 16, 64, 256, 512, 1024] {
        let model = Arc::new(backend(provider, &server.base_url, agents));
        let process_cpu = process_cpu_seconds();
        let started = Instant::now();
        let failures = runtime.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..agents {
                let (model, messages, tools) = (model.clone(), messages.clone(), tools.clone());
                let context = context.clone();
                tasks.push(tokio::spawn(async move {
                    let mut session = model.start_session(context);
                    let mut failed = 0;
                    for _ in 0..TURNS {
                        if session
                            .complete(ChatRequest::new(&messages, &tools))
                            .await
                            .is_err()
                        {
                            failed += 1;
                        }
                    }
                    failed
                }));
            }
            let mut failures = 0;
            for task in tasks {
                failures += task.await.unwrap_or(TURNS);
            }
            failures
        });
        let wall = started.elapsed().as_secs_f64();
        println!(
            "{}: {agents:>4} concurrent agent runs x {TURNS} calls: {wall:.2} s (ideal {ideal:.2} s, {:.0}% of ideal), {:.0} calls/s, {failures} failed, process CPU {:.2} s (client and server)",
            provider.as_str(),
            ideal * 100.0 / wall,
            (agents * TURNS) as f64 / wall,
            process_cpu_seconds() - process_cpu,
        );
    }
}

fn process_cpu_seconds() -> f64 {
    cpu_seconds(libc::RUSAGE_SELF)
}

fn bench(c: &mut Criterion) {
    let context = context();
    for provider in [Provider::Openai, Provider::Anthropic] {
        cpu_per_call(provider, context.clone());
    }
    for provider in [Provider::Openai, Provider::Anthropic] {
        concurrency_sweep(provider, &context);
    }
    let runtime = two_core_runtime();
    let (messages, tools) = trajectory();
    let mut group = c.benchmark_group("remote_call");
    group.sample_size(50);
    for provider in [Provider::Openai, Provider::Anthropic] {
        let server = ServerThread::start(provider, false);
        let model = backend(provider, &server.base_url, 4);
        group.bench_function(provider.as_str(), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let mut session = model.start_session(context.clone());
                    session
                        .complete(ChatRequest::new(&messages, &tools))
                        .await
                        .expect("call")
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
