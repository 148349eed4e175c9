//! Loading weights into a [`Transformer`]: HF folders (`config.json`, `*.safetensors`, sharded
//! or not) and GGUF files (F32/F16 and quantized tensors through candle's quantized matmul).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use super::kernels::{Kernels, PackedMatrix};
use super::shape::{Family, ModelShape};
use super::transformer::{Embedding, Layer, Linear, RopeStyle, Transformer};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("`{path}`: {message}")]
    File { path: PathBuf, message: String },
    #[error("`{path}`: tensor `{name}`: {message}")]
    Tensor {
        path: PathBuf,
        name: String,
        message: String,
    },
}

fn file_error(path: &Path, message: impl ToString) -> LoadError {
    LoadError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Where weights come from, and how tensors are named there.
enum Source {
    Safetensors {
        files: MmapedSafetensors,
        path: PathBuf,
        dtype: DType,
    },
    Gguf {
        content: gguf_file::Content,
        file: File,
        path: PathBuf,
        /// Where set, quantized matrices the kernels know are repacked for them.
        kernels: Option<Arc<Kernels>>,
    },
}

/// Logical tensor names, mapped to each format's own.
fn name(gguf: bool, logical: &str, layer: Option<usize>) -> String {
    let (hf, gg) = match logical {
        "embed" => ("model.embed_tokens", "token_embd"),
        "norm" => ("model.norm", "output_norm"),
        "lm_head" => ("lm_head", "output"),
        "attn_norm" => ("input_layernorm", "attn_norm"),
        "q" => ("self_attn.q_proj", "attn_q"),
        "k" => ("self_attn.k_proj", "attn_k"),
        "v" => ("self_attn.v_proj", "attn_v"),
        "o" => ("self_attn.o_proj", "attn_output"),
        "q_norm" => ("self_attn.q_norm", "attn_q_norm"),
        "k_norm" => ("self_attn.k_norm", "attn_k_norm"),
        "mlp_norm" => ("post_attention_layernorm", "ffn_norm"),
        "gate" => ("mlp.gate_proj", "ffn_gate"),
        "up" => ("mlp.up_proj", "ffn_up"),
        _ => ("mlp.down_proj", "ffn_down"),
    };
    match (layer, gguf) {
        (Some(i), false) => format!("model.layers.{i}.{hf}"),
        (Some(i), true) => format!("blk.{i}.{gg}"),
        (None, false) => hf.to_string(),
        (None, true) => gg.to_string(),
    }
}

impl Source {
    fn path(&self) -> &Path {
        match self {
            Source::Safetensors { path, .. } | Source::Gguf { path, .. } => path,
        }
    }

    fn has(&self, name: &str) -> bool {
        match self {
            Source::Safetensors { files, .. } => files.get(name).is_ok(),
            Source::Gguf { content, .. } => content.tensor_infos.contains_key(name),
        }
    }

    fn error(&self, name: &str, message: impl ToString) -> LoadError {
        LoadError::Tensor {
            path: self.path().to_path_buf(),
            name: name.to_string(),
            message: message.to_string(),
        }
    }

    fn qtensor(&mut self, name: &str, device: &Device) -> Result<QTensor, LoadError> {
        match self {
            Source::Gguf {
                content,
                file,
                path,
                ..
            } => content
                .tensor(file, name, device)
                .map_err(|e| LoadError::Tensor {
                    path: path.clone(),
                    name: name.to_string(),
                    message: e.to_string(),
                }),
            Source::Safetensors { .. } => Err(self.error(name, "not a GGUF file")),
        }
    }

    /// A dense tensor in `dtype` (norm weights, biases, dense projections).
    fn dense(&mut self, name: &str, dtype: DType, device: &Device) -> Result<Tensor, LoadError> {
        let tensor = match self {
            Source::Safetensors { files, .. } => {
                files.load(name, device).map_err(|e| e.to_string())
            }
            Source::Gguf { .. } => self
                .qtensor(name, device)
                .and_then(|q| q.dequantize(device).map_err(|e| self.error(name, e)))
                .map_err(|e| e.to_string()),
        };
        tensor
            .and_then(|t| t.to_dtype(dtype).map_err(|e| e.to_string()))
            .map_err(|message| self.error(name, message))
    }

    fn linear(
        &mut self,
        base: &str,
        bias: bool,
        dtype: DType,
        device: &Device,
    ) -> Result<Linear, LoadError> {
        let weight_name = format!("{base}.weight");
        let bias = if bias || self.has(&format!("{base}.bias")) {
            Some(self.dense(&format!("{base}.bias"), dtype, device)?)
        } else {
            None
        };
        match self {
            Source::Safetensors {
                dtype: weights_dtype,
                ..
            } => {
                let weights_dtype = *weights_dtype;
                Ok(Linear::Dense {
                    weight: self.dense(&weight_name, weights_dtype, device)?,
                    bias,
                })
            }
            Source::Gguf { .. } => {
                let tensor = self.qtensor(&weight_name, device)?;
                if let Some(kernels) = self.kernels(device) {
                    if let Some(packed) = PackedMatrix::from_qtensor(&tensor, kernels.layout()) {
                        let weight = packed.map_err(|e| self.error(&weight_name, e))?;
                        return Ok(Linear::Packed {
                            weight: Arc::new(weight),
                            kernels,
                            bias,
                        });
                    }
                }
                let weight =
                    QMatMul::from_qtensor(tensor).map_err(|e| self.error(&weight_name, e))?;
                Ok(Linear::Quantized { weight, bias })
            }
        }
    }

    /// The packed kernels, where this source uses them on `device`.
    fn kernels(&self, device: &Device) -> Option<Arc<Kernels>> {
        match self {
            Source::Gguf {
                kernels: Some(kernels),
                ..
            } if device.is_cpu() => Some(kernels.clone()),
            _ => None,
        }
    }
}

/// Files of an HF model folder that hold weights.
fn safetensors_files(folder: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let index = folder.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| file_error(&index, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| file_error(&index, e))?;
        let map = value
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| file_error(&index, "no `weight_map`"))?;
        let mut files: Vec<PathBuf> = map
            .values()
            .filter_map(|f| f.as_str())
            .map(|f| folder.join(f))
            .collect();
        files.sort();
        files.dedup();
        return Ok(files);
    }
    let single = folder.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| file_error(folder, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(file_error(folder, "no *.safetensors files"));
    }
    Ok(files)
}

