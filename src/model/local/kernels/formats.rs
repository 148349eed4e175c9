//! Block formats of the packed weights and of the quantized activations, the repacking of GGUF
//! blocks at load, dequantization of a row (embedding lookups and the reference), and the
//! portable dot products every SIMD path must agree with.
//!
//! Packed layouts (one row's blocks are contiguous; rows follow each other):
//! - 32-element formats keep GGUF's own block bytes: `Q4_0` `{d: f16, qs: [u8; 16]}`, `Q4_1`
//!   `{d, m: f16, qs}`, `Q5_0` `{d, qh: [u8; 4], qs}`, `Q5_1` `{d, m, qh, qs}`, `Q8_0`
//!   `{d, qs: [i8; 32]}`. They are already laid out for 16- and 32-byte loads.
//! - `Q4_K` and `Q5_K` unpack the twelve bytes of 6-bit sub-block scales and mins into sixteen
//!   bytes, so that no kernel decodes them again: `{d, dmin: f16, scales: [u8; 8], mins: [u8; 8],
//!   (qh: [u8; 32],) qs: [u8; 128]}` (148 and 180 bytes for GGUF's 144 and 176).
//! - `Q6_K` keeps GGUF's `{ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16}`.
//!
//! Every weight is `d * q + offset`, with `q` unsigned, so that each dot product is an integer
//! sum of unsigned weights times signed activations plus a correction from the activations'
//! block sums.

use half::f16;

/// The weight types the kernels multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Q4_0 => "Q4_0",
            Format::Q4_1 => "Q4_1",
            Format::Q5_0 => "Q5_0",
            Format::Q5_1 => "Q5_1",
            Format::Q8_0 => "Q8_0",
            Format::Q4K => "Q4_K",
            Format::Q5K => "Q5_K",
            Format::Q6K => "Q6_K",
        }
    }

    /// Elements per block.
    pub fn block_len(self) -> usize {
        if self.is_k() {
            256
        } else {
            32
        }
    }

    /// The super-block formats, whose activations are quantized per 256 elements.
    pub fn is_k(self) -> bool {
        matches!(self, Format::Q4K | Format::Q5K | Format::Q6K)
    }

    /// Bytes of one block in the GGUF file.
    pub fn gguf_block_bytes(self) -> usize {
        match self {
            Format::Q4_0 => 18,
            Format::Q4_1 => 20,
            Format::Q5_0 => 22,
            Format::Q5_1 => 24,
            Format::Q8_0 => 34,
            Format::Q4K => 144,
            Format::Q5K => 176,
            Format::Q6K => 210,
        }
    }

    /// Bytes of one packed block.
    pub fn block_bytes(self) -> usize {
        match self {
            Format::Q4K => 148,
            Format::Q5K => 180,
            other => other.gguf_block_bytes(),
        }
    }
}

pub(crate) fn f16_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// Unpacks GGUF's twelve bytes of 6-bit scales and mins (`get_scale_min_k4`).
fn unpack_k_scales(packed: &[u8]) -> ([u8; 8], [u8; 8]) {
    let (mut scales, mut mins) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        if j < 4 {
            scales[j] = packed[j] & 63;
            mins[j] = packed[j + 4] & 63;
        } else {
            scales[j] = (packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4);
            mins[j] = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
        }
    }
    (scales, mins)
}

/// Repacks one GGUF block into `out` (`format.block_bytes()` long).
pub(crate) fn repack_block(format: Format, block: &[u8], out: &mut [u8]) {
    match format {
        Format::Q4K | Format::Q5K => {
            out[..4].copy_from_slice(&block[..4]);
            let (scales, mins) = unpack_k_scales(&block[4..16]);
            out[4..12].copy_from_slice(&scales);
            out[12..20].copy_from_slice(&mins);
            out[20..].copy_from_slice(&block[16..]);
        }
        _ => out.copy_from_slice(block),
    }
}

