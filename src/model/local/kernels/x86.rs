//! x86-64 kernels: AVX2 (with FMA and F16C) and AVX-512 VNNI (with BW and VL), chosen at run
//! time. One generic body per format is compiled twice, once inside each `target_feature`
//! entry point, so that the VNNI build fuses the integer multiply-adds (`vpdpbusd`,
//! `vpdpwssd`) and the AVX2 build uses `vpmaddubsw` + `vpmaddwd`.
//!
//! A tile is one weight row against up to four activation rows: each weight block is unpacked
//! into registers once and multiplied with every activation row of the tile, which is what
//! makes the batched (prefill) path compute bound rather than unpack bound.

#![allow(clippy::missing_safety_doc)]

use std::arch::x86_64::*;

use super::formats::Format;

/// One quantized activation row: quants, a scale per block, a quant sum per group.
#[derive(Clone, Copy)]
pub(crate) struct ActRow {
    pub qs: *const i8,
    pub d: *const f32,
    pub sums: *const i32,
}

impl ActRow {
    /// Every row of `acts`.
    pub(crate) fn all(acts: &super::QuantizedActs) -> Vec<ActRow> {
        (0..acts.rows)
            .map(|i| ActRow {
                qs: acts.row_qs(i).as_ptr(),
                d: acts.row_d(i).as_ptr(),
                sums: acts.row_sums(i).as_ptr(),
            })
            .collect()
    }
}

/// Each row's horizontal sum plus its scalar offset.
#[inline(always)]
unsafe fn finish<const NR: usize>(acc: [__m256; NR], offsets: [f32; NR]) -> [f32; NR] {
    let mut out = [0f32; NR];
    for r in 0..NR {
        out[r] = hsum(acc[r]) + offsets[r];
    }
    out
}

#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let hi = _mm256_extractf128_ps(v, 1);
    let s = _mm_add_ps(_mm256_castps256_ps128(v), hi);
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

#[inline(always)]
unsafe fn f16_load(p: *const u8) -> f32 {
    let bits = std::ptr::read_unaligned(p as *const u16);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// `Σ (u8 q) · (i8 a)` over groups of four bytes, added to `acc`.
#[inline(always)]
unsafe fn dot_u8i8<const VNNI: bool>(acc: __m256i, q: __m256i, a: __m256i) -> __m256i {
    if VNNI {
        _mm256_dpbusd_epi32(acc, q, a)
    } else {
        let pairs = _mm256_maddubs_epi16(q, a);
        _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }
}

/// `acc + Σ pairs(u8 q · i8 a) · scale` (i16 scales per lane pair).
#[inline(always)]
unsafe fn dot_scaled<const VNNI: bool>(
    acc: __m256i,
    q: __m256i,
    a: __m256i,
    scale: __m256i,
) -> __m256i {
    let pairs = _mm256_maddubs_epi16(q, a);
    if VNNI {
        _mm256_dpwssd_epi32(acc, pairs, scale)
    } else {
        _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, scale))
    }
}

/// 32 nibbles of 16 bytes: low nibbles are elements 0..16, high nibbles 16..32.
#[inline(always)]
unsafe fn nibbles32(p: *const u8) -> __m256i {
    let x = _mm_loadu_si128(p as *const __m128i);
    let m4 = _mm_set1_epi8(0xF);
    let lo = _mm_and_si128(x, m4);
    let hi = _mm_and_si128(_mm_srli_epi16(x, 4), m4);
    _mm256_set_m128i(hi, lo)
}

/// Adds 16 to every byte whose bit is set in the 32-bit `bits`.
#[inline(always)]
unsafe fn add_high_bits<const VNNI: bool>(q: __m256i, bits: u32) -> __m256i {
    if VNNI {
        _mm256_mask_add_epi8(q, bits, q, _mm256_set1_epi8(16))
    } else {
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(bits as i32),
            _mm256_setr_epi64x(
                0x0000000000000000,
                0x0101010101010101,
                0x0202020202020202,
                0x0303030303030303,
            ),
        );
        let probe = _mm256_or_si256(spread, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe_u64 as i64));
        let set = _mm256_cmpeq_epi8(probe, _mm256_set1_epi64x(-1));
        _mm256_or_si256(q, _mm256_and_si256(set, _mm256_set1_epi8(16)))
    }
}

/// A 32-element block format: its unsigned quants, scale and offset (`w = d·q + offset`).
trait Legacy {
    const BYTES: usize;
    unsafe fn unpack<const VNNI: bool>(block: *const u8) -> (__m256i, f32, f32);
}