/// An HF folder: `config.json` (+ `generation_config.json`) and safetensors weights.
pub fn load_hf_folder(
    folder: &Path,
    dtype: DType,
    device: &Device,
    max_positions: Option<usize>,
) -> Result<Transformer, LoadError> {
    let config_path = folder.join("config.json");
    let config = std::fs::read_to_string(&config_path).map_err(|e| file_error(&config_path, e))?;
    let generation = std::fs::read_to_string(folder.join("generation_config.json")).ok();
    let shape = ModelShape::from_hf_config(&config, generation.as_deref())
        .map_err(|e| file_error(&config_path, e))?;
    let files = safetensors_files(folder)?;
    // SAFETY: the weight files are mapped read-only for the life of the loader. Tensors are
    // copied out of the mapping as they load; a file truncated by another process meanwhile
    // would fault, as with any mmap of a file we do not own.
    let mapped = unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| file_error(folder, e))?;
    let mut source = Source::Safetensors {
        files: mapped,
        path: folder.to_path_buf(),
        dtype,
    };
    build(
        &mut source,
        shape,
        dtype,
        device,
        RopeStyle::Half,
        max_positions,
    )
}

/// An opened GGUF file: its metadata and tensor index are read, its tensors not yet.
///
/// Opening once lets the loader build the tokenizer from the metadata and then the transformer
/// from the tensors without parsing the header (several MB of vocabulary) twice.
pub struct GgufFile {
    path: PathBuf,
    file: File,
    content: gguf_file::Content,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<GgufFile, LoadError> {
        let mut file = File::open(path).map_err(|e| file_error(path, e))?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| file_error(path, e))?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            file,
            content,
        })
    }

    pub fn metadata(&self) -> &HashMap<String, gguf_file::Value> {
        &self.content.metadata
    }

    /// The transformer; activations stay in f32, the quantized kernels' input type. With
    /// `kernels`, quantized matrices of the types they know are repacked for them (on the CPU);
    /// the others, and all of them without, go through candle's quantized matmul.
    pub fn load(
        self,
        device: &Device,
        max_positions: Option<usize>,
        kernels: Option<Arc<Kernels>>,
    ) -> Result<Transformer, LoadError> {
        let GgufFile {
            path,
            file,
            content,
        } = self;
        let path = path.as_path();
        let embed_info = content
            .tensor_infos
            .get("token_embd.weight")
            .ok_or_else(|| file_error(path, "no `token_embd.weight` tensor"))?;
        let vocab_size = embed_info.shape.dims().first().copied().unwrap_or(0);
        let has_output = content.tensor_infos.contains_key("output.weight");
        let shape = ModelShape::from_gguf(&content.metadata, vocab_size, has_output)
            .map_err(|e| file_error(path, e))?;
        // llama.cpp permutes the q and k rows of `llama` models for its interleaved rotary
        // layout; Qwen models are stored in HF order.
        let rope_style = if shape.family == Family::Llama {
            RopeStyle::Interleaved
        } else {
            RopeStyle::Half
        };
        let mut source = Source::Gguf {
            content,
            file,
            path: path.to_path_buf(),
            kernels,
        };
        build(
            &mut source,
            shape,
            DType::F32,
            device,
            rope_style,
            max_positions,
        )
    }
}

