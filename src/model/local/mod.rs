//! Local models run in-process with candle: HF folders and GGUF files of the Llama 3.x, Qwen2 /
//! Qwen2.5 and Qwen3 families, chat templates from `tokenizer_config.json` or the GGUF metadata
//! (which also gives a GGUF file its tokenizer), tool calls in the model's own format, and a
//! prefix KV cache so each turn costs only its new tokens.

pub mod attention;
pub mod constrain;
pub mod engine;
pub mod fixtures;
pub mod gguf_tokenizer;
pub mod kernels;
pub mod kv;
pub mod load;
pub mod sampling;
pub mod schema;
pub mod shape;
pub mod speed;
pub mod template;
pub mod toolcall;
pub mod transformer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use candle_core::{DType, Device};
use tokenizers::Tokenizer;

use super::{
    ChatRequest, ChatResponse, Message, ModelBackend, ModelError, ModelInfo, ModelSession,
    ModelStats, SessionContext, ToolSpec,
};
use crate::spec::config::ModelConfig;
use engine::{GenerationParams, LocalEngine, Trajectory};
use sampling::SamplingParams;
use template::ChatTemplate;

/// Defaults for keys a `candle` model may leave out.
const DEFAULT_MAX_NEW_TOKENS: usize = 2048;
const DEFAULT_MAX_CONTEXT: usize = 32_768;

fn unavailable(message: impl ToString) -> ModelError {
    ModelError::Unavailable {
        message: message.to_string(),
    }
}

/// Resident memory of this process in bytes, from /proc (0 where there is none).
pub fn resident_bytes() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .nth(1)
                .and_then(|pages| pages.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}

fn device(name: &str) -> Result<Device, ModelError> {
    match name {
        "cpu" => Ok(Device::Cpu),
        other => match other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(ordinal) => {
                Device::new_cuda(ordinal).map_err(|e| unavailable(format!("device `{other}`: {e}")))
            }
            None => Err(unavailable(format!(
                "device `{other}`: use \"cpu\" or \"cuda:N\""
            ))),
        },
    }
}

fn dtype(name: &str) -> Result<DType, ModelError> {
    match name {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        "f16" => Ok(DType::F16),
        other => Err(unavailable(format!(
            "dtype `{other}`: use f32, bf16 or f16"
        ))),
    }
}

/// Files of a local model: weights, tokenizer and its config.
struct ModelFiles {
    weights: PathBuf,
    gguf: bool,
    /// A `tokenizer.json`, given or found beside the weights. A GGUF file may do without one:
    /// its metadata holds the tokenizer.
    tokenizer: Option<PathBuf>,
    tokenizer_config: Option<PathBuf>,
}