struct Q40;
struct Q41;
struct Q50;
struct Q51;

impl Legacy for Q40 {
    const BYTES: usize = 18;
    #[inline(always)]
    unsafe fn unpack<const VNNI: bool>(b: *const u8) -> (__m256i, f32, f32) {
        let d = f16_load(b);
        (nibbles32(b.add(2)), d, -8.0 * d)
    }
}

impl Legacy for Q41 {
    const BYTES: usize = 20;
    #[inline(always)]
    unsafe fn unpack<const VNNI: bool>(b: *const u8) -> (__m256i, f32, f32) {
        (nibbles32(b.add(4)), f16_load(b), f16_load(b.add(2)))
    }
}

impl Legacy for Q50 {
    const BYTES: usize = 22;
    #[inline(always)]
    unsafe fn unpack<const VNNI: bool>(b: *const u8) -> (__m256i, f32, f32) {
        let d = f16_load(b);
        let bits = std::ptr::read_unaligned(b.add(2) as *const u32);
        (
            add_high_bits::<VNNI>(nibbles32(b.add(6)), bits),
            d,
            -16.0 * d,
        )
    }
}

impl Legacy for Q51 {
    const BYTES: usize = 24;
    #[inline(always)]
    unsafe fn unpack<const VNNI: bool>(b: *const u8) -> (__m256i, f32, f32) {
        let bits = std::ptr::read_unaligned(b.add(4) as *const u32);
        (
            add_high_bits::<VNNI>(nibbles32(b.add(8)), bits),
            f16_load(b),
            f16_load(b.add(2)),
        )
    }
}

#[inline(always)]
unsafe fn legacy_tile<L: Legacy, const NR: usize, const VNNI: bool>(
    w: *const u8,
    blocks: usize,
    acts: &[ActRow; NR],
) -> [f32; NR] {
    let mut acc = [_mm256_setzero_ps(); NR];
    let mut offsets = [0f32; NR];
    for b in 0..blocks {
        let (q, d, offset) = L::unpack::<VNNI>(w.add(b * L::BYTES));
        for r in 0..NR {
            let a = _mm256_loadu_si256(acts[r].qs.add(b * 32) as *const __m256i);
            let sums = dot_u8i8::<VNNI>(_mm256_setzero_si256(), q, a);
            let da = *acts[r].d.add(b);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(d * da), acc[r]);
            offsets[r] += offset * da * *acts[r].sums.add(b) as f32;
        }
    }
    finish(acc, offsets)
}

/// Q8_0: signed weights. The VNNI build shifts them to unsigned (offset −128·d); the AVX2 build
/// moves their signs onto the activations, since `vpmaddubsw` would saturate on 255 · 127 · 2.
#[inline(always)]
unsafe fn q8_0_tile<const NR: usize, const VNNI: bool>(
    w: *const u8,
    blocks: usize,
    acts: &[ActRow; NR],
) -> [f32; NR] {
    let mut acc = [_mm256_setzero_ps(); NR];
    let mut offsets = [0f32; NR];
    for b in 0..blocks {
        let block = w.add(b * 34);
        let d = f16_load(block);
        let signed = _mm256_loadu_si256(block.add(2) as *const __m256i);
        let unsigned = if VNNI {
            _mm256_xor_si256(signed, _mm256_set1_epi8(-128))
        } else {
            _mm256_sign_epi8(signed, signed)
        };
        for r in 0..NR {
            let a = _mm256_loadu_si256(acts[r].qs.add(b * 32) as *const __m256i);
            let da = *acts[r].d.add(b);
            let sums = if VNNI {
                offsets[r] -= 128.0 * d * da * *acts[r].sums.add(b) as f32;
                _mm256_dpbusd_epi32(_mm256_setzero_si256(), unsigned, a)
            } else {
                dot_u8i8::<false>(
                    _mm256_setzero_si256(),
                    unsigned,
                    _mm256_sign_epi8(a, signed),
                )
            };
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(d * da), acc[r]);
        }
    }
    finish(acc, offsets)
}