/// A GGUF file; activations stay in f32, the quantized kernels' input type. See
/// [`GgufFile::load`] for `kernels`.
pub fn load_gguf(
    path: &Path,
    device: &Device,
    max_positions: Option<usize>,
    kernels: Option<Arc<Kernels>>,
) -> Result<Transformer, LoadError> {
    GgufFile::open(path)?.load(device, max_positions, kernels)
}

fn build(
    source: &mut Source,
    shape: ModelShape,
    dtype: DType,
    device: &Device,
    rope_style: RopeStyle,
    max_positions: Option<usize>,
) -> Result<Transformer, LoadError> {
    let gguf = matches!(source, Source::Gguf { .. });
    let embed_name = format!("{}.weight", name(gguf, "embed", None));
    let embed = match source {
        Source::Safetensors { .. } => Embedding::Dense(source.dense(&embed_name, dtype, device)?),
        Source::Gguf { .. } => {
            let tensor = source.qtensor(&embed_name, device)?;
            match tensor.dtype() {
                GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => Embedding::Dense(
                    tensor
                        .dequantize(device)
                        .map_err(|e| source.error(&embed_name, e))?,
                ),
                _ => match source
                    .kernels(device)
                    .and_then(|k| PackedMatrix::from_qtensor(&tensor, k.layout()))
                {
                    Some(packed) => Embedding::Packed(Arc::new(
                        packed.map_err(|e| source.error(&embed_name, e))?,
                    )),
                    None => Embedding::Quantized(Arc::new(tensor)),
                },
            }
        }
    };
    let qkv_bias = shape.family == Family::Qwen2;
    let mut layers = Vec::with_capacity(shape.num_layers);
    for i in 0..shape.num_layers {
        let n = |logical: &str| name(gguf, logical, Some(i));
        let (q_norm, k_norm) = if shape.family == Family::Qwen3 {
            let q_name = format!("{}.weight", n("q_norm"));
            let k_name = format!("{}.weight", n("k_norm"));
            (
                Some(source.dense(&q_name, dtype, device)?),
                Some(source.dense(&k_name, dtype, device)?),
            )
        } else {
            (None, None)
        };
        let (q, k, v, o) = (n("q"), n("k"), n("v"), n("o"));
        let (gate, up, down) = (n("gate"), n("up"), n("down"));
        let (attn_norm, mlp_norm) = (
            format!("{}.weight", n("attn_norm")),
            format!("{}.weight", n("mlp_norm")),
        );
        layers.push(Layer {
            attn_norm: source.dense(&attn_norm, dtype, device)?,
            q: source.linear(&q, qkv_bias, dtype, device)?,
            k: source.linear(&k, qkv_bias, dtype, device)?,
            v: source.linear(&v, qkv_bias, dtype, device)?,
            o: source.linear(&o, false, dtype, device)?,
            q_norm,
            k_norm,
            mlp_norm: source.dense(&mlp_norm, dtype, device)?,
            gate: source.linear(&gate, false, dtype, device)?,
            up: source.linear(&up, false, dtype, device)?,
            down: source.linear(&down, false, dtype, device)?,
        });
    }
    let norm_name = format!("{}.weight", name(gguf, "norm", None));
    let norm = source.dense(&norm_name, dtype, device)?;
    let head_name = name(gguf, "lm_head", None);
    let lm_head = if source.has(&format!("{head_name}.weight")) {
        source.linear(&head_name, false, dtype, device)?
    } else {
        // Tied embeddings: the output projection is the embedding table.
        match &embed {
            Embedding::Dense(table) => Linear::Dense {
                weight: table.clone(),
                bias: None,
            },
            Embedding::Quantized(table) => {
                let weight =
                    QMatMul::from_arc(table.clone()).map_err(|e| source.error(&embed_name, e))?;
                Linear::Quantized { weight, bias: None }
            }
            Embedding::Packed(table) => Linear::Packed {
                weight: table.clone(),
                kernels: source
                    .kernels(device)
                    .ok_or_else(|| source.error(&embed_name, "packed without kernels"))?,
                bias: None,
            },
        }
    };
    let max_positions = max_positions
        .unwrap_or(shape.max_position_embeddings)
        .max(16);
    Transformer::new(
        shape,
        embed,
        layers,
        norm,
        lm_head,
        rope_style,
        dtype,
        device.clone(),
        max_positions,
    )
    .map_err(|e| file_error(source.path(), e))
}

/// GGUF metadata as a map, for callers that need more than the shape (the tokenizer's ids).
pub fn gguf_metadata(path: &Path) -> Result<HashMap<String, gguf_file::Value>, LoadError> {
    Ok(GgufFile::open(path)?.content.metadata)
}