fn model_files(config: &ModelConfig) -> Result<ModelFiles, ModelError> {
    let path = PathBuf::from(
        config
            .path
            .as_deref()
            .ok_or_else(|| unavailable("a candle model needs `path`"))?,
    );
    if !path.exists() {
        return Err(unavailable(format!(
            "model path `{}` does not exist",
            path.display()
        )));
    }
    let gguf = path.is_file() && path.extension().is_some_and(|e| e == "gguf");
    let folder = if path.is_dir() {
        path.clone()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let tokenizer = match &config.tokenizer {
        Some(tokenizer) => Some(PathBuf::from(tokenizer)),
        None => Some(folder.join("tokenizer.json")).filter(|beside| beside.is_file() || !gguf),
    };
    if let Some(tokenizer) = tokenizer.as_ref().filter(|t| !t.is_file()) {
        return Err(unavailable(format!(
            "no tokenizer at `{}`",
            tokenizer.display()
        )));
    }
    let tokenizer_config = tokenizer
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(&folder)
        .join("tokenizer_config.json");
    let tokenizer_config = Some(tokenizer_config).filter(|p| p.is_file());
    Ok(ModelFiles {
        weights: path,
        gguf,
        tokenizer,
        tokenizer_config,
    })
}

/// The token text that ends an assistant turn, and every id that stops generation.
fn stops(
    tokenizer: &Tokenizer,
    template: &ChatTemplate,
    eos_ids: &[u32],
    eos_token: Option<&str>,
) -> (String, Vec<u32>) {
    let mut ids: Vec<u32> = eos_ids.to_vec();
    let mut candidates = vec![
        "<|im_end|>",
        "<|eot_id|>",
        "<|eom_id|>",
        "<|endoftext|>",
        "<|end_of_text|>",
    ];
    candidates.extend(eos_token);
    for text in &candidates {
        if let Some(id) = tokenizer.token_to_id(text) {
            if !ids.contains(&id)
                && (template.source().contains(text)
                    || Some(*text) == eos_token
                    || eos_ids.contains(&id))
            {
                ids.push(id);
            }
        }
    }
    let end_of_turn = ["<|im_end|>", "<|eot_id|>"]
        .into_iter()
        .find(|marker| {
            template.source().contains(marker) && tokenizer.token_to_id(marker).is_some()
        })
        .map(str::to_string)
        .or_else(|| eos_token.map(str::to_string))
        .unwrap_or_else(|| "<|im_end|>".to_string());
    if let Some(id) = tokenizer.token_to_id(&end_of_turn) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    (end_of_turn, ids)
}

/// The packed kernels a model's config asks for (`kernels`, `threads`); `None` for candle's own.
pub fn kernels_of(config: &ModelConfig) -> Result<Option<Arc<kernels::Kernels>>, ModelError> {
    let threads = match config.threads {
        Some(0) => return Err(unavailable("`threads` must be at least 1")),
        Some(n) => n,
        None => kernels::physical_cores(),
    };
    let path = match config.kernels.as_deref().unwrap_or("auto") {
        "candle" => return Ok(None),
        "auto" => kernels::KernelPath::detect(),
        name => kernels::KernelPath::parse(name).ok_or_else(|| {
            unavailable(format!(
                "`kernels = \"{name}\"` is not a kernel set; use auto, avx512vnni, avx2, portable or candle"
            ))
        })?,
    };
    kernels::Kernels::new(path, threads)
        .map(Some)
        .map_err(|e| unavailable(format!("`kernels = \"{}\"`: {e}", path.name())))
}

/// A `candle` model, loaded once and shared by every agent run bound to it.
pub struct CandleBackend {
    info: ModelInfo,
    engine: Arc<LocalEngine>,
    stats: ModelStats,
}

impl CandleBackend {
    pub fn load(info: ModelInfo, config: &ModelConfig) -> Result<CandleBackend, ModelError> {
        let started = Instant::now();
        let memory_before = resident_bytes();
        let files = model_files(config)?;
        let device = device(config.device.as_deref().unwrap_or("cpu"))?;
        let dtype = dtype(config.dtype.as_deref().unwrap_or("f32"))?;
        let max_context = config.max_context.unwrap_or(DEFAULT_MAX_CONTEXT);
        // A GGUF file is opened once: its metadata gives the tokenizer (when no tokenizer.json is
        // given), special tokens and chat template, its tensors the transformer.
        let gguf = if files.gguf {
            Some(load::GgufFile::open(&files.weights).map_err(unavailable)?)
        } else {
            None
        };
        let model_name = files.weights.display().to_string();
        let gguf_specials = match &gguf {
            Some(file) => {
                gguf_tokenizer::specials(file.metadata(), &model_name).map_err(unavailable)?
            }
            None => gguf_tokenizer::GgufSpecials::default(),
        };
        let tokenizer = match (&files.tokenizer, &gguf) {
            (Some(path), _) => Tokenizer::from_file(path)
                .map_err(|e| unavailable(format!("`{}`: {e}", path.display())))?,
            (None, Some(file)) => {
                gguf_tokenizer::tokenizer(file.metadata(), &model_name).map_err(unavailable)?
            }
            (None, None) => return Err(unavailable(format!("`{model_name}` has no tokenizer"))),
        };
        let transformer = match gguf {
            Some(file) => file.load(&device, Some(max_context), kernels_of(config)?),
            None => load::load_hf_folder(&files.weights, dtype, &device, Some(max_context)),
        }
        .map_err(unavailable)?;
        let tokenizer_config: Option<serde_json::Value> = match &files.tokenizer_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| unavailable(format!("`{}`: {e}", path.display())))?;
                Some(
                    serde_json::from_str(&text)
                        .map_err(|e| unavailable(format!("`{}`: {e}", path.display())))?,
                )
            }
            None => None,
        };
        let token_text = |key: &str| {
            tokenizer_config
                .as_ref()
                .and_then(|c| c.get(key))
                .and_then(|t| {
                    t.as_str().map(str::to_string).or_else(|| {
                        t.get("content")
                            .and_then(|c| c.as_str())
                            .map(str::to_string)
                    })
                })
        };
        let eos_token = token_text("eos_token").or(gguf_specials.eos_token.clone());
        let (bos, eos) = (
            token_text("bos_token")
                .or(gguf_specials.bos_token.clone())
                .unwrap_or_default(),
            eos_token.clone().unwrap_or_default(),
        );
        let from_file = |path: &Path| -> Result<ChatTemplate, ModelError> {
            let source = std::fs::read_to_string(path)
                .map_err(|e| unavailable(format!("chat template `{}`: {e}", path.display())))?;
            ChatTemplate::from_source(&source, &bos, &eos)
                .map_err(|e| unavailable(format!("chat template `{}`: {e}", path.display())))
        };
        // The template in a GGUF file's metadata, used when no file beside gives one.
        let from_gguf = || -> Result<ChatTemplate, ModelError> {
            match &gguf_specials.chat_template {
                Some(source) => ChatTemplate::from_source(source, &bos, &eos).map_err(|e| {
                    unavailable(format!("`{model_name}`: `tokenizer.chat_template`: {e}"))
                }),
                None => Ok(ChatTemplate::chatml()),
            }
        };
        // Newer HF repos keep the template in chat_template.jinja beside tokenizer_config.json.
        let beside = files
            .tokenizer_config
            .as_deref()
            .or(files.tokenizer.as_deref())
            .and_then(Path::parent)
            .map(|dir| dir.join("chat_template.jinja"))
            .filter(|p| p.is_file());
        let template = match (&config.chat_template, &tokenizer_config, beside) {
            (Some(path), _, _) => from_file(Path::new(path))?,
            (None, Some(tokenizer_config), beside) => {
                match ChatTemplate::from_tokenizer_config(tokenizer_config).map_err(|e| {
                    let config_path = files.tokenizer_config.as_deref().unwrap_or(&files.weights);
                    unavailable(format!("chat template of `{}`: {e}", config_path.display()))
                })? {
                    Some(template) => template,
                    None => match beside {
                        Some(path) => from_file(&path)?,
                        None => from_gguf()?,
                    },
                }
            }
            (None, None, Some(path)) => from_file(&path)?,
            (None, None, None) => from_gguf()?,
        };
        // A template that ignores tools (SmolLM2's) would hide them from the model.
        let template = if template.supports_tools() {
            template
        } else {
            ChatTemplate::chatml()
        };
        let mut eos_ids = transformer.shape.eos_token_ids.clone();
        for id in &gguf_specials.stop_ids {
            if !eos_ids.contains(id) {
                eos_ids.push(*id);
            }
        }
        let (end_of_turn, stop_ids) = stops(&tokenizer, &template, &eos_ids, eos_token.as_deref());
        let parameters = transformer.shape.parameters();
        let kernel_summary = transformer.kernel_summary();
        let shape = transformer.shape.clone();
        let params = GenerationParams {
            sampling: SamplingParams::of_config(config),
            max_new_tokens: config.max_new_tokens.unwrap_or(DEFAULT_MAX_NEW_TOKENS),
            max_context,
            share_prefixes: config.share_prefixes.unwrap_or(true),
            constrained_tool_calls: config.constrained_tool_calls.unwrap_or(false),
        };
        let engine = LocalEngine::new(
            transformer,
            tokenizer,
            template,
            stop_ids,
            end_of_turn,
            params,
        );
        let stats = ModelStats {
            load_ms: Some(crate::model::millis(started.elapsed())),
            resident_bytes: Some(resident_bytes().saturating_sub(memory_before)),
            parameters: Some(parameters),
            detail: format!(
                "{} {} layers, hidden {}, {} heads / {} kv heads, {} ({}), device {}, kernels {}",
                shape.family.as_str(),
                shape.num_layers,
                shape.hidden_size,
                shape.num_heads,
                shape.num_kv_heads,
                if files.gguf { "gguf" } else { "safetensors" },
                if files.gguf {
                    "f32 activations".to_string()
                } else {
                    dtype.as_str().to_string()
                },
                config.device.as_deref().unwrap_or("cpu"),
                kernel_summary,
            ),
        };
        Ok(CandleBackend {
            info,
            engine: Arc::new(engine),
            stats,
        })
    }

    pub fn engine(&self) -> &Arc<LocalEngine> {
        &self.engine
    }
}

