//! The decoder itself, written on candle-core / candle-nn ops so that its cache is ours: an
//! external [`KvCache`] that can be cut back and copied, grouped-query attention that never
//! materialises repeated keys and values, and rotary tables built in f32.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};

use super::kernels::{Kernels, PackedMatrix};
use super::kv::KvCache;
use super::shape::{Llama3Scaling, ModelShape};

/// Query rows of a prompt's attention computed together (see `Transformer::attention`).
const QUERY_CHUNK: usize = 64;

/// A projection: dense weights `(out, in)` or a quantized matrix, with an optional bias.
#[derive(Debug, Clone)]
pub enum Linear {
    Dense {
        weight: Tensor,
        bias: Option<Tensor>,
    },
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
    /// Repacked GGUF weights multiplied by the engine's own kernels.
    Packed {
        weight: Arc<PackedMatrix>,
        kernels: Arc<Kernels>,
        bias: Option<Tensor>,
    },
}

/// `xs · weightᵀ` for f32 activations `(..., cols)` on the CPU, through the packed kernels.
fn packed_forward(weight: &PackedMatrix, kernels: &Kernels, xs: &Tensor) -> Result<Tensor> {
    let xs = xs.to_dtype(DType::F32)?.contiguous()?;
    let mut dims = xs.dims().to_vec();
    let cols = dims.pop().unwrap_or(0);
    if cols != weight.cols() {
        candle_core::bail!(
            "activations of width {cols} against a {} × {} matrix",
            weight.rows(),
            weight.cols()
        );
    }
    let m = xs.elem_count() / cols.max(1);
    let mut out = vec![0f32; m * weight.rows()];
    {
        let (storage, layout) = xs.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else {
            candle_core::bail!("the packed kernels run on the CPU only");
        };
        let all = cpu.as_slice::<f32>()?;
        let start = layout.start_offset();
        weight.matmul(kernels, &all[start..start + m * cols], m, &mut out);
    }
    dims.push(weight.rows());
    Tensor::from_vec(out, dims, xs.device())
}

impl Linear {
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (out, bias) = match self {
            Linear::Dense { weight, bias } => (xs.broadcast_matmul(&weight.t()?)?, bias),
            Linear::Quantized { weight, bias } => (weight.forward(xs)?, bias),
            Linear::Packed {
                weight,
                kernels,
                bias,
            } => (packed_forward(weight, kernels, xs)?, bias),
        };
        match bias {
            Some(bias) => out.broadcast_add(bias),
            None => Ok(out),
        }
    }
}

/// Token embeddings, dense or quantized (rows are dequantized on lookup).
#[derive(Debug, Clone)]
pub enum Embedding {
    Dense(Tensor),
    Quantized(Arc<QTensor>),
    /// Rows of a packed matrix (shared with a tied output projection).
    Packed(Arc<PackedMatrix>),
}

impl Embedding {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Embedding::Dense(table) => {
                let hidden = table.dim(1)?;
                let flat = ids.flatten_all()?;
                let mut dims = ids.dims().to_vec();
                dims.push(hidden);
                table.index_select(&flat, 0)?.reshape(dims)
            }
            Embedding::Quantized(table) => table.embedding(ids),
            Embedding::Packed(table) => {
                let flat: Vec<u32> = ids.flatten_all()?.to_vec1()?;
                let hidden = table.cols();
                let mut values = vec![0f32; flat.len() * hidden];
                for (id, row) in flat.iter().zip(values.chunks_exact_mut(hidden)) {
                    let id = *id as usize;
                    if id >= table.rows() {
                        candle_core::bail!(
                            "token id {id} is past the vocabulary of {}",
                            table.rows()
                        );
                    }
                    table.dequantize_row(id, row);
                }
                let mut dims = ids.dims().to_vec();
                dims.push(hidden);
                Tensor::from_vec(values, dims, ids.device())
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Layer {
    pub attn_norm: Tensor,
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    /// Qwen3: RMS norms over each head of q and k.
    pub q_norm: Option<Tensor>,
    pub k_norm: Option<Tensor>,
    pub mlp_norm: Tensor,
    pub gate: Linear,
    pub up: Linear,
    pub down: Linear,
}

/// How the rotary embedding pairs dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// HF layout: dimension i pairs with i + d/2.
    Half,
    /// llama.cpp's layout for `llama` GGUFs, whose q/k rows were permuted: pairs (2i, 2i+1).
    Interleaved,
}

#[derive(Debug, Clone)]
struct RopeTables {
    cos: Tensor,
    sin: Tensor,
}

impl RopeTables {
    /// Tables for `positions` positions, computed in f32 (half precision drifts at long
    /// contexts) and then cast to the activation type.
    fn new(
        shape: &ModelShape,
        positions: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<RopeTables> {
        let half = shape.head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                let freq = 1.0
                    / shape
                        .rope_theta
                        .powf(2.0 * i as f64 / shape.head_dim as f64);
                match &shape.rope_scaling {
                    Some(scaling) => llama3_frequency(freq, scaling) as f32,
                    None => freq as f32,
                }
            })
            .collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, half), device)?;
        let positions_t = Tensor::arange(0u32, positions as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((positions, 1))?;
        let angles = positions_t.broadcast_mul(&inv_freq)?;
        Ok(RopeTables {
            cos: angles.cos()?.to_dtype(dtype)?,
            sin: angles.sin()?.to_dtype(dtype)?,
        })
    }
}

