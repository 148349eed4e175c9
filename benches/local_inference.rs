//! Local inference on random-weight models with real shapes (Qwen2.5-0.5B: hidden 896, 24
//! layers, 14 heads over 2 KV heads, intermediate 4864, vocabulary 151936), side by side in one
//! run:
//! - `decode_16_at_{256,3000}`: 16 decode steps after a 256- or 3,000-token context;
//! - `turn_cached_3000` / `turn_uncached_3000`: one agent turn at a 3,000-token context (a
//!   64-token tool result appended, 16 tokens generated) with the prefix cache, and the same turn
//!   recomputed from scratch;
//! - before the groups: the cache-read share of input tokens over a 20-turn trajectory through the
//!   engine, and load time / memory of each model.
//!
//! - `constraint_tiny/{unconstrained,constrained}_per_token`: the time of one generated token of a
//!   worker turn on the tiny fixture model (where the constraint's share is largest), without
//!   and with constrained tool calls; `constraint_tiny/accepts_whole_vocabulary` checks every
//!   token of the vocabulary against a call in progress (what a sampler scanning the
//!   vocabulary pays at worst per token).
//!
//! `cargo bench --bench local_inference -- side-by-side` instead measures the real GGUF models
//! of `../shared/models/fetch.sh` against llama.cpp's `llama-bench` (see [`side_by_side`]).
//!
//! Q8_0 runs every group; Q4_K (rows not divisible by 256 fall back to Q8_0, as in llama.cpp)
//! runs decode at 256 and the cached turn.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::Device;

use candle_core::quantized::GgmlDType;
use criterion::{criterion_group, Criterion};

use missions_bench::mission::prompts::Prompts;
use missions_bench::model::local::constrain::ReplyConstraint;
use missions_bench::model::local::engine::LocalEngine;
use missions_bench::model::local::fixtures::{
    write_gguf, write_hf_folder, write_model_description, FixtureShape,
};
use missions_bench::model::local::kernels::{KernelPath, Kernels};
use missions_bench::model::local::kv::KvCache;
use missions_bench::model::local::load::GgufFile;
use missions_bench::model::local::shape::Family;
use missions_bench::model::local::speed::{ids, measure, LlamaBench};
use missions_bench::model::local::toolcall::ToolCallFormat;
use missions_bench::model::local::transformer::Transformer;
use missions_bench::model::local::{resident_bytes, CandleBackend};
use missions_bench::model::{ChatRequest, Message, ModelBackend, ModelInfo, ToolCall};
use missions_bench::spec::config::ModelConfig;
use missions_bench::spec::Provider;

const CONTEXT: usize = 3000;
const NEW_TOKENS: usize = 64;
const DECODE: usize = 16;

fn prefill(model: &Transformer, cache: &mut KvCache, tokens: &[u32]) {
    for chunk in tokens.chunks(512) {
        model.forward(chunk, cache, false).expect("prefill");
    }
}

fn decode(model: &Transformer, cache: &mut KvCache, steps: usize) {
    for step in 0..steps {
        model
            .forward(&[(step * 31 % 500) as u32], cache, false)
            .expect("decode");
    }
}

/// The cache-read share of input tokens over a 20-turn worker trajectory, with the worker's real
/// system prompt and tools and tool results shaped like the harness's own.
fn trajectory_share(engine: &LocalEngine) -> (u64, u64, u64, Duration) {
    let tools = missions_bench::mission::worker_tools();
    let feature = "# Feature f1: Count words\n\nMilestone m1: Counting\n\nWrite wordfreq.py: read a file (or stdin), count words case-insensitively and print `word count` lines, most frequent first, ties alphabetical. Exit 2 with a message on a missing file.\n\n## Assertions this feature makes true\n\n- **A1** (milestone m1, verify: command): counting a file prints one line per word\n  - command: `python wordfreq.py samples/fox.txt` -> exit 0, stdout contains `the 2`\n\n## Test command\n\n`python -m pytest -q tests/test_count.py`\n\n# Library\n\nPython 3.11, standard library only. Tests live in tests/ and use pytest.\n";
    let mut messages = vec![
        Message::system(Prompts::embedded().get("worker")),
        Message::user(feature),
    ];
    let mut trajectory = engine.new_trajectory(0);
    let (mut input, mut cached, mut first) = (0, 0, 0);
    let started = Instant::now();
    for turn in 0..20 {
        let request = ChatRequest {
            messages: &messages,
            tools: &tools,
            max_output_tokens: None,
            on_retry: None,
        };
        let response = engine.complete(&mut trajectory, &request).expect("turn");
        input += response.usage.input_tokens.unwrap_or(0);
        if turn == 0 {
            first = response.usage.input_tokens.unwrap_or(0);
        }
        cached += response.usage.cache_read_tokens.unwrap_or(0);
        let call = ToolCall {
            id: format!("c{turn}"),
            name: "run_command".into(),
            arguments: "{\"command\": \"python -m pytest -q tests/test_count.py\"}".into(),
            recovered: false,
        };
        messages.push(Message::assistant(response.text, vec![call.clone()]));
        let observation = format!("exit_code: 1\n--- stdout ---\nF.                                                                       [100%]\nFAILED tests/test_count.py::test_counts_words - assert {turn} == 2\n1 failed, 1 passed in 0.02s\n--- stderr ---\n");
        messages.push(Message::tool_result(&call, observation, false));
    }
    (cached, input, first, started.elapsed())
}