impl ModelBackend for CandleBackend {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn start_session(&self, context: SessionContext) -> Box<dyn ModelSession> {
        // Each trajectory draws from its own stream, seeded by the agent run it serves, so the
        // tokens do not depend on how many runs go at once or which ran before.
        Box::new(CandleSession {
            engine: self.engine.clone(),
            trajectory: Some(self.engine.new_trajectory(context.seed)),
        })
    }

    fn stats(&self) -> ModelStats {
        self.stats.clone()
    }
}

struct CandleSession {
    engine: Arc<LocalEngine>,
    /// Taken while a call runs on a blocking thread.
    trajectory: Option<Trajectory>,
}

#[async_trait]
impl ModelSession for CandleSession {
    async fn complete(&mut self, request: ChatRequest<'_>) -> Result<ChatResponse, ModelError> {
        let mut trajectory = self
            .trajectory
            .take()
            .ok_or_else(|| unavailable("the previous call of this session did not finish"))?;
        let engine = self.engine.clone();
        let messages: Vec<Message> = request.messages.to_vec();
        let tools: Vec<ToolSpec> = request.tools.to_vec();
        let max_output_tokens = request.max_output_tokens;
        // Inference is CPU-bound: it runs on a blocking thread, not on the async workers.
        let (trajectory, result) = tokio::task::spawn_blocking(move || {
            let request = ChatRequest {
                messages: &messages,
                tools: &tools,
                max_output_tokens,
                on_retry: None,
            };
            let result = engine.complete(&mut trajectory, &request);
            (trajectory, result)
        })
        .await
        .map_err(|e| unavailable(format!("the inference thread failed: {e}")))?;
        self.trajectory = Some(trajectory);
        result
    }
}

impl Drop for CandleSession {
    fn drop(&mut self) {
        if let Some(trajectory) = self.trajectory.take() {
            self.engine.share(trajectory);
        }
    }
}