/// Q4_K and Q5_K (packed: d, dmin, 8 scales, 8 mins, [32 high bits,] 128 nibble bytes).
#[inline(always)]
unsafe fn q45k_tile<const NR: usize, const VNNI: bool, const FIVE: bool>(
    w: *const u8,
    blocks: usize,
    acts: &[ActRow; NR],
) -> [f32; NR] {
    let bytes = if FIVE { 180 } else { 148 };
    let m4 = _mm256_set1_epi8(0xF);
    let one = _mm256_set1_epi8(1);
    let mut acc = [_mm256_setzero_ps(); NR];
    for b in 0..blocks {
        let block = w.add(b * bytes);
        let d = f16_load(block);
        let dmin = f16_load(block.add(2));
        let scales = block.add(4);
        let mins = _mm256_cvtepu8_epi32(_mm_loadl_epi64(block.add(12) as *const __m128i));
        let qs = block.add(if FIVE { 52 } else { 20 });
        let mut high = if FIVE {
            _mm256_loadu_si256(block.add(20) as *const __m256i)
        } else {
            _mm256_setzero_si256()
        };
        let mut sums = [_mm256_setzero_si256(); NR];
        for j in 0..4 {
            let raw = _mm256_loadu_si256(qs.add(32 * j) as *const __m256i);
            let mut lo = _mm256_and_si256(raw, m4);
            let mut hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            if FIVE {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(high, one), 4));
                hi = _mm256_or_si256(
                    hi,
                    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 1), one), 4),
                );
                high = _mm256_srli_epi16(high, 2);
            }
            let s_lo = _mm256_set1_epi16(*scales.add(2 * j) as i16);
            let s_hi = _mm256_set1_epi16(*scales.add(2 * j + 1) as i16);
            for r in 0..NR {
                let a = acts[r].qs.add(b * 256 + 64 * j);
                let a_lo = _mm256_loadu_si256(a as *const __m256i);
                let a_hi = _mm256_loadu_si256(a.add(32) as *const __m256i);
                sums[r] = dot_scaled::<VNNI>(sums[r], lo, a_lo, s_lo);
                sums[r] = dot_scaled::<VNNI>(sums[r], hi, a_hi, s_hi);
            }
        }
        for r in 0..NR {
            let da = *acts[r].d.add(b);
            let group_sums = _mm256_loadu_si256(acts[r].sums.add(b * 8) as *const __m256i);
            let min_sums = _mm256_mullo_epi32(mins, group_sums);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[r]), _mm256_set1_ps(d * da), acc[r]);
            acc[r] = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(min_sums),
                _mm256_set1_ps(-dmin * da),
                acc[r],
            );
        }
    }
    finish(acc, [0.0; NR])
}

/// Bits `SHIFT..SHIFT + 2` of each byte of `qh`, moved to bits 4 and 5.
#[inline(always)]
unsafe fn q6_high<const SHIFT: i32>(qh: __m256i, m3: __m256i) -> __m256i {
    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, SHIFT), m3), 4)
}

/// Q6_K (GGUF's layout: ql, qh, 16 signed scales, d); quants are `q6 − 32`.
#[inline(always)]
unsafe fn q6k_tile<const NR: usize, const VNNI: bool>(
    w: *const u8,
    blocks: usize,
    acts: &[ActRow; NR],
) -> [f32; NR] {
    let m4 = _mm256_set1_epi8(0xF);
    let m3 = _mm256_set1_epi8(3);
    let mut acc = [_mm256_setzero_ps(); NR];
    for b in 0..blocks {
        let block = w.add(b * 210);
        let d = f16_load(block.add(208));
        let scales = block.add(192) as *const i8;
        let mut sums = [_mm256_setzero_si256(); NR];
        for n in 0..2 {
            let ql0 = _mm256_loadu_si256(block.add(64 * n) as *const __m256i);
            let ql1 = _mm256_loadu_si256(block.add(64 * n + 32) as *const __m256i);
            let qh = _mm256_loadu_si256(block.add(128 + 32 * n) as *const __m256i);
            let quants = [
                _mm256_or_si256(_mm256_and_si256(ql0, m4), q6_high::<0>(qh, m3)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), q6_high::<2>(qh, m3)),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                    q6_high::<4>(qh, m3),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                    q6_high::<6>(qh, m3),
                ),
            ];
            for (k, q) in quants.into_iter().enumerate() {
                let g = 8 * n + 2 * k;
                let scale = _mm256_set_m128i(
                    _mm_set1_epi16(*scales.add(g + 1) as i16),
                    _mm_set1_epi16(*scales.add(g) as i16),
                );
                for r in 0..NR {
                    let a = _mm256_loadu_si256(
                        acts[r].qs.add(b * 256 + 128 * n + 32 * k) as *const __m256i
                    );
                    sums[r] = dot_scaled::<VNNI>(sums[r], q, a, scale);
                }
            }
        }
        let sc_lo = _mm256_cvtepi8_epi32(_mm_loadl_epi64(scales as *const __m128i));
        let sc_hi = _mm256_cvtepi8_epi32(_mm_loadl_epi64(scales.add(8) as *const __m128i));
        for r in 0..NR {
            let group = acts[r].sums.add(b * 16);
            let offs = _mm256_add_epi32(
                _mm256_mullo_epi32(sc_lo, _mm256_loadu_si256(group as *const __m256i)),
                _mm256_mullo_epi32(sc_hi, _mm256_loadu_si256(group.add(8) as *const __m256i)),
            );
            let total = _mm256_sub_epi32(sums[r], _mm256_slli_epi32(offs, 5));
            let da = *acts[r].d.add(b);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_set1_ps(d * da), acc[r]);
        }
    }
    finish(acc, [0.0; NR])
}

