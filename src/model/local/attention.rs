//! Attention of one new token over the key/value cache on the CPU in f32, without copies: keys
//! and values are read in place from the cache's buffers, each row once for all the query heads
//! that share it, on the kernels' thread pool.

use super::kernels::pool::Pool;
use super::kernels::SendPtr;

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

/// Attention of one new token (`q` is `heads × head_dim`), split over the pool by ranges of
/// positions rather than by heads, so that every thread has the same share whatever the number
/// of key/value heads; each range's softmax is merged through its maximum and sum.
pub fn decode(q: &[f32], cache: &CacheView<'_>, shape: &Heads, pool: &Pool, out: &mut [f32]) {
    let Heads {
        heads,
        kv_heads,
        head_dim,
    } = *shape;
    let group = heads / kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let positions = cache.positions;
    let threads = pool.threads();
    // Per thread and head: the range's maximum score, its sum of exponentials, and the
    // unnormalised weighted sum of values.
    let stride = head_dim + 2;
    let mut partials = vec![0f32; threads * heads * stride];
    let partials_ptr = SendPtr(partials.as_mut_ptr());
    pool.run(&|index, threads| {
        let per = positions.div_ceil(threads);
        let range = (index * per).min(positions)..((index + 1) * per).min(positions);
        // SAFETY: each thread writes only its own slice of the partials.
        let mine = unsafe {
            std::slice::from_raw_parts_mut(
                partials_ptr.get().add(index * heads * stride),
                heads * stride,
            )
        };
        let mut scores = vec![0f32; group * range.len()];
        for kv in 0..kv_heads {
            let base = kv * cache.head_stride;
            let keys = &cache.keys[base + range.start * head_dim..base + range.end * head_dim];
            let values = &cache.values[base + range.start * head_dim..base + range.end * head_dim];
            let queries = &q[kv * group * head_dim..(kv + 1) * group * head_dim];
            for (p, key) in keys.chunks_exact(head_dim).enumerate() {
                for (g, query) in queries.chunks_exact(head_dim).enumerate() {
                    scores[g * range.len() + p] = dot(query, key) * scale;
                }
            }
            for g in 0..group {
                let part = &mut mine[(kv * group + g) * stride..][..stride];
                let row = &mut scores[g * range.len()..(g + 1) * range.len()];
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0f32;
                for v in row.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                part[0] = max;
                part[1] = sum;
                let acc = &mut part[2..];
                acc.fill(0.0);
                for (weight, value) in row.iter().zip(values.chunks_exact(head_dim)) {
                    axpy(*weight, value, acc);
                }
            }
        }
    });
    for head in 0..heads {
        let parts: Vec<&[f32]> = (0..threads)
            .map(|t| &partials[(t * heads + head) * stride..][..stride])
            .filter(|part| part[1] > 0.0)
            .collect();
        let max = parts.iter().fold(f32::NEG_INFINITY, |m, p| m.max(p[0]));
        let out = &mut out[head * head_dim..(head + 1) * head_dim];
        out.fill(0.0);
        let mut total = 0f32;
        for part in &parts {
            let weight = (part[0] - max).exp();
            total += weight * part[1];
            axpy(weight, &part[2..], out);
        }
        let inverse = 1.0 / total;
        out.iter_mut().for_each(|v| *v *= inverse);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward causal attention, one (head, query) at a time.
    fn reference(q: &[f32], count: usize, cache: &CacheView<'_>, shape: &Heads) -> Vec<f32> {
        let (heads, d) = (shape.heads, shape.head_dim);
        let group = heads / shape.kv_heads;
        let offset = cache.positions - count;
        let mut out = vec![0f32; count * heads * d];
        for head in 0..heads {
            let kv = head / group;
            for i in 0..count {
                let query = &q[(head * count + i) * d..][..d];
                let visible = offset + i + 1;
                let scores: Vec<f64> = (0..visible)
                    .map(|p| {
                        let key = &cache.keys[kv * cache.head_stride + p * d..][..d];
                        query
                            .iter()
                            .zip(key)
                            .map(|(a, b)| (a * b) as f64)
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for (p, w) in weights.iter().enumerate() {
                    let value = &cache.values[kv * cache.head_stride + p * d..][..d];
                    for k in 0..d {
                        out[(i * heads + head) * d + k] += (w / total * value[k] as f64) as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_plain_attention_whatever_the_split_over_threads() {
        let shape = Heads {
            heads: 6,
            kv_heads: 2,
            head_dim: 40,
        };
        // A cache buffer with room for 64 positions; `positions` of them are filled.
        let capacity = 64;
        let wave = |i: usize, salt: f32| (i as f32 * 0.37 + salt).sin() * 1.7;
        let keys: Vec<f32> = (0..2 * capacity * 40).map(|i| wave(i, 0.1)).collect();
        let values: Vec<f32> = (0..2 * capacity * 40).map(|i| wave(i, 2.3)).collect();
        let q: Vec<f32> = (0..6 * 40).map(|i| wave(i, 4.0)).collect();
        // More threads than positions leaves some threads an empty range.
        for (positions, threads) in [(37, 1), (37, 3), (37, 40), (1, 2), (64, 2)] {
            let cache = CacheView {
                keys: &keys,
                values: &values,
                head_stride: capacity * 40,
                positions,
            };
            let mut out = vec![f32::NAN; 6 * 40];
            decode(&q, &cache, &shape, &Pool::new(threads), &mut out);
            let expected = reference(&q, 1, &cache, &shape);
            let worst = out
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-4,
                "{positions} positions, threads {threads}: {worst}"
            );
        }
    }
}