/// Llama 3's frequency-dependent scaling of the rotary frequencies.
fn llama3_frequency(freq: f64, scaling: &Llama3Scaling) -> f64 {
    let original = scaling.original_max_position_embeddings as f64;
    let low_wavelen = original / scaling.low_freq_factor;
    let high_wavelen = original / scaling.high_freq_factor;
    let wavelen = 2.0 * std::f64::consts::PI / freq;
    if wavelen < high_wavelen {
        freq
    } else if wavelen > low_wavelen {
        freq / scaling.factor
    } else {
        let smooth = (original / wavelen - scaling.low_freq_factor)
            / (scaling.high_freq_factor - scaling.low_freq_factor);
        (1.0 - smooth) * freq / scaling.factor + smooth * freq
    }
}

#[derive(Debug, Clone)]
pub struct Transformer {
    pub shape: ModelShape,
    pub embed: Embedding,
    pub layers: Vec<Layer>,
    pub norm: Tensor,
    pub lm_head: Linear,
    pub rope_style: RopeStyle,
    /// The type activations and the cache are kept in.
    pub dtype: DType,
    pub device: Device,
    rope: RopeTables,
    max_positions: usize,
    /// The packed kernels, where the projections use them (their pool also runs attention).
    kernels: Option<Arc<Kernels>>,
}