fn load(label: &str, dtype: GgmlDType, dir: &std::path::Path) -> CandleBackend {
    let shape = FixtureShape::qwen25_half_b();
    let started = Instant::now();
    let fixture = write_model_description(&dir.join("model"), shape, 42).expect("fixture");
    let path = write_gguf(
        &fixture,
        &dir.join(format!("qwen25-05b-{label}.gguf")),
        dtype,
    )
    .expect("gguf");
    println!(
        "{label}: wrote {:.0} MB of random weights in {:.1} s",
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let config = ModelConfig {
        provider: Provider::Candle,
        path: Some(path.display().to_string()),
        tokenizer: Some(fixture.folder.join("tokenizer.json").display().to_string()),
        max_new_tokens: Some(DECODE),
        max_context: Some(16384),
        share_prefixes: Some(false),
        ..ModelConfig::default()
    };
    let before = resident_bytes();
    let backend = CandleBackend::load(
        ModelInfo {
            name: label.into(),
            provider: "candle",
        },
        &config,
    )
    .expect("load");
    let stats = backend.stats();
    println!(
        "{label}: loaded in {:.0} ms, +{:.0} MiB resident (process now {:.0} MiB; {})",
        stats.load_ms.unwrap_or(0.0),
        stats.resident_bytes.unwrap_or(0) as f64 / 1048576.0,
        resident_bytes().max(before) as f64 / 1048576.0,
        stats.detail
    );
    backend
}

fn bench_model(c: &mut Criterion, label: &str, dtype: GgmlDType, full: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = load(label, dtype, dir.path());
    let engine = backend.engine();
    let (cached, input, first, took) = trajectory_share(engine);
    println!(
        "{label}: 20-turn trajectory: {cached} of {input} input tokens read from the cache ({:.1}%); turns 2-20 after the cold first prompt of {first} tokens: {:.1}%; {:.1} s",
        cached as f64 * 100.0 / input.max(1) as f64,
        cached as f64 * 100.0 / (input - first).max(1) as f64,
        took.as_secs_f64()
    );
    let model = &engine.transformer;
    let vocab = model.shape.vocab_size.min(500);
    let context = ids(vocab, CONTEXT, 1);
    let appended = ids(vocab, NEW_TOKENS, 2);
    let mut cache = KvCache::new(model.shape.num_layers);
    let started = Instant::now();
    prefill(model, &mut cache, &context);
    println!(
        "{label}: prefill of {CONTEXT} tokens took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut group = c.benchmark_group(format!("local_{label}"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("decode_16_at_256", |b| {
        b.iter(|| {
            cache.truncate(256);
            decode(model, &mut cache, DECODE);
        })
    });
    if full {
        group.bench_function("decode_16_at_3000", |b| {
            b.iter(|| {
                cache.truncate(CONTEXT);
                decode(model, &mut cache, DECODE);
            })
        });
    }
    // Truncating to 256 dropped positions 256..3000: rebuild them once, outside the timing.
    cache.truncate(256);
    prefill(model, &mut cache, &context[256..]);
    group.bench_function("turn_cached_3000", |b| {
        b.iter(|| {
            cache.truncate(CONTEXT);
            prefill(model, &mut cache, &appended);
            decode(model, &mut cache, DECODE);
        })
    });
    if full {
        let mut whole = context.clone();
        whole.extend(&appended);
        group.bench_function("turn_uncached_3000", |b| {
            b.iter(|| {
                let mut fresh = KvCache::new(model.shape.num_layers);
                prefill(model, &mut fresh, &whole);
                decode(model, &mut fresh, DECODE);
            })
        });
    }
    group.finish();
}

