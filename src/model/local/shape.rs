//! The shape of a decoder-only transformer, read from an HF `config.json` or from GGUF metadata,
//! for the families missions-bench runs in-process: Llama 3.x style (SmolLM2 included), Qwen2 /
//! Qwen2.5 and Qwen3.

use std::collections::HashMap;

use candle_core::quantized::gguf_file;
use serde::Deserialize;

/// Which layer variant a family uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// No biases, no per-head norms.
    Llama,
    /// Biases on the q, k and v projections.
    Qwen2,
    /// RMS norms on q and k per head, no biases.
    Qwen3,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
        }
    }
}

/// Llama 3 style frequency scaling of the rotary embedding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelShape {
    pub family: Family,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Option<Llama3Scaling>,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// Token ids that end generation, from the config (more may come from the template).
    pub eos_token_ids: Vec<u32>,
    pub bos_token_id: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

/// `eos_token_id` and friends are a number or a list of numbers.
fn token_ids(value: Option<&serde_json::Value>) -> Vec<u32> {
    match value {
        Some(serde_json::Value::Number(n)) => n.as_u64().map(|id| id as u32).into_iter().collect(),
        Some(serde_json::Value::Array(ids)) => ids
            .iter()
            .filter_map(|v| v.as_u64())
            .map(|id| id as u32)
            .collect(),
        _ => Vec::new(),
    }
}

/// The keys of `config.json` we read. Other keys are many and model-specific, so they are
/// tolerated (this file is written by model publishers, not by users).
#[derive(Debug, Deserialize)]
struct HfConfig {
    #[serde(default)]
    architectures: Vec<String>,
    model_type: Option<String>,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    vocab_size: usize,
    #[serde(default = "default_eps")]
    rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    rope_theta: f64,
    rope_scaling: Option<serde_json::Value>,
    #[serde(default = "default_max_positions")]
    max_position_embeddings: usize,
    #[serde(default)]
    tie_word_embeddings: bool,
    eos_token_id: Option<serde_json::Value>,
    bos_token_id: Option<serde_json::Value>,
    attention_bias: Option<bool>,
}

fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10_000.0
}
fn default_max_positions() -> usize {
    4096
}