impl Transformer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shape: ModelShape,
        embed: Embedding,
        layers: Vec<Layer>,
        norm: Tensor,
        lm_head: Linear,
        rope_style: RopeStyle,
        dtype: DType,
        device: Device,
        max_positions: usize,
    ) -> Result<Transformer> {
        let rope = RopeTables::new(&shape, max_positions, dtype, &device)?;
        super::kernels::tune_allocator();
        let kernels = layers
            .iter()
            .flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down])
            .chain([&lm_head])
            .find_map(|linear| match linear {
                Linear::Packed { kernels, .. } => Some(kernels.clone()),
                _ => None,
            });
        Ok(Transformer {
            shape,
            embed,
            layers,
            norm,
            lm_head,
            rope_style,
            dtype,
            device,
            rope,
            max_positions,
            kernels,
        })
    }

    /// The matrix kernels the projections run on: `avx512vnni, 2 threads`, or `candle` where
    /// none is packed.
    pub fn kernel_summary(&self) -> String {
        match &self.kernels {
            Some(k) => format!("{}, {} threads", k.path().name(), k.threads()),
            None => "candle".to_string(),
        }
    }

    /// Bytes one decode step reads: every projection's weights once (not the embedding table,
    /// of which one row is read), plus the keys and values of `depth` cached positions (f32).
    pub fn bytes_read_per_token(&self, depth: usize) -> usize {
        let weights: usize = self
            .layers
            .iter()
            .flat_map(|l| [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down])
            .chain([&self.lm_head])
            .map(|linear| match linear {
                Linear::Dense { weight, .. } => {
                    weight.elem_count() * weight.dtype().size_in_bytes()
                }
                Linear::Quantized { weight, .. } => match weight {
                    QMatMul::QTensor(t) => t.storage_size_in_bytes(),
                    QMatMul::Tensor(t) | QMatMul::TensorF16(t) => {
                        t.elem_count() * t.dtype().size_in_bytes()
                    }
                },
                Linear::Packed { weight, .. } => weight.bytes(),
            })
            .sum();
        let shape = &self.shape;
        let cache = 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * depth * 4;
        weights + cache
    }

    /// Positions the rotary tables cover: the longest context this model instance accepts.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Runs `tokens` at positions `cache.len()..`, appending their keys and values to `cache`.
    /// Returns f32 logits `(n, vocab)`: of every position when `all_positions`, else of the last.
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        all_positions: bool,
    ) -> Result<Tensor> {
        let count = tokens.len();
        if count == 0 {
            candle_core::bail!("forward needs at least one token");
        }
        let offset = cache.len();
        if offset + count > self.max_positions {
            candle_core::bail!(
                "context of {} tokens exceeds the model's {} positions",
                offset + count,
                self.max_positions
            );
        }
        let ids = Tensor::from_vec(tokens.to_vec(), (1, count), &self.device)?;
        let mut xs = self.embed.forward(&ids)?.to_dtype(self.dtype)?;
        let cos = self.rope.cos.narrow(0, offset, count)?;
        let sin = self.rope.sin.narrow(0, offset, count)?;
        let mask = if count > 1 {
            Some(self.mask(count, offset)?)
        } else {
            None
        };
        for (index, layer) in self.layers.iter().enumerate() {
            let residual = xs.clone();
            let normed = rms_norm(&xs, &layer.attn_norm, self.shape.rms_norm_eps)?;
            let attended =
                self.attention(index, layer, &normed, &cos, &sin, mask.as_ref(), cache)?;
            xs = (residual + attended)?;
            let residual = xs.clone();
            let normed = rms_norm(&xs, &layer.mlp_norm, self.shape.rms_norm_eps)?;
            let gate = candle_nn::ops::silu(&layer.gate.forward(&normed)?)?;
            let mlp = layer.down.forward(&(gate * layer.up.forward(&normed)?)?)?;
            xs = (residual + mlp)?;
        }
        cache.advance(count);
        let xs = if all_positions {
            xs
        } else {
            xs.narrow(1, count - 1, 1)?
        };
        let xs = rms_norm(&xs, &self.norm, self.shape.rms_norm_eps)?;
        self.lm_head.forward(&xs)?.to_dtype(DType::F32)?.squeeze(0)
    }

    /// `(count, offset + count)`: query i (at position offset + i) sees keys up to offset + i.
    fn mask(&self, count: usize, offset: usize) -> Result<Tensor> {
        let total = offset + count;
        let values: Vec<f32> = (0..count)
            .flat_map(|i| {
                (0..total).map(move |j| {
                    if j <= offset + i {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    }
                })
            })
            .collect();
        Tensor::from_vec(values, (count, total), &self.device)?.to_dtype(self.dtype)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        index: usize,
        layer: &Layer,
        xs: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let shape = &self.shape;
        let (batch, count, _) = xs.dims3()?;
        let (heads, kv_heads, head_dim) = (shape.num_heads, shape.num_kv_heads, shape.head_dim);
        let q = layer
            .q
            .forward(xs)?
            .reshape((batch, count, heads, head_dim))?;
        let k = layer
            .k
            .forward(xs)?
            .reshape((batch, count, kv_heads, head_dim))?;
        let v = layer
            .v
            .forward(xs)?
            .reshape((batch, count, kv_heads, head_dim))?;
        let q = match &layer.q_norm {
            Some(norm) => rms_norm(&q, norm, shape.rms_norm_eps)?,
            None => q,
        };
        let k = match &layer.k_norm {
            Some(norm) => rms_norm(&k, norm, shape.rms_norm_eps)?,
            None => k,
        };
        let q = q.transpose(1, 2)?.contiguous()?;
        let k = k.transpose(1, 2)?.contiguous()?;
        let v = v.transpose(1, 2)?;
        let (q, k) = match self.rope_style {
            RopeStyle::Half => (
                candle_nn::rotary_emb::rope(&q, cos, sin)?,
                candle_nn::rotary_emb::rope(&k, cos, sin)?,
            ),
            RopeStyle::Interleaved => (
                candle_nn::rotary_emb::rope_i(&q, cos, sin)?,
                candle_nn::rotary_emb::rope_i(&k, cos, sin)?,
            ),
        };
        let (keys, values) = cache.append(index, &k, &v)?;
        // One token: dot products in place over the cache. Prompts: candle's matrix products,
        // which beat blocked dot products over the cache at every context measured.
        if let (1, Some(kernels), DType::F32) = (count, &self.kernels, self.dtype) {
            return self.attend_one(layer, &q, &keys, &values, kernels);
        }
        // Grouped-query attention: the heads sharing a key/value head become extra query rows,
        // so keys and values are used as they are stored. Long prompts go in chunks of query
        // rows, so that each chunk's score matrix stays small (reused by the allocator rather
        // than mapped afresh) and sees only the positions it may attend to.
        let group = heads / kv_heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let offset = keys.dim(2)? - count;
        let q = (q * scale)?;
        let mut outs = Vec::new();
        for start in (0..count).step_by(QUERY_CHUNK) {
            let rows = QUERY_CHUNK.min(count - start);
            let visible = offset + start + rows;
            let q = if rows == count {
                q.clone()
            } else {
                q.narrow(2, start, rows)?.contiguous()?
            };
            let q = q.reshape((batch, kv_heads, group * rows, head_dim))?;
            let keys = keys.narrow(2, 0, visible)?;
            let values = values.narrow(2, 0, visible)?;
            let scores = q.matmul(&keys.t()?)?;
            let scores = match mask {
                Some(mask) => {
                    let mask = mask.narrow(0, start, rows)?.narrow(1, 0, visible)?;
                    scores
                        .reshape((batch, kv_heads, group, rows, visible))?
                        .broadcast_add(&mask)?
                        .reshape((batch, kv_heads, group * rows, visible))?
                }
                None => scores,
            };
            let probabilities = candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?
                .to_dtype(self.dtype)?;
            outs.push(
                probabilities
                    .matmul(&values)?
                    .reshape((batch, heads, rows, head_dim))?,
            );
        }
        let out = if outs.len() == 1 {
            outs.remove(0)
        } else {
            Tensor::cat(&outs, 2)?
        };
        let out = out
            .transpose(1, 2)?
            .reshape((batch, count, heads * head_dim))?;
        layer.o.forward(&out)
    }
}