/// One generated token's time in worker turns of the tiny model, with or without constraint.
fn bench_constraint(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = write_hf_folder(
        &dir.path().join("tiny"),
        FixtureShape::tiny(Family::Qwen2),
        7,
    )
    .expect("fixture");
    let tools = missions_bench::mission::worker_tools();
    let messages = vec![
        Message::system(Prompts::embedded().get("worker")),
        Message::user("# Feature f1: Count words\n\nWrite wordfreq.py."),
    ];
    let mut group = c.benchmark_group("constraint_tiny");
    group.sample_size(10);
    for constrained in [false, true] {
        let config = ModelConfig {
            provider: Provider::Candle,
            path: Some(fixture.folder.display().to_string()),
            max_new_tokens: Some(NEW_TOKENS),
            share_prefixes: Some(false),
            temperature: Some(0.7),
            constrained_tool_calls: Some(constrained),
            ..ModelConfig::default()
        };
        let backend = CandleBackend::load(
            ModelInfo {
                name: "tiny".into(),
                provider: "candle",
            },
            &config,
        )
        .expect("load");
        let engine = backend.engine();
        let request = ChatRequest {
            messages: &messages,
            tools: &tools,
            max_output_tokens: None,
            on_retry: None,
        };
        let name = if constrained {
            "constrained_per_token"
        } else {
            "unconstrained_per_token"
        };
        let mut seed = 0;
        // Replies differ in length: the time reported is per generated token, decode only.
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut decode = Duration::ZERO;
                let mut tokens = 0u32;
                for _ in 0..iters.max(1) {
                    seed += 1;
                    let mut trajectory = engine.new_trajectory(seed);
                    let response = engine.complete(&mut trajectory, &request).expect("turn");
                    let decode_ms = response
                        .usage
                        .raw
                        .as_ref()
                        .and_then(|r| r["decode_ms"].as_f64());
                    decode += Duration::from_secs_f64(decode_ms.unwrap_or(0.0) / 1000.0);
                    tokens += response.usage.output_tokens.unwrap_or(1).max(1) as u32;
                }
                decode * iters.max(1) as u32 / tokens.max(1)
            })
        });
    }
    let tokenizer =
        tokenizers::Tokenizer::from_file(fixture.folder.join("tokenizer.json")).expect("tokenizer");
    let texts: Vec<String> = (0..tokenizer.get_vocab_size(true) as u32)
        .map(|id| tokenizer.decode(&[id], false).unwrap_or_default())
        .collect();
    let mut constraint = ReplyConstraint::new(ToolCallFormat::Hermes, &tools, NEW_TOKENS * 4);
    for piece in [
        "I will write it.\n<tool_call>",
        "write_file",
        "{\"path\": \"wordfreq.py\", \"content\": \"import sys",
    ] {
        constraint.push(piece);
        constraint.take_forced();
    }
    group.bench_function("accepts_whole_vocabulary", |b| {
        b.iter(|| texts.iter().filter(|t| constraint.accepts(t)).count())
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_constraint(c);
    bench_model(c, "q8_0", GgmlDType::Q8_0, true);
    bench_model(c, "q4_k", GgmlDType::Q4K, false);
}

/// The real models `../shared/models/fetch.sh` assembles, by folder name.
const REAL_MODELS: [&str; 3] = ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"];
const THREADS: usize = 2;
const DEPTHS: [usize; 2] = [0, 3000];
/// Measurements of each engine per cell, alternating: ours, llama.cpp, ours, llama.cpp.
const ROUNDS: usize = 2;

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
}