#[inline(always)]
unsafe fn tile<const NR: usize, const VNNI: bool>(
    format: Format,
    w: *const u8,
    blocks: usize,
    acts: &[ActRow; NR],
) -> [f32; NR] {
    match format {
        Format::Q4_0 => legacy_tile::<Q40, NR, VNNI>(w, blocks, acts),
        Format::Q4_1 => legacy_tile::<Q41, NR, VNNI>(w, blocks, acts),
        Format::Q5_0 => legacy_tile::<Q50, NR, VNNI>(w, blocks, acts),
        Format::Q5_1 => legacy_tile::<Q51, NR, VNNI>(w, blocks, acts),
        Format::Q8_0 => q8_0_tile::<NR, VNNI>(w, blocks, acts),
        Format::Q4K => q45k_tile::<NR, VNNI, false>(w, blocks, acts),
        Format::Q5K => q45k_tile::<NR, VNNI, true>(w, blocks, acts),
        Format::Q6K => q6k_tile::<NR, VNNI>(w, blocks, acts),
    }
}

/// The rows `rows` of the product: `out[m · out_stride + row]` for every activation row `m`.
pub(crate) struct Span<'a> {
    pub format: Format,
    pub weights: &'a [u8],
    pub row_bytes: usize,
    pub blocks: usize,
    pub acts: &'a [ActRow],
    pub out: *mut f32,
    pub out_stride: usize,
}

/// Activation rows per pass over a thread's weight rows: their quants stay in L2 meanwhile.
const ACT_BLOCK: usize = 64;

#[inline(always)]
unsafe fn span_body<const VNNI: bool>(span: &Span<'_>, rows: std::ops::Range<usize>) {
    let m = span.acts.len();
    for m0 in (0..m).step_by(ACT_BLOCK) {
        let m1 = (m0 + ACT_BLOCK).min(m);
        for row in rows.clone() {
            let w = span.weights.as_ptr().add(row * span.row_bytes);
            let mut i = m0;
            while i + 4 <= m1 {
                let acts = [
                    span.acts[i],
                    span.acts[i + 1],
                    span.acts[i + 2],
                    span.acts[i + 3],
                ];
                let values = tile::<4, VNNI>(span.format, w, span.blocks, &acts);
                for (k, v) in values.into_iter().enumerate() {
                    *span.out.add((i + k) * span.out_stride + row) = v;
                }
                i += 4;
            }
            match m1 - i {
                3 => {
                    let acts = [span.acts[i], span.acts[i + 1], span.acts[i + 2]];
                    let values = tile::<3, VNNI>(span.format, w, span.blocks, &acts);
                    for (k, v) in values.into_iter().enumerate() {
                        *span.out.add((i + k) * span.out_stride + row) = v;
                    }
                }
                2 => {
                    let acts = [span.acts[i], span.acts[i + 1]];
                    let values = tile::<2, VNNI>(span.format, w, span.blocks, &acts);
                    for (k, v) in values.into_iter().enumerate() {
                        *span.out.add((i + k) * span.out_stride + row) = v;
                    }
                }
                1 => {
                    let values = tile::<1, VNNI>(span.format, w, span.blocks, &[span.acts[i]]);
                    *span.out.add(i * span.out_stride + row) = values[0];
                }
                _ => {}
            }
        }
    }
}

/// # Safety
/// The CPU has AVX2, FMA and F16C; `span` describes valid buffers.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn span_avx2(span: &Span<'_>, rows: std::ops::Range<usize>) {
    span_body::<false>(span, rows)
}

/// # Safety
/// The CPU has AVX2, FMA, F16C and AVX-512 F, BW, VL and VNNI; `span` describes valid buffers.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn span_avx512vnni(span: &Span<'_>, rows: std::ops::Range<usize>) {
    span_body::<true>(span, rows)
}