impl Transformer {
    /// Attention of one new token, in place over the cache's buffers (see
    /// [`super::attention`]); `q` is `(1, heads, 1, head_dim)`.
    fn attend_one(
        &self,
        layer: &Layer,
        q: &Tensor,
        keys: &Tensor,
        values: &Tensor,
        kernels: &Kernels,
    ) -> Result<Tensor> {
        let shape = &self.shape;
        let q = q.flatten_all()?.to_vec1::<f32>()?;
        let positions = keys.dim(2)?;
        let mut out = vec![0f32; shape.num_heads * shape.head_dim];
        {
            let (key_storage, key_layout) = keys.storage_and_layout();
            let (value_storage, value_layout) = values.storage_and_layout();
            let (candle_core::Storage::Cpu(k), candle_core::Storage::Cpu(v)) =
                (&*key_storage, &*value_storage)
            else {
                candle_core::bail!("one-token attention runs on the CPU only");
            };
            let head_stride = key_layout.stride()[1];
            if value_layout.stride()[1] != head_stride
                || key_layout.stride()[2] != shape.head_dim
                || key_layout.stride()[3] != 1
            {
                candle_core::bail!("the key/value cache is not laid out by head and position");
            }
            let view = super::attention::CacheView {
                keys: &k.as_slice::<f32>()?[key_layout.start_offset()..],
                values: &v.as_slice::<f32>()?[value_layout.start_offset()..],
                head_stride,
                positions,
            };
            let heads = super::attention::Heads {
                heads: shape.num_heads,
                kv_heads: shape.num_kv_heads,
                head_dim: shape.head_dim,
            };
            super::attention::decode(&q, &view, &heads, kernels.pool(), &mut out);
        }
        let out = Tensor::from_vec(out, (1, 1, shape.num_heads * shape.head_dim), &self.device)?;
        layer.o.forward(&out)
    }
}

/// candle's fused RMS norm (it accumulates in f32 for half types); `weight` is in the
/// activation type.
fn rms_norm(xs: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    candle_nn::ops::rms_norm(&xs.contiguous()?, weight, eps as f32)
}
