//! Tiny random-weight models built on the spot, for tests and benches: a byte-level BPE
//! tokenizer trained here, a `config.json`, seeded weights as safetensors, and the same weights
//! as GGUF (F32, Q8_0 or K-quants) written with candle's writer. Nothing is downloaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use serde_json::json;
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use super::shape::Family;

/// Special tokens of the fixtures' tokenizer (ChatML plus Hermes tool-call markers).
pub const SPECIAL_TOKENS: [&str; 5] = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<tool_call>",
    "</tool_call>",
];

/// The dimensions of a fixture model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixtureShape {
    pub family: Family,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    /// Tokenizer vocabulary size to train (the model's vocabulary is at least this).
    pub vocab_size: usize,
    pub tie_word_embeddings: bool,
    pub rope_theta: f64,
}

impl FixtureShape {
    /// Hidden 64, intermediate 128, 2 layers, 4 heads over 2 KV heads: builds in milliseconds.
    pub fn tiny(family: Family) -> FixtureShape {
        FixtureShape {
            family,
            hidden_size: 64,
            intermediate_size: 128,
            num_layers: 2,
            num_heads: 4,
            num_kv_heads: 2,
            vocab_size: 512,
            tie_word_embeddings: family != Family::Llama,
            rope_theta: 10_000.0,
        }
    }

    /// Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads over 2 KV heads, intermediate
    /// 4864, vocabulary 151936), for benches with real memory traffic.
    pub fn qwen25_half_b() -> FixtureShape {
        FixtureShape {
            family: Family::Qwen2,
            hidden_size: 896,
            intermediate_size: 4864,
            num_layers: 24,
            num_heads: 14,
            num_kv_heads: 2,
            vocab_size: 151_936,
            tie_word_embeddings: true,
            rope_theta: 1_000_000.0,
        }
    }

    fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the fixture model: {0}")]
pub struct FixtureError(pub String);

fn err(e: impl ToString) -> FixtureError {
    FixtureError(e.to_string())
}

/// Text the tokenizer is trained on: the kind of text agent trajectories hold.
const CORPUS: &str = r#"You are a worker in a software mission. Implement the feature test-first.
<|im_start|>system
You may call one or more functions to assist with the user query.<|im_end|>
<|im_start|>user
Write wordfreq.py and its tests. Run python -m pytest -q tests/test_count.py<|im_end|>
<|im_start|>assistant
<tool_call>
{"name": "write_file", "arguments": {"path": "wordfreq.py", "content": "import sys\n\ndef main():\n    print('hello')\n"}}
</tool_call><|im_end|>
<|im_start|>user
<tool_response>
exit_code: 0
--- stdout ---
3 passed in 0.01s
--- stderr ---
</tool_response><|im_end|>
def count_words(text: str) -> dict[str, int]:
    counts = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    return counts
{"type": "function", "function": {"name": "read_file", "description": "Read a text file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}
"#;

/// Trains a byte-level BPE tokenizer of about `vocab_size` entries and writes `tokenizer.json`.
pub fn write_tokenizer(path: &Path, vocab_size: usize) -> Result<Tokenizer, FixtureError> {
    let special: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let trainer = BpeTrainer::builder()
        .vocab_size(vocab_size)
        .min_frequency(0)
        .show_progress(false)
        .special_tokens(special.clone())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer = Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    let lines: Vec<String> = CORPUS.lines().map(|l| format!("{l}\n")).collect();
    let mut trainer: tokenizers::models::TrainerWrapper = trainer.into();
    tokenizer
        .train(&mut trainer, lines.into_iter())
        .map_err(err)?;
    tokenizer.add_special_tokens(special.clone()).map_err(err)?;
    tokenizer.save(path, false).map_err(err)?;
    Ok(tokenizer)
}

/// A seeded generator, so fixture weights are the same on every run.
struct Rng(crate::rng::SplitMix);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [-scale, scale).
    fn weights(&mut self, count: usize, scale: f32) -> Vec<f32> {
        (0..count)
            .map(|_| ((self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale)
            .collect()
    }
}

/// HF-named weights of a model of `shape` with `vocab` rows, seeded.
fn weights(
    shape: &FixtureShape,
    vocab: usize,
    seed: u64,
) -> Result<HashMap<String, Tensor>, FixtureError> {
    let device = Device::Cpu;
    let mut rng = Rng(crate::rng::SplitMix::new(seed));
    let mut map = HashMap::new();
    let h = shape.hidden_size;
    let d = shape.head_dim();
    let q_out = shape.num_heads * d;
    let kv_out = shape.num_kv_heads * d;
    let matrix = |rng: &mut Rng,
                  name: String,
                  rows: usize,
                  cols: usize,
                  scale: f32,
                  map: &mut HashMap<String, Tensor>|
     -> Result<(), FixtureError> {
        let t = Tensor::from_vec(rng.weights(rows * cols, scale), (rows, cols), &device)
            .map_err(err)?;
        map.insert(name, t);
        Ok(())
    };
    let scale = (1.0 / h as f32).sqrt();
    matrix(
        &mut rng,
        "model.embed_tokens.weight".into(),
        vocab,
        h,
        0.5,
        &mut map,
    )?;
    for i in 0..shape.num_layers {
        let p = format!("model.layers.{i}");
        let i_size = shape.intermediate_size;
        let down_scale = (1.0 / i_size as f32).sqrt();
        for (name, rows, cols, scale) in [
            ("self_attn.q_proj", q_out, h, scale),
            ("self_attn.k_proj", kv_out, h, scale),
            ("self_attn.v_proj", kv_out, h, scale),
            ("self_attn.o_proj", h, q_out, scale),
            ("mlp.gate_proj", i_size, h, scale),
            ("mlp.up_proj", i_size, h, scale),
            ("mlp.down_proj", h, i_size, down_scale),
        ] {
            matrix(
                &mut rng,
                format!("{p}.{name}.weight"),
                rows,
                cols,
                scale,
                &mut map,
            )?;
        }
        if shape.family == Family::Qwen2 {
            for (name, size) in [("q_proj", q_out), ("k_proj", kv_out), ("v_proj", kv_out)] {
                let bias = Tensor::from_vec(rng.weights(size, 0.1), size, &device).map_err(err)?;
                map.insert(format!("{p}.self_attn.{name}.bias"), bias);
            }
        }
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            let values: Vec<f32> = rng.weights(h, 0.1).into_iter().map(|v| 1.0 + v).collect();
            map.insert(
                format!("{p}.{norm}.weight"),
                Tensor::from_vec(values, h, &device).map_err(err)?,
            );
        }
        if shape.family == Family::Qwen3 {
            for norm in ["q_norm", "k_norm"] {
                let values: Vec<f32> = rng.weights(d, 0.1).into_iter().map(|v| 1.0 + v).collect();
                map.insert(
                    format!("{p}.self_attn.{norm}.weight"),
                    Tensor::from_vec(values, d, &device).map_err(err)?,
                );
            }
        }
    }
    map.insert(
        "model.norm.weight".into(),
        Tensor::ones(h, candle_core::DType::F32, &device).map_err(err)?,
    );
    if !shape.tie_word_embeddings {
        matrix(&mut rng, "lm_head.weight".into(), vocab, h, scale, &mut map)?;
    }
    Ok(map)
}

fn architecture(family: Family) -> &'static str {
    match family {
        Family::Llama => "LlamaForCausalLM",
        Family::Qwen2 => "Qwen2ForCausalLM",
        Family::Qwen3 => "Qwen3ForCausalLM",
    }
}

/// A written fixture model.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The HF folder (config.json, tokenizer.json, tokenizer_config.json, model.safetensors).
    pub folder: PathBuf,
    pub vocab_size: usize,
    pub shape: FixtureShape,
    pub seed: u64,
}

/// Writes an HF folder for `shape` into `folder` (created), with weights from `seed`.
pub fn write_hf_folder(
    folder: &Path,
    shape: FixtureShape,
    seed: u64,
) -> Result<Fixture, FixtureError> {
    let fixture = write_model_description(folder, shape, seed)?;
    let tensors = weights(&shape, fixture.vocab_size, seed)?;
    candle_core::safetensors::save(&tensors, folder.join("model.safetensors")).map_err(err)?;
    Ok(fixture)
}

/// Writes everything of an HF folder but the weights: tokenizer, its config, config.json and
/// generation_config.json (enough to load a GGUF of the fixture).
pub fn write_model_description(
    folder: &Path,
    shape: FixtureShape,
    seed: u64,
) -> Result<Fixture, FixtureError> {
    std::fs::create_dir_all(folder).map_err(err)?;
    let tokenizer = write_tokenizer(&folder.join("tokenizer.json"), shape.vocab_size.min(2000))?;
    let vocab = tokenizer.get_vocab_size(true).max(shape.vocab_size);
    let token = |t: &str| tokenizer.token_to_id(t).unwrap_or(0);
    let config = json!({
        "architectures": [architecture(shape.family)],
        "model_type": shape.family.as_str(),
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.num_layers,
        "num_attention_heads": shape.num_heads,
        "num_key_value_heads": shape.num_kv_heads,
        "head_dim": shape.head_dim(),
        "vocab_size": vocab,
        "rms_norm_eps": 1e-6,
        "rope_theta": shape.rope_theta,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": shape.tie_word_embeddings,
        "bos_token_id": token("<|endoftext|>"),
        "eos_token_id": token("<|im_end|>"),
        "torch_dtype": "float32",
    });
    let write_json = |name: &str, value: &serde_json::Value| {
        std::fs::write(
            folder.join(name),
            serde_json::to_string_pretty(value).map_err(err)?,
        )
        .map_err(err)
    };
    write_json("config.json", &config)?;
    write_json(
        "generation_config.json",
        &json!({"eos_token_id": [token("<|im_end|>"), token("<|endoftext|>")]}),
    )?;
    // No chat_template: the engine falls back to its built-in ChatML, as for real models without one.
    write_json(
        "tokenizer_config.json",
        &json!({"eos_token": "<|im_end|>", "bos_token": null, "pad_token": "<|endoftext|>", "model_max_length": 32768}),
    )?;
    Ok(Fixture {
        folder: folder.to_path_buf(),
        vocab_size: vocab,
        shape,
        seed,
    })
}

/// Rows of a q or k projection reordered as llama.cpp's converter does for `llama` GGUFs, so
/// that the interleaved rotary layout computes the same as HF's half layout.
fn permute_for_interleaved(weight: &Tensor, heads: usize) -> Result<Tensor, FixtureError> {
    let (rows, cols) = weight.dims2().map_err(err)?;
    let d = rows / heads;
    weight
        .reshape((heads, 2, d / 2, cols))
        .and_then(|t| t.transpose(1, 2))
        .and_then(|t| t.contiguous())
        .and_then(|t| t.reshape((rows, cols)))
        .map_err(err)
}

/// Writes the fixture's weights as a GGUF file: projections and embeddings in `dtype`, norms
/// and biases in F32. K-quants need widths divisible by 256, Q8_0 by 32.
pub fn write_gguf(
    fixture: &Fixture,
    path: &Path,
    dtype: GgmlDType,
) -> Result<PathBuf, FixtureError> {
    let shape = &fixture.shape;
    let tensors = weights(shape, fixture.vocab_size, fixture.seed)?;
    let arch = shape.family.as_str();
    let rename = |hf: &str| -> String {
        let hf = hf
            .strip_suffix(".weight")
            .map(|s| (s, ".weight"))
            .or_else(|| hf.strip_suffix(".bias").map(|s| (s, ".bias")));
        let Some((base, suffix)) = hf else {
            return String::new();
        };
        let mapped = match base {
            "model.embed_tokens" => "token_embd".to_string(),
            "model.norm" => "output_norm".to_string(),
            "lm_head" => "output".to_string(),
            other => {
                let rest = other.strip_prefix("model.layers.").unwrap_or(other);
                let (layer, part) = rest.split_once('.').unwrap_or((rest, ""));
                let part = match part {
                    "input_layernorm" => "attn_norm",
                    "post_attention_layernorm" => "ffn_norm",
                    "self_attn.q_proj" => "attn_q",
                    "self_attn.k_proj" => "attn_k",
                    "self_attn.v_proj" => "attn_v",
                    "self_attn.o_proj" => "attn_output",
                    "self_attn.q_norm" => "attn_q_norm",
                    "self_attn.k_norm" => "attn_k_norm",
                    "mlp.gate_proj" => "ffn_gate",
                    "mlp.up_proj" => "ffn_up",
                    _ => "ffn_down",
                };
                format!("blk.{layer}.{part}")
            }
        };
        format!("{mapped}{suffix}")
    };
    let mut quantized: Vec<(String, QTensor)> = Vec::new();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for hf in names {
        let mut tensor = tensors[hf].clone();
        if shape.family == Family::Llama {
            if hf.ends_with("q_proj.weight") {
                tensor = permute_for_interleaved(&tensor, shape.num_heads)?;
            } else if hf.ends_with("k_proj.weight") {
                tensor = permute_for_interleaved(&tensor, shape.num_kv_heads)?;
            }
        }
        let kind = match tensor.dims() {
            // K-quants pack 256 values a block; like llama.cpp, rows of another width fall back
            // to Q8_0 (Qwen2.5-0.5B's 896-wide projections, for one).
            [_, cols] if cols % dtype.block_size() != 0 => GgmlDType::Q8_0,
            [_, _] => dtype,
            _ => GgmlDType::F32,
        };
        quantized.push((rename(hf), QTensor::quantize(&tensor, kind).map_err(err)?));
    }
    let tokenizer = Tokenizer::from_file(fixture.folder.join("tokenizer.json")).map_err(err)?;
    let eos = tokenizer.token_to_id("<|im_end|>").unwrap_or(0);
    let u32_value = |v: usize| gguf_file::Value::U32(v as u32);
    let metadata: Vec<(String, gguf_file::Value)> = vec![
        (
            "general.architecture".into(),
            gguf_file::Value::String(arch.into()),
        ),
        (format!("{arch}.block_count"), u32_value(shape.num_layers)),
        (
            format!("{arch}.embedding_length"),
            u32_value(shape.hidden_size),
        ),
        (
            format!("{arch}.feed_forward_length"),
            u32_value(shape.intermediate_size),
        ),
        (
            format!("{arch}.attention.head_count"),
            u32_value(shape.num_heads),
        ),
        (
            format!("{arch}.attention.head_count_kv"),
            u32_value(shape.num_kv_heads),
        ),
        (
            format!("{arch}.attention.key_length"),
            u32_value(shape.head_dim()),
        ),
        (
            format!("{arch}.attention.layer_norm_rms_epsilon"),
            gguf_file::Value::F32(1e-6),
        ),
        (
            format!("{arch}.rope.freq_base"),
            gguf_file::Value::F32(shape.rope_theta as f32),
        ),
        (format!("{arch}.context_length"), u32_value(32768)),
        (
            "tokenizer.ggml.eos_token_id".into(),
            u32_value(eos as usize),
        ),
    ];
    let metadata_refs: Vec<(&str, &gguf_file::Value)> =
        metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> =
        quantized.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).map_err(err)?;
    gguf_file::write(&mut file, &metadata_refs, &tensor_refs).map_err(err)?;
    Ok(path.to_path_buf())
}