fn load_real(path: &Path, kernels: Option<Arc<Kernels>>) -> Transformer {
    GgufFile::open(path)
        .and_then(|file| file.load(&Device::Cpu, Some(4096), kernels))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Read bandwidth of this machine on `threads` threads: each sums its share of a 1 GiB buffer,
/// best of three passes, in GB/s.
fn read_bandwidth(threads: usize) -> f64 {
    let words = (1usize << 30) / 8;
    let buffer: Vec<u64> = (0..words as u64).collect();
    let mut best = 0f64;
    for _ in 0..3 {
        let started = Instant::now();
        let total: u64 = std::thread::scope(|scope| {
            buffer
                .chunks(words.div_ceil(threads))
                .map(|part| scope.spawn(move || part.iter().fold(0u64, |a, &b| a.wrapping_add(b))))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().expect("reader"))
                .fold(0u64, u64::wrapping_add)
        });
        std::hint::black_box(total);
        best = best.max((words * 8) as f64 / started.elapsed().as_secs_f64() / 1e9);
    }
    best
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// `cargo bench --bench local_inference -- side-by-side`: our engine and llama.cpp's
/// `llama-bench` on each real model present, same file, same machine, same threads, alternating,
/// at each depth; then our kernel paths against candle's matmul at depth 0 (the ablation).
fn side_by_side() {
    let models_dir = home().join(".cache/missions-bench/models");
    let models: Vec<(&str, PathBuf)> = REAL_MODELS
        .iter()
        .map(|name| (*name, models_dir.join(name).join("model.gguf")))
        .filter(|(_, path)| path.is_file())
        .collect();
    if models.is_empty() {
        println!(
            "no real models under {}: run ../shared/models/fetch.sh first",
            models_dir.display()
        );
        return;
    }
    let mut candidates = vec![home().join(".cache/missions-bench/llama.cpp/bin/llama-bench")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("llama-bench")));
    }
    let llama = LlamaBench::find(&candidates);
    match &llama {
        Some(llama) => println!("llama.cpp: {}", llama.program.display()),
        None => println!(
            "llama-bench not found (looked in ~/.cache/missions-bench/llama.cpp/bin and PATH; \
             ../shared/tools/build-llama-cpp.sh builds it): our figures alone"
        ),
    }
    let path = KernelPath::detect();
    let kernels = Kernels::new(path, THREADS).expect("kernels");
    println!(
        "kernels: {}, {THREADS} threads; prefill 256 tokens and decode 64 after each depth\n",
        path.name()
    );
    let bandwidth = read_bandwidth(THREADS);
    println!("read bandwidth: {bandwidth:.1} GB/s on {THREADS} threads (decode share: bytes read per token × tokens/s over it)\n");
    println!("| model | context | llama.cpp prefill | ours prefill | ratio | llama.cpp decode | ours decode | ratio | ours, share of bandwidth |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, file) in &models {
        let ours_model = load_real(file, Some(kernels.clone()));
        for depth in DEPTHS {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                ours.push(measure(&ours_model, depth, 256, 64).expect("measure"));
                if let Some(llama) = &llama {
                    match llama.run(file, THREADS, depth, 256, 64, 1) {
                        Ok(point) => theirs.push(point),
                        Err(e) => println!("llama-bench on {name}: {e}"),
                    }
                }
            }
            let ours_prefill = mean(
                &ours
                    .iter()
                    .map(|p| p.prefill_tokens_per_s)
                    .collect::<Vec<_>>(),
            );
            let ours_decode = mean(
                &ours
                    .iter()
                    .map(|p| p.decode_tokens_per_s)
                    .collect::<Vec<_>>(),
            );
            let cell = |value: f64| {
                if theirs.is_empty() {
                    "-".to_string()
                } else {
                    format!("{value:.1}")
                }
            };
            let ratio = |a: f64, b: f64| {
                if theirs.is_empty() {
                    "-".to_string()
                } else {
                    format!("{:.2}x", a / b)
                }
            };
            let their_prefill = mean(
                &theirs
                    .iter()
                    .map(|p| p.prefill_tokens_per_s)
                    .collect::<Vec<_>>(),
            );
            let their_decode = mean(
                &theirs
                    .iter()
                    .map(|p| p.decode_tokens_per_s)
                    .collect::<Vec<_>>(),
            );
            let share =
                ours_model.bytes_read_per_token(depth) as f64 * ours_decode / 1e9 / bandwidth;
            println!(
                "| {name} | {depth} | {} | {ours_prefill:.1} | {} | {} | {ours_decode:.1} | {} | {:.0}% |",
                cell(their_prefill),
                ratio(ours_prefill, their_prefill),
                cell(their_decode),
                ratio(ours_decode, their_decode),
                share * 100.0,
            );
        }
    }
    println!("\nablation at depth 0 (prefill / decode tokens/s):\n");
    println!("| model | candle's matmul | own kernels, avx2 | own kernels, avx512vnni |");
    println!("|---|---|---|---|");
    for (name, file) in &models {
        let mut cells = Vec::new();
        for choice in [None, Some(KernelPath::Avx2), Some(KernelPath::Avx512Vnni)] {
            let kernels = match choice {
                None => None,
                Some(path) if path.supported() => {
                    Some(Kernels::new(path, THREADS).expect("kernels"))
                }
                Some(_) => {
                    cells.push("not on this CPU".to_string());
                    continue;
                }
            };
            let model = load_real(file, kernels);
            let point = measure(&model, 0, 256, 64).expect("measure");
            cells.push(format!(
                "{:.1} / {:.1}",
                point.prefill_tokens_per_s, point.decode_tokens_per_s
            ));
        }
        println!("| {name} | {} |", cells.join(" | "));
    }
}

criterion_group!(local_inference, benches);

fn main() {
    if std::env::args().any(|a| a == "side-by-side") {
        side_by_side();
        return;
    }
    local_inference();
    Criterion::default().configure_from_args().final_summary();
}
