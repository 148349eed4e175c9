//! Attention of one new token over the key/value cache, on the CPU in f32, without copies: keys
//! and values are read in place from the cache's buffers, each key and value row once per
//! key/value head for all the query heads that share it, on the kernels' thread pool.

use super::kernels::pool::Pool;

/// Where the cache's rows are: element `(head, position, dim)` of keys (values) is at
/// `head * head_stride + position * head_dim + dim`.
pub struct CacheView<'a> {
    pub keys: &'a [f32],
    pub values: &'a [f32],
    pub head_stride: usize,
    pub positions: usize,
}

pub struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let (a_chunks, b_chunks) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..16 {
            lanes[i] = x[i].mul_add(y[i], lanes[i]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[inline]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y = x.mul_add(alpha, *y);
    }
}

/// `out[head · head_dim ..]` = softmax(q·Kᵀ / √d) · V for every query head of `q`
/// (`heads × head_dim`), over the first `cache.positions` positions.
pub fn decode(q: &[f32], cache: &CacheView<'_>, shape: &Heads, pool: &Pool, out: &mut [f32]) {
    let Heads {
        heads,
        kv_heads,
        head_dim,
    } = *shape;
    let group = heads / kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let positions = cache.positions;
    let out_ptr = SendPtr(out.as_mut_ptr());
    pool.run(&|index, threads| {
        let out_ptr = out_ptr;
        let mut scores = vec![0f32; group * positions];
        for kv in (index..kv_heads).step_by(threads) {
            let keys = &cache.keys[kv * cache.head_stride..][..positions * head_dim];
            let values = &cache.values[kv * cache.head_stride..][..positions * head_dim];
            let queries = &q[kv * group * head_dim..(kv + 1) * group * head_dim];
            for (p, key) in keys.chunks_exact(head_dim).enumerate() {
                for (g, query) in queries.chunks_exact(head_dim).enumerate() {
                    scores[g * positions + p] = dot(query, key) * scale;
                }
            }
            // SAFETY: each key/value head writes only the outputs of its own query heads.
            let out = unsafe {
                std::slice::from_raw_parts_mut(
                    out_ptr.0.add(kv * group * head_dim),
                    group * head_dim,
                )
            };
            out.fill(0.0);
            for (g, row) in scores.chunks_exact_mut(positions).enumerate() {
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut total = 0f32;
                for v in row.iter_mut() {
                    *v = (*v - max).exp();
                    total += *v;
                }
                let inverse = 1.0 / total;
                let out = &mut out[g * head_dim..(g + 1) * head_dim];
                for (weight, value) in row.iter().zip(values.chunks_exact(head_dim)) {
                    axpy(weight * inverse, value, out);
                }
            }
        }
    });
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: threads write disjoint head ranges while the owner waits.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
