//! Causal attention over the key/value cache on the CPU in f32, without copies: keys and values
//! are read in place from the cache's buffers, each row once per key/value head and block of
//! query rows for all the query heads that share it, on the kernels' thread pool. No score
//! matrix of the whole context is ever materialised beyond one block's rows.

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

/// Query rows handled together: each key and value row is read once per block.
const QUERY_BLOCK: usize = 8;

/// Causal attention of `count` new tokens at positions `cache.positions - count ..`:
/// `q` is `(heads, count, head_dim)`, `out` is `(count, heads · head_dim)`. Query `i` sees
/// positions up to its own. Work is split over (key/value head, block of query rows).
pub fn attend(
    q: &[f32],
    count: usize,
    cache: &CacheView<'_>,
    shape: &Heads,
    pool: &Pool,
    out: &mut [f32],
) {
    let Heads {
        heads,
        kv_heads,
        head_dim,
    } = *shape;
    let group = heads / kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let total = cache.positions;
    let offset = total - count;
    let blocks = count.div_ceil(QUERY_BLOCK);
    let out_ptr = SendPtr(out.as_mut_ptr());
    pool.run(&|index, threads| {
        let out_ptr = out_ptr;
        let mut scores = vec![0f32; group * QUERY_BLOCK * total];
        for item in (index..kv_heads * blocks).step_by(threads) {
            let (kv, block) = (item / blocks, item % blocks);
            let rows = block * QUERY_BLOCK..((block + 1) * QUERY_BLOCK).min(count);
            let visible = offset + rows.end;
            let keys = &cache.keys[kv * cache.head_stride..][..visible * head_dim];
            let values = &cache.values[kv * cache.head_stride..][..visible * head_dim];
            // (g, i) pairs of this block, and the positions each sees.
            let pairs: Vec<(usize, usize)> = (0..group)
                .flat_map(|g| rows.clone().map(move |i| (g, i)))
                .collect();
            let query = |g: usize, i: usize| {
                let head = kv * group + g;
                &q[(head * count + i) * head_dim..(head * count + i + 1) * head_dim]
            };
            for (p, key) in keys.chunks_exact(head_dim).enumerate() {
                for (slot, &(g, i)) in pairs.iter().enumerate() {
                    if p <= offset + i {
                        scores[slot * total + p] = dot(query(g, i), key) * scale;
                    }
                }
            }
            for (slot, &(g, i)) in pairs.iter().enumerate() {
                let row = &mut scores[slot * total..slot * total + offset + i + 1];
                let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0f32;
                for v in row.iter_mut() {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                let inverse = 1.0 / sum;
                row.iter_mut().for_each(|v| *v *= inverse);
                let head = kv * group + g;
                // SAFETY: each (head, query row) output is written by exactly one work item.
                let out = unsafe {
                    std::slice::from_raw_parts_mut(
                        out_ptr.0.add((i * heads + head) * head_dim),
                        head_dim,
                    )
                };
                out.fill(0.0);
            }
            for (p, value) in values.chunks_exact(head_dim).enumerate() {
                for (slot, &(g, i)) in pairs.iter().enumerate() {
                    if p <= offset + i {
                        let head = kv * group + g;
                        // SAFETY: as above.
                        let out = unsafe {
                            std::slice::from_raw_parts_mut(
                                out_ptr.0.add((i * heads + head) * head_dim),
                                head_dim,
                            )
                        };
                        axpy(scores[slot * total + p], value, out);
                    }
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