/// Dequantizes one packed row of `cols` elements into `out`.
pub fn dequantize_row(format: Format, row: &[u8], out: &mut [f32]) {
    let bytes = format.block_bytes();
    let len = format.block_len();
    for (block, out) in row.chunks_exact(bytes).zip(out.chunks_exact_mut(len)) {
        let mut q = [0u8; 256];
        let weights = unpack_block(format, block, &mut q[..len]);
        for (i, value) in out.iter_mut().enumerate() {
            *value = weights.scale(i) * q[i] as f32 + weights.offset(i);
        }
    }
}

/// A block's scales, per element group: weight `i` is `scale(i) * q[i] + offset(i)`.
pub(crate) struct BlockScales {
    /// Elements per group (32, or 16 for `Q6_K`).
    group: usize,
    scales: [f32; 16],
    offsets: [f32; 16],
}

impl BlockScales {
    fn scale(&self, i: usize) -> f32 {
        self.scales[i / self.group]
    }

    fn offset(&self, i: usize) -> f32 {
        self.offsets[i / self.group]
    }
}

/// Unpacks a packed block's unsigned quants into `q` (in element order) and returns its scales.
pub(crate) fn unpack_block(format: Format, b: &[u8], q: &mut [u8]) -> BlockScales {
    let mut s = BlockScales {
        group: 32,
        scales: [0.0; 16],
        offsets: [0.0; 16],
    };
    let nibbles = |qs: &[u8], q: &mut [u8]| {
        for l in 0..16 {
            q[l] = qs[l] & 0xF;
            q[l + 16] = qs[l] >> 4;
        }
    };
    let high_bits = |qh: &[u8], q: &mut [u8]| {
        let bits = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
        for (i, v) in q.iter_mut().enumerate().take(32) {
            *v |= (((bits >> i) & 1) as u8) << 4;
        }
    };
    match format {
        Format::Q4_0 => {
            let d = f16_at(b, 0);
            nibbles(&b[2..18], q);
            (s.scales[0], s.offsets[0]) = (d, -8.0 * d);
        }
        Format::Q4_1 => {
            nibbles(&b[4..20], q);
            (s.scales[0], s.offsets[0]) = (f16_at(b, 0), f16_at(b, 2));
        }
        Format::Q5_0 => {
            let d = f16_at(b, 0);
            nibbles(&b[6..22], q);
            high_bits(&b[2..6], q);
            (s.scales[0], s.offsets[0]) = (d, -16.0 * d);
        }
        Format::Q5_1 => {
            nibbles(&b[8..24], q);
            high_bits(&b[4..8], q);
            (s.scales[0], s.offsets[0]) = (f16_at(b, 0), f16_at(b, 2));
        }
        Format::Q8_0 => {
            let d = f16_at(b, 0);
            for (v, &x) in q.iter_mut().zip(&b[2..34]) {
                *v = (x as i8 as i16 + 128) as u8;
            }
            (s.scales[0], s.offsets[0]) = (d, -128.0 * d);
        }
        Format::Q4K | Format::Q5K => {
            let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
            let (qh, qs) = if format == Format::Q5K {
                (Some(&b[20..52]), &b[52..180])
            } else {
                (None, &b[20..148])
            };
            for j in 0..4 {
                for l in 0..32 {
                    let byte = qs[32 * j + l];
                    let (mut lo, mut hi) = (byte & 0xF, byte >> 4);
                    if let Some(qh) = qh {
                        lo |= ((qh[l] >> (2 * j)) & 1) << 4;
                        hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
                    }
                    q[64 * j + l] = lo;
                    q[64 * j + 32 + l] = hi;
                }
            }
            for j in 0..8 {
                s.scales[j] = d * b[4 + j] as f32;
                s.offsets[j] = -dmin * b[12 + j] as f32;
            }
        }
        Format::Q6K => {
            s.group = 16;
            let (ql, qh, sc) = (&b[..128], &b[128..192], &b[192..208]);
            let d = f16_at(b, 208);
            for n in 0..2 {
                let (ql, qh) = (&ql[64 * n..], &qh[32 * n..]);
                for l in 0..32 {
                    let base = 128 * n + l;
                    q[base] = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
                    q[base + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
                    q[base + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                    q[base + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                }
            }
            for (j, &scale) in sc.iter().enumerate() {
                let scale = d * scale as i8 as f32;
                s.scales[j] = scale;
                s.offsets[j] = -32.0 * scale;
            }
        }
    }
    s
}

/// Activations of `rows` rows quantized to 8 bits, in the blocking a weight format reads.
///
/// Per block of `block` elements: a scale `d`; per group of `sum_group` elements, the sum of the
/// quants (`sums`), which carries the weights' offsets.
#[derive(Debug, Default)]
pub struct QuantizedActs {
    pub rows: usize,
    pub cols: usize,
    pub block: usize,
    pub sum_group: usize,
    pub qs: Vec<i8>,
    pub d: Vec<f32>,
    pub sums: Vec<i32>,
}

impl QuantizedActs {
    /// Quantizes `x` (`rows × cols`, row-major) for weights in `format`.
    pub fn quantize_into(&mut self, format: Format, x: &[f32], rows: usize, cols: usize) {
        let block = format.block_len();
        let sum_group = if format == Format::Q6K { 16 } else { 32 };
        self.rows = rows;
        self.cols = cols;
        self.block = block;
        self.sum_group = sum_group;
        self.qs.resize(rows * cols, 0);
        self.d.resize(rows * cols / block, 0.0);
        self.sums.resize(rows * cols / sum_group, 0);
        for ((xs, qs), d) in x
            .chunks_exact(block)
            .zip(self.qs.chunks_exact_mut(block))
            .zip(self.d.iter_mut())
        {
            let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            let inverse = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            for (q, &v) in qs.iter_mut().zip(xs) {
                *q = (v * inverse).round().clamp(-127.0, 127.0) as i8;
            }
            *d = scale;
        }
        for (qs, sum) in self.qs.chunks_exact(sum_group).zip(self.sums.iter_mut()) {
            *sum = qs.iter().map(|&q| q as i32).sum();
        }
    }

    pub fn row_qs(&self, row: usize) -> &[i8] {
        &self.qs[row * self.cols..(row + 1) * self.cols]
    }

    pub fn row_d(&self, row: usize) -> &[f32] {
        let n = self.cols / self.block;
        &self.d[row * n..(row + 1) * n]
    }

    pub fn row_sums(&self, row: usize) -> &[i32] {
        let n = self.cols / self.sum_group;
        &self.sums[row * n..(row + 1) * n]
    }
}

/// The portable dot product of one packed weight row with one quantized activation row: integer
/// sums per scale group, then the block's float scales. Every SIMD path computes the same sums.
pub fn dot_portable(format: Format, row: &[u8], acts: &QuantizedActs, act_row: usize) -> f32 {
    let (qs, d, sums) = (
        acts.row_qs(act_row),
        acts.row_d(act_row),
        acts.row_sums(act_row),
    );
    let len = format.block_len();
    let group = acts.sum_group;
    let groups_per_block = len / group;
    let mut q = [0u8; 256];
    let mut total = 0f32;
    for (b, block) in row.chunks_exact(format.block_bytes()).enumerate() {
        let scales = unpack_block(format, block, &mut q[..len]);
        let a = &qs[b * len..(b + 1) * len];
        let mut block_sum = 0f32;
        for g in 0..groups_per_block {
            let range = g * group..(g + 1) * group;
            let dot: i32 = q[range.clone()]
                .iter()
                .zip(&a[range])
                .map(|(&w, &x)| w as i32 * x as i32)
                .sum();
            let sum = sums[b * groups_per_block + g] as f32;
            block_sum += scales.scales[g] * dot as f32 + scales.offsets[g] * sum;
        }
        total += block_sum * d[b];
    }
    total
}