fn family_of(names: &[&str]) -> Result<Family, ShapeError> {
    for name in names {
        let name = name.to_lowercase();
        if name.contains("qwen3") {
            return Ok(Family::Qwen3);
        }
        if name.contains("qwen2") {
            return Ok(Family::Qwen2);
        }
        if name.contains("llama") || name.contains("mistral") {
            return Ok(Family::Llama);
        }
    }
    Err(ShapeError(format!(
        "unsupported architecture {}; supported: llama (Llama 3.x, SmolLM2), qwen2 (Qwen2, Qwen2.5), qwen3",
        if names.is_empty() {
            "(none named)".to_string()
        } else {
            names
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    )))
}

fn llama3_scaling(value: &serde_json::Value) -> Option<Llama3Scaling> {
    let kind = value
        .get("rope_type")
        .or_else(|| value.get("type"))
        .and_then(|v| v.as_str())?;
    if kind != "llama3" {
        return None;
    }
    Some(Llama3Scaling {
        factor: value.get("factor")?.as_f64()?,
        low_freq_factor: value.get("low_freq_factor")?.as_f64()?,
        high_freq_factor: value.get("high_freq_factor")?.as_f64()?,
        original_max_position_embeddings: value.get("original_max_position_embeddings")?.as_u64()?
            as usize,
    })
}

impl ModelShape {
    /// From `config.json` (and `generation_config.json`, whose `eos_token_id` wins when present).
    pub fn from_hf_config(
        config: &str,
        generation_config: Option<&str>,
    ) -> Result<ModelShape, ShapeError> {
        let config: HfConfig =
            serde_json::from_str(config).map_err(|e| ShapeError(format!("config.json: {e}")))?;
        let mut names: Vec<&str> = config.architectures.iter().map(String::as_str).collect();
        names.extend(config.model_type.as_deref());
        let family = family_of(&names)?;
        if let Some(scaling) = &config.rope_scaling {
            let kind = scaling
                .get("rope_type")
                .or_else(|| scaling.get("type"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            if !matches!(kind, "llama3" | "default" | "") {
                return Err(ShapeError(format!(
                    "config.json: rope_scaling type `{kind}` is not supported"
                )));
            }
        }
        if family == Family::Llama && config.attention_bias == Some(true) {
            return Err(ShapeError(
                "config.json: attention_bias = true is not supported for llama models".into(),
            ));
        }
        let mut eos = token_ids(config.eos_token_id.as_ref());
        if let Some(generation) = generation_config {
            let value: serde_json::Value = serde_json::from_str(generation)
                .map_err(|e| ShapeError(format!("generation_config.json: {e}")))?;
            for id in token_ids(value.get("eos_token_id")) {
                if !eos.contains(&id) {
                    eos.push(id);
                }
            }
        }
        let num_heads = config.num_attention_heads;
        let shape = ModelShape {
            family,
            hidden_size: config.hidden_size,
            intermediate_size: config.intermediate_size,
            num_layers: config.num_hidden_layers,
            num_heads,
            num_kv_heads: config.num_key_value_heads.unwrap_or(num_heads),
            head_dim: config
                .head_dim
                .unwrap_or(config.hidden_size / num_heads.max(1)),
            vocab_size: config.vocab_size,
            rms_norm_eps: config.rms_norm_eps,
            rope_theta: config.rope_theta,
            rope_scaling: config.rope_scaling.as_ref().and_then(llama3_scaling),
            max_position_embeddings: config.max_position_embeddings,
            tie_word_embeddings: config.tie_word_embeddings,
            eos_token_ids: eos,
            bos_token_id: token_ids(config.bos_token_id.as_ref()).first().copied(),
        };
        shape.check()?;
        Ok(shape)
    }

    /// From GGUF metadata (`general.architecture` and `<arch>.*` keys); `vocab_size` from the
    /// embedding tensor.
    pub fn from_gguf(
        metadata: &HashMap<String, gguf_file::Value>,
        vocab_size: usize,
        has_output: bool,
    ) -> Result<ModelShape, ShapeError> {
        let get = |key: &str| {
            metadata
                .get(key)
                .ok_or_else(|| ShapeError(format!("GGUF metadata has no `{key}`")))
        };
        let arch = get("general.architecture")?
            .to_string()
            .map_err(|e| ShapeError(e.to_string()))?
            .clone();
        let family = family_of(&[arch.as_str()])?;
        let number = |key: &str| -> Result<usize, ShapeError> {
            let value = get(&format!("{arch}.{key}"))?;
            value
                .to_u64()
                .or_else(|_| value.to_u32().map(u64::from))
                .or_else(|_| value.to_i32().map(|v| v.max(0) as u64))
                .map(|v| v as usize)
                .map_err(|e| ShapeError(format!("GGUF `{arch}.{key}`: {e}")))
        };
        let float = |key: &str, default: f64| -> f64 {
            metadata
                .get(&format!("{arch}.{key}"))
                .and_then(|v| v.to_f32().ok().map(f64::from).or_else(|| v.to_f64().ok()))
                .unwrap_or(default)
        };
        let hidden_size = number("embedding_length")?;
        let num_heads = number("attention.head_count")?;
        let num_kv_heads = number("attention.head_count_kv").unwrap_or(num_heads);
        let head_dim = number("attention.key_length").unwrap_or(hidden_size / num_heads.max(1));
        let token_id = |key: &str| metadata.get(key).and_then(|v| v.to_u32().ok());
        let shape = ModelShape {
            family,
            hidden_size,
            intermediate_size: number("feed_forward_length")?,
            num_layers: number("block_count")?,
            num_heads,
            num_kv_heads,
            head_dim,
            vocab_size,
            rms_norm_eps: float("attention.layer_norm_rms_epsilon", 1e-6),
            rope_theta: float("rope.freq_base", 10_000.0),
            rope_scaling: None,
            max_position_embeddings: number("context_length").unwrap_or(4096),
            tie_word_embeddings: !has_output,
            eos_token_ids: token_id("tokenizer.ggml.eos_token_id")
                .into_iter()
                .collect(),
            bos_token_id: token_id("tokenizer.ggml.bos_token_id"),
        };
        shape.check()?;
        Ok(shape)
    }

    fn check(&self) -> Result<(), ShapeError> {
        if self.num_heads == 0
            || self.num_kv_heads == 0
            || !self.num_heads.is_multiple_of(self.num_kv_heads)
        {
            return Err(ShapeError(format!(
                "{} attention heads cannot be grouped over {} key/value heads",
                self.num_heads, self.num_kv_heads
            )));
        }
        if !self.head_dim.is_multiple_of(2) || self.head_dim == 0 {
            return Err(ShapeError(format!(
                "head dimension {} must be even",
                self.head_dim
            )));
        }
        if self.num_layers == 0 || self.hidden_size == 0 || self.vocab_size == 0 {
            return Err(ShapeError(
                "layers, hidden size and vocabulary must be positive".to_string(),
            ));
        }
        Ok(())
    }

    /// Parameters, for reports.
    pub fn parameters(&self) -> u64 {
        let h = self.hidden_size as u64;
        let q = (self.num_heads * self.head_dim) as u64;
        let kv = (self.num_kv_heads * self.head_dim) as u64;
        let per_layer = h * q * 2 + h * kv * 2 + 3 * h * self.intermediate_size as u64 + 2 * h;
        let embeddings = self.vocab_size as u64 * h * if self.tie_word_embeddings { 1 } else { 2 };
        per_layer * self.num_layers as u64 + embeddings + h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen2_config() {
        let config = r#"{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 896, "intermediate_size": 4864,
            "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
            "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "max_position_embeddings": 32768, "tie_word_embeddings": true,
            "eos_token_id": 151645, "bos_token_id": 151643, "torch_dtype": "bfloat16", "use_sliding_window": false}"#;
        let shape =
            ModelShape::from_hf_config(config, Some(r#"{"eos_token_id": [151645, 151643]}"#))
                .unwrap();
        assert_eq!(shape.family, Family::Qwen2);
        assert_eq!(shape.head_dim, 64);
        assert_eq!(shape.eos_token_ids, vec![151645, 151643]);
        assert!(shape.tie_word_embeddings);
        assert!(
            (shape.parameters() as f64 - 494e6).abs() < 10e6,
            "{}",
            shape.parameters()
        );
    }

    #[test]
    fn llama3_scaling_and_errors() {
        let config = r#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 400,
            "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
            "eos_token_id": [1, 2]}"#;
        let shape = ModelShape::from_hf_config(config, None).unwrap();
        assert_eq!(shape.family, Family::Llama);
        assert_eq!(shape.rope_scaling.unwrap().factor, 32.0);
        assert!(ModelShape::from_hf_config(
            &config.replace("LlamaForCausalLM", "GPT2LMHeadModel"),
            None
        )
        .is_err());
        assert!(ModelShape::from_hf_config(
            &config.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"),
            None
        )
        .is_err());
    }
}
