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

/// The packed kernels against candle's quantized matmul on the real SmolLM2 (Q4_1 layers, Q8_0
/// tied embeddings): logits over a 512-token prompt of real text, and a 64-token greedy
/// continuation. Both quantize activations to 8 bits, in different blockings, so they agree
/// closely but not bit for bit.
#[test]
fn packed_kernels_match_candles_matmul_on_smollm2() {
    use candle_core::{Device, IndexOp};
    use missions_bench::model::local::gguf_tokenizer;
    use missions_bench::model::local::kernels::Kernels;
    use missions_bench::model::local::kv::KvCache;
    use missions_bench::model::local::load::GgufFile;

    let Some(path) = real_model("smollm2-135m") else {
        return;
    };
    let load = |kernels| {
        GgufFile::open(&path)
            .and_then(|file| file.load(&Device::Cpu, Some(2048), kernels))
            .expect("load")
    };
    let candle = load(None);
    let ours = load(Some(Kernels::detect()));
    assert_eq!(candle.kernel_summary(), "candle");
    let metadata = GgufFile::open(&path).expect("open");
    let tokenizer = gguf_tokenizer::tokenizer(metadata.metadata(), "smollm2").expect("tokenizer");
    let text = "def count_words(path):\n    \"\"\"Count the words of a file, case-insensitively.\"\"\"\n    counts = {}\n    with open(path) as handle:\n        for line in handle:\n            for word in line.lower().split():\n                counts[word] = counts.get(word, 0) + 1\n    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))\n\n";
    let unit = tokenizer
        .encode(text, false)
        .expect("encode")
        .get_ids()
        .to_vec();
    let prompt: Vec<u32> = unit.iter().copied().cycle().take(512).collect();

    let logits = |model: &missions_bench::model::local::transformer::Transformer| {
        let mut cache = KvCache::new(model.shape.num_layers);
        model.forward(&prompt, &mut cache, true).expect("forward")
    };
    let (reference, packed) = (logits(&candle), logits(&ours));
    let diff = (&packed - &reference).unwrap();
    let rms = |t: &candle_core::Tensor| {
        t.sqr()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .sqrt()
    };
    let relative = rms(&diff) / rms(&reference);
    let reference_top: Vec<u32> = reference.argmax(1).unwrap().to_vec1().unwrap();
    let packed_top: Vec<u32> = packed.argmax(1).unwrap().to_vec1().unwrap();
    let agree = reference_top
        .iter()
        .zip(&packed_top)
        .filter(|(a, b)| a == b)
        .count();
    println!(
        "512-token prompt: logits differ by {:.4} of their RMS; top-1 agrees at {agree} of 512 positions",
        relative
    );
    assert!(relative < 0.05, "logits differ by {relative} of their RMS");
    assert!(
        agree >= 500,
        "top-1 agrees at only {agree} of 512 positions"
    );

    // Greedy continuations from the first 256 tokens, with each step's logits.
    let greedy = |model: &missions_bench::model::local::transformer::Transformer| {
        let mut cache = KvCache::new(model.shape.num_layers);
        let mut last = model
            .forward(&prompt[..256], &mut cache, false)
            .expect("prefill");
        let mut steps = Vec::new();
        for _ in 0..64 {
            let logits: Vec<f32> = last.i(0).unwrap().to_vec1().unwrap();
            let next: u32 = last.i(0).unwrap().argmax(0).unwrap().to_scalar().unwrap();
            steps.push((next, logits));
            last = model.forward(&[next], &mut cache, false).expect("decode");
        }
        steps
    };
    let (reference, packed) = (greedy(&candle), greedy(&ours));
    let same = reference
        .iter()
        .zip(&packed)
        .take_while(|(a, b)| a.0 == b.0)
        .count();
    match (reference.get(same), packed.get(same)) {
        (Some((theirs, logits)), Some((mine, _))) => {
            // Where they part: how far apart the two choices were in the reference's logits.
            let gap = logits[*theirs as usize] - logits[*mine as usize];
            let spread = logits.iter().fold(f32::MIN, |m, &v| m.max(v))
                - logits.iter().fold(f32::MAX, |m, &v| m.min(v));
            println!(
                "greedy continuation: the first {same} of 64 tokens agree; at token {} candle's \
                 matmul picks {theirs} and the kernels {mine}, {gap:.3} apart in candle's logits \
                 (which span {spread:.1})",
                same + 1
            );
        }
        _ => println!("greedy continuation: all 64 tokens agree"),
    }
    assert!(
        same >= 16,
        "greedy continuations part at token {}",
        same + 1
    );
}

/// Each quantized type of each real file present, on one of its real matrices: every kernel path
/// this CPU supports against dequantize-then-multiply in f32 (within 1.5% of the output's
/// norm, the 8-bit activations' error) and against the portable path (within 1e-4).
#[test]
fn kernels_match_the_dequantized_reference_on_real_weights() {
    use candle_core::quantized::gguf_file;
    use candle_core::{Device, Tensor};
    use missions_bench::model::local::kernels::{
        relative_error as relative, KernelPath, Kernels, Layout, PackedMatrix,
    };

    for name in ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"] {
        let Some(path) = real_model(name) else {
            continue;
        };
        let mut file = std::fs::File::open(&path).expect("open");
        let content = gguf_file::Content::read(&mut file).expect("read");
        // The first block tensor of each type, in name order so that the choice is stable.
        let mut names: Vec<&String> = content.tensor_infos.keys().collect();
        names.sort();
        let mut seen = Vec::new();
        for tensor_name in names {
            let info = &content.tensor_infos[tensor_name];
            let Some(format) = PackedMatrix::format_of(info.ggml_dtype) else {
                continue;
            };
            if seen.contains(&format) || !tensor_name.starts_with("blk.") {
                continue;
            }
            seen.push(format);
            let q = content
                .tensor(&mut file, tensor_name, &Device::Cpu)
                .expect("tensor");
            let (rows, cols) = q.shape().dims2().expect("matrix");
            let dense = q.dequantize(&Device::Cpu).expect("dequantize");
            let m = 3;
            let x: Vec<f32> = (0..m * cols)
                .map(|i| ((i * 7919 % 2001) as f32 / 1000.0 - 1.0) * 0.5)
                .collect();
            let xt = Tensor::from_vec(x.clone(), (m, cols), &Device::Cpu).unwrap();
            let reference: Vec<f32> = xt
                .matmul(&dense.t().unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let portable = Kernels::new(KernelPath::Portable, 2).unwrap();
            let packed = PackedMatrix::from_qtensor(&q, Layout::Rows)
                .unwrap()
                .unwrap();
            let mut expected = vec![0f32; m * rows];
            packed.matmul(&portable, &x, m, &mut expected);
            let error = relative(&expected, &reference);
            println!(
                "{name} {tensor_name} ({}): portable within {error:.4}",
                format.name()
            );
            assert!(error < 0.015, "{name} {tensor_name}: {error}");
            for path in [KernelPath::Avx512Vnni, KernelPath::Avx2] {
                if !path.supported() {
                    continue;
                }
                let kernels = Kernels::new(path, 2).unwrap();
                let packed = PackedMatrix::from_qtensor(&q, kernels.layout())
                    .unwrap()
                    .unwrap();
                let mut out = vec![0f32; m * rows];
                packed.matmul(&kernels, &x, m, &mut out);
                let error = relative(&out, &expected);
                assert!(
                    error < 1e-4,
                    "{name} {tensor_name} {}: {error}",
                    path.name()
                );
            }
        }
    }
}
