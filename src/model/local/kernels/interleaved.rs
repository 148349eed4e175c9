//! The interleaved layout of the AVX-512 VNNI path: sixteen weight rows side by side, so that one
//! `vpdpbusd` multiplies four input values of sixteen rows at once against four activation
//! bytes broadcast to every lane. Its sixteen lanes are the sixteen rows' partial sums, so no
//! horizontal reduction is ever needed, and per-row scales are vectors too.
//!
//! Per group of 16 rows and per block of 32 inputs (sub-block, for the K formats), the quants of
//! eight inputs `8g..8g+8` of the 16 rows fill 64 bytes: byte `4·row + j` holds input `8g + j` in
//! its low nibble and input `8g + 4 + j` in its high nibble (Q8_0: four inputs per 64 bytes, one
//! byte each, stored as `q + 128`). A fifth bit (Q5 formats) or fifth and sixth bits (Q6_K) are
//! bit masks over those 64 bytes, which AVX-512 BW adds in with masked byte adds.
//!
//! A tile of 16 rows and one block of 32 inputs, in order:
//! - Q4_0 `d[16]`, Q4_1 `d[16] m[16]` (f16), Q5_0 `d[16] qh[4][2]` (u64 masks), Q5_1 `d m qh`,
//!   then `qs[4][64]`; Q8_0 `d[16] qs[8][64]`;
//! - per 256 inputs: Q4_K `d[16] dmin[16] scales[8][16] mins[8][16] qs[8][4][64]`, Q5_K the same
//!   plus `qh[8][4][2]` before `qs`, Q6_K `d[16] scales[16][16] (i8) qh[8][4][4] qs[8][4][64]`.
//!
//! Every tile has the bytes of 16 row-layout blocks, so interleaving costs no memory.

use super::formats::{f16_at, unpack_block, Format};

pub const ROWS: usize = 16;

/// Bytes of one tile: 16 rows × one block.
pub fn tile_bytes(format: Format) -> usize {
    ROWS * format.block_bytes()
}

/// Header fields of one row's block, as integers.
struct Raw {
    d: u16,
    m: u16,
    scales: [u8; 16],
    mins: [u8; 8],
}

fn raw_header(format: Format, block: &[u8]) -> Raw {
    let u16_at = |at: usize| u16::from_le_bytes([block[at], block[at + 1]]);
    let mut raw = Raw {
        d: 0,
        m: 0,
        scales: [0; 16],
        mins: [0; 8],
    };
    match format {
        Format::Q4_0 | Format::Q5_0 | Format::Q8_0 => raw.d = u16_at(0),
        Format::Q4_1 | Format::Q5_1 => (raw.d, raw.m) = (u16_at(0), u16_at(2)),
        Format::Q4K | Format::Q5K => {
            (raw.d, raw.m) = (u16_at(0), u16_at(2));
            raw.scales[..8].copy_from_slice(&block[4..12]);
            raw.mins.copy_from_slice(&block[12..20]);
        }
        Format::Q6K => {
            raw.d = u16_at(208);
            raw.scales.copy_from_slice(&block[192..208]);
        }
    }
    raw
}

/// Offsets inside a tile: (header bytes, high-bit bytes per 32 inputs, quant bytes per 32).
fn tile_parts(format: Format) -> (usize, usize, usize) {
    match format {
        Format::Q4_0 => (32, 0, 256),
        Format::Q4_1 => (64, 0, 256),
        Format::Q5_0 => (32, 64, 256),
        Format::Q5_1 => (64, 64, 256),
        Format::Q8_0 => (32, 0, 512),
        Format::Q4K => (64 + 256, 0, 256),
        Format::Q5K => (64 + 256, 64, 256),
        Format::Q6K => (32 + 256, 128, 256),
    }
}

/// Writes one tile from the row-layout blocks of up to 16 rows (missing rows are zeros).
pub fn write_tile(format: Format, blocks: &[&[u8]], tile: &mut [u8]) {
    tile.fill(0);
    let len = format.block_len();
    let (header, high, quants) = tile_parts(format);
    let subs = len / 32;
    let mut q = [[0u8; 256]; ROWS];
    for (row, block) in blocks.iter().enumerate() {
        unpack_block(format, block, &mut q[row][..len]);
        let raw = raw_header(format, block);
        tile[2 * row..2 * row + 2].copy_from_slice(&raw.d.to_le_bytes());
        match format {
            Format::Q4_1 | Format::Q5_1 | Format::Q4K | Format::Q5K => {
                tile[32 + 2 * row..34 + 2 * row].copy_from_slice(&raw.m.to_le_bytes());
            }
            _ => {}
        }
        if matches!(format, Format::Q4K | Format::Q5K) {
            for j in 0..8 {
                tile[64 + 16 * j + row] = raw.scales[j];
                tile[64 + 128 + 16 * j + row] = raw.mins[j];
            }
        }
        if format == Format::Q6K {
            for j in 0..16 {
                tile[32 + 16 * j + row] = raw.scales[j];
            }
        }
    }
    // Masks per group: [bit4 lo, bit4 hi] (Q5) or [bit4 lo, bit4 hi, bit5 lo, bit5 hi] (Q6_K),
    // each a little-endian u64 over the group's 64 bytes.
    let masks = high / 32;
    for sub in 0..subs {
        let quant_start = header + subs * high + sub * quants;
        if format == Format::Q8_0 {
            for c in 0..8 {
                for (row, q) in q.iter().enumerate() {
                    let at = quant_start + 64 * c + 4 * row;
                    tile[at..at + 4].copy_from_slice(&q[4 * c..4 * c + 4]);
                }
            }
            continue;
        }
        for g in 0..4 {
            let mut bits = [0u64; 4];
            for (row, q) in q.iter().enumerate() {
                for j in 0..4 {
                    let (lo, hi) = (q[32 * sub + 8 * g + j], q[32 * sub + 8 * g + 4 + j]);
                    tile[quant_start + 64 * g + 4 * row + j] = (lo & 0xF) | ((hi & 0xF) << 4);
                    let bit = 4 * row + j;
                    bits[0] |= u64::from((lo >> 4) & 1) << bit;
                    bits[1] |= u64::from((hi >> 4) & 1) << bit;
                    bits[2] |= u64::from((lo >> 5) & 1) << bit;
                    bits[3] |= u64::from((hi >> 5) & 1) << bit;
                }
            }
            let base = header + sub * high + g * masks * 8;
            for (mask, value) in bits.iter().take(masks).enumerate() {
                tile[base + 8 * mask..base + 8 * mask + 8].copy_from_slice(&value.to_le_bytes());
            }
        }
    }
}

/// Row `row` (0..16) of a tile, dequantized into `out` (one block long).
pub fn dequantize_tile_row(format: Format, tile: &[u8], row: usize, out: &mut [f32]) {
    let len = format.block_len();
    let (header, high, quants) = tile_parts(format);
    let subs = len / 32;
    let mut q = [0u8; 256];
    for sub in 0..subs {
        let q = &mut q[32 * sub..32 * sub + 32];
        let quant_start = header + subs * high + sub * quants;
        if format == Format::Q8_0 {
            for c in 0..8 {
                for j in 0..4 {
                    q[4 * c + j] = tile[quant_start + 64 * c + 4 * row + j];
                }
            }
            continue;
        }
        let masks = high / 32;
        for g in 0..4 {
            for j in 0..4 {
                let byte = tile[quant_start + 64 * g + 4 * row + j];
                let (mut lo, mut hi) = (byte & 0xF, byte >> 4);
                let bit = 4 * row + j;
                let base = header + sub * high + g * masks * 8;
                let get = |mask: usize| (tile[base + 8 * mask + bit / 8] >> (bit % 8)) & 1;
                if masks >= 2 {
                    lo |= get(0) << 4;
                    hi |= get(1) << 4;
                }
                if masks == 4 {
                    lo |= get(2) << 5;
                    hi |= get(3) << 5;
                }
                q[8 * g + j] = lo;
                q[8 * g + 4 + j] = hi;
            }
        }
    }
    let d = f16_at(tile, 2 * row);
    let m = f16_at(tile, 32 + 2 * row);
    for (i, value) in out.iter_mut().enumerate().take(len) {
        let q = q[i] as f32;
        *value = match format {
            Format::Q4_0 => d * (q - 8.0),
            Format::Q5_0 => d * (q - 16.0),
            Format::Q8_0 => d * (q - 128.0),
            Format::Q4_1 | Format::Q5_1 => d * q + m,
            Format::Q4K | Format::Q5K => {
                let j = i / 32;
                d * tile[64 + 16 * j + row] as f32 * q - m * tile[64 + 128 + 16 * j + row] as f32
            }
            Format::Q6K => d * (tile[32 + 16 * (i / 16) + row] as i8 as f32) * (q - 32.0),
        };
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    //! The AVX-512 VNNI kernels over interleaved tiles.

    use std::arch::x86_64::*;

    use super::super::formats::Format;
    use super::super::x86::ActRow;
    use super::{tile_bytes, tile_parts, ROWS};

    /// How far ahead of the quants being read the kernels prefetch.
    const PREFETCH: usize = 4096;

    #[inline(always)]
    unsafe fn bcast4(p: *const i8) -> __m512i {
        _mm512_set1_epi32(std::ptr::read_unaligned(p as *const i32))
    }

    #[inline(always)]
    unsafe fn halves(p: *const u8) -> __m512 {
        _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
    }

    #[inline(always)]
    unsafe fn bytes_i32(p: *const u8) -> __m512i {
        _mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i))
    }

    #[inline(always)]
    unsafe fn mask_at(p: *const u8, index: usize) -> u64 {
        std::ptr::read_unaligned((p as *const u64).add(index))
    }

    /// The two weight vectors of group `g` (inputs `8g..8g+4` and `8g+4..8g+8`) of a 32-input
    /// part whose nibbles start at `qs` and high-bit masks at `qh` (`MASKS` per group).
    #[inline(always)]
    unsafe fn nibble_group<const MASKS: usize>(
        qs: *const u8,
        qh: *const u8,
        g: usize,
    ) -> (__m512i, __m512i) {
        let m4 = _mm512_set1_epi8(0xF);
        // Decode reads weights once, from memory: asking for lines a few tiles ahead keeps more
        // misses in flight than the hardware prefetcher alone.
        _mm_prefetch::<_MM_HINT_T0>(qs.add(64 * g + PREFETCH) as *const i8);
        let raw = _mm512_loadu_si512(qs.add(64 * g) as *const _);
        let mut lo = _mm512_and_si512(raw, m4);
        let mut hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
        if MASKS >= 2 {
            let masks = qh.add(g * MASKS * 8);
            let sixteen = _mm512_set1_epi8(16);
            lo = _mm512_mask_add_epi8(lo, mask_at(masks, 0), lo, sixteen);
            hi = _mm512_mask_add_epi8(hi, mask_at(masks, 1), hi, sixteen);
            if MASKS == 4 {
                let thirty_two = _mm512_set1_epi8(32);
                lo = _mm512_mask_add_epi8(lo, mask_at(masks, 2), lo, thirty_two);
                hi = _mm512_mask_add_epi8(hi, mask_at(masks, 3), hi, thirty_two);
            }
        }
        (lo, hi)
    }

    /// Integer sums of 32 inputs (starting at input `at` of each activation row) for 16 rows.
    #[inline(always)]
    unsafe fn sums32<const NR: usize, const MASKS: usize>(
        qs: *const u8,
        qh: *const u8,
        acts: &[ActRow; NR],
        at: usize,
        groups: std::ops::Range<usize>,
        sums: &mut [__m512i; NR],
    ) {
        for g in groups {
            let (lo, hi) = nibble_group::<MASKS>(qs, qh, g);
            for r in 0..NR {
                let a = acts[r].qs.add(at + 8 * g);
                sums[r] = _mm512_dpbusd_epi32(sums[r], lo, bcast4(a));
                sums[r] = _mm512_dpbusd_epi32(sums[r], hi, bcast4(a.add(4)));
            }
        }
    }

    #[inline(always)]
    unsafe fn legacy<const NR: usize>(
        format: Format,
        tiles: *const u8,
        blocks: usize,
        acts: &[ActRow; NR],
    ) -> [__m512; NR] {
        let (header, high, _) = tile_parts(format);
        let bytes = tile_bytes(format);
        let mut acc = [_mm512_setzero_ps(); NR];
        for b in 0..blocks {
            let tile = tiles.add(b * bytes);
            let d = halves(tile);
            let mut sums = [_mm512_setzero_si512(); NR];
            let qs = tile.add(header + high);
            match format {
                Format::Q8_0 => {
                    for c in 0..8 {
                        _mm_prefetch::<_MM_HINT_T0>(qs.add(64 * c + PREFETCH) as *const i8);
                        let w = _mm512_loadu_si512(qs.add(64 * c) as *const _);
                        for r in 0..NR {
                            let a = bcast4(acts[r].qs.add(32 * b + 4 * c));
                            sums[r] = _mm512_dpbusd_epi32(sums[r], w, a);
                        }
                    }
                }
                Format::Q5_0 | Format::Q5_1 => {
                    sums32::<NR, 2>(qs, tile.add(header), acts, 32 * b, 0..4, &mut sums)
                }
                _ => sums32::<NR, 0>(qs, qs, acts, 32 * b, 0..4, &mut sums),
            }
            let shift = match format {
                Format::Q4_0 => -8.0,
                Format::Q5_0 => -16.0,
                Format::Q8_0 => -128.0,
                _ => 0.0,
            };
            for r in 0..NR {
                let da = *acts[r].d.add(b);
                let s = da * *acts[r].sums.add(b) as f32;
                let v = _mm512_fmadd_ps(
                    _mm512_cvtepi32_ps(sums[r]),
                    _mm512_set1_ps(da),
                    _mm512_set1_ps(shift * s),
                );
                acc[r] = _mm512_fmadd_ps(v, d, acc[r]);
                if matches!(format, Format::Q4_1 | Format::Q5_1) {
                    acc[r] = _mm512_fmadd_ps(halves(tile.add(32)), _mm512_set1_ps(s), acc[r]);
                }
            }
        }
        acc
    }

    #[inline(always)]
    unsafe fn q45k<const NR: usize, const MASKS: usize>(
        tiles: *const u8,
        blocks: usize,
        acts: &[ActRow; NR],
    ) -> [__m512; NR] {
        let bytes = if MASKS == 2 {
            tile_bytes(Format::Q5K)
        } else {
            tile_bytes(Format::Q4K)
        };
        let mut acc = [_mm512_setzero_ps(); NR];
        for b in 0..blocks {
            let tile = tiles.add(b * bytes);
            let (qh, qs) = (tile.add(320), tile.add(320 + 64 * MASKS / 2 * 8));
            let mut total = [_mm512_setzero_si512(); NR];
            let mut min_total = [_mm512_setzero_si512(); NR];
            for sub in 0..8 {
                let mut sums = [_mm512_setzero_si512(); NR];
                sums32::<NR, MASKS>(
                    qs.add(256 * sub),
                    qh.add(64 * sub),
                    acts,
                    256 * b + 32 * sub,
                    0..4,
                    &mut sums,
                );
                let scale = bytes_i32(tile.add(64 + 16 * sub));
                let min = bytes_i32(tile.add(192 + 16 * sub));
                for r in 0..NR {
                    total[r] = _mm512_add_epi32(total[r], _mm512_mullo_epi32(sums[r], scale));
                    let group_sum = _mm512_set1_epi32(*acts[r].sums.add(8 * b + sub));
                    min_total[r] =
                        _mm512_add_epi32(min_total[r], _mm512_mullo_epi32(min, group_sum));
                }
            }
            let (d, dmin) = (halves(tile), halves(tile.add(32)));
            for r in 0..NR {
                let da = _mm512_set1_ps(*acts[r].d.add(b));
                acc[r] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[r]), _mm512_mul_ps(d, da), acc[r]);
                acc[r] = _mm512_fnmadd_ps(
                    _mm512_cvtepi32_ps(min_total[r]),
                    _mm512_mul_ps(dmin, da),
                    acc[r],
                );
            }
        }
        acc
    }

    #[inline(always)]
    unsafe fn q6k<const NR: usize>(
        tiles: *const u8,
        blocks: usize,
        acts: &[ActRow; NR],
    ) -> [__m512; NR] {
        let bytes = tile_bytes(Format::Q6K);
        let mut acc = [_mm512_setzero_ps(); NR];
        for b in 0..blocks {
            let tile = tiles.add(b * bytes);
            let (qh, qs) = (tile.add(288), tile.add(288 + 8 * 128));
            let mut total = [_mm512_setzero_si512(); NR];
            for sub in 0..8 {
                for half in 0..2 {
                    let mut sums = [_mm512_setzero_si512(); NR];
                    sums32::<NR, 4>(
                        qs.add(256 * sub),
                        qh.add(128 * sub),
                        acts,
                        256 * b + 32 * sub,
                        2 * half..2 * half + 2,
                        &mut sums,
                    );
                    let group = 2 * sub + half;
                    let scale = _mm512_cvtepi8_epi32(_mm_loadu_si128(
                        tile.add(32 + 16 * group) as *const __m128i
                    ));
                    for r in 0..NR {
                        let offset = _mm512_set1_epi32(32 * *acts[r].sums.add(16 * b + group));
                        total[r] = _mm512_add_epi32(
                            total[r],
                            _mm512_mullo_epi32(_mm512_sub_epi32(sums[r], offset), scale),
                        );
                    }
                }
            }
            let d = halves(tile);
            for r in 0..NR {
                let da = _mm512_set1_ps(*acts[r].d.add(b));
                acc[r] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[r]), _mm512_mul_ps(d, da), acc[r]);
            }
        }
        acc
    }

    #[inline(always)]
    unsafe fn tile<const NR: usize>(
        format: Format,
        tiles: *const u8,
        blocks: usize,
        acts: &[ActRow; NR],
    ) -> [__m512; NR] {
        match format {
            Format::Q4K => q45k::<NR, 0>(tiles, blocks, acts),
            Format::Q5K => q45k::<NR, 2>(tiles, blocks, acts),
            Format::Q6K => q6k::<NR>(tiles, blocks, acts),
            _ => legacy::<NR>(format, tiles, blocks, acts),
        }
    }

    /// The product for the 16-row groups `groups`: `out[m · out_stride + row]`.
    pub(crate) struct Job<'a> {
        pub format: Format,
        pub tiles: &'a [u8],
        pub group_bytes: usize,
        pub blocks: usize,
        pub rows: usize,
        pub acts: &'a [ActRow],
        pub out: *mut f32,
        pub out_stride: usize,
    }

    const ACT_BLOCK: usize = 64;

    #[inline(always)]
    unsafe fn store<const NR: usize>(
        job: &Job<'_>,
        values: [__m512; NR],
        first: usize,
        row0: usize,
    ) {
        let valid = (job.rows - row0).min(ROWS);
        let mask: u16 = if valid == ROWS {
            u16::MAX
        } else {
            (1u16 << valid) - 1
        };
        for (k, v) in values.into_iter().enumerate() {
            _mm512_mask_storeu_ps(job.out.add((first + k) * job.out_stride + row0), mask, v);
        }
    }

    /// # Safety
    /// The CPU has AVX-512 F, BW, VL and VNNI and F16C; `job` describes valid buffers.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(crate) unsafe fn run(job: &Job<'_>, groups: std::ops::Range<usize>) {
        let m = job.acts.len();
        for m0 in (0..m).step_by(ACT_BLOCK) {
            let m1 = (m0 + ACT_BLOCK).min(m);
            for group in groups.clone() {
                let tiles = job.tiles.as_ptr().add(group * job.group_bytes);
                let row0 = group * ROWS;
                let mut i = m0;
                while i + 4 <= m1 {
                    let acts = [
                        job.acts[i],
                        job.acts[i + 1],
                        job.acts[i + 2],
                        job.acts[i + 3],
                    ];
                    store(
                        job,
                        tile::<4>(job.format, tiles, job.blocks, &acts),
                        i,
                        row0,
                    );
                    i += 4;
                }
                match m1 - i {
                    3 => {
                        let acts = [job.acts[i], job.acts[i + 1], job.acts[i + 2]];
                        store(
                            job,
                            tile::<3>(job.format, tiles, job.blocks, &acts),
                            i,
                            row0,
                        );
                    }
                    2 => {
                        let acts = [job.acts[i], job.acts[i + 1]];
                        store(
                            job,
                            tile::<2>(job.format, tiles, job.blocks, &acts),
                            i,
                            row0,
                        );
                    }
                    1 => store(
                        job,
                        tile::<1>(job.format, tiles, job.blocks, &[job.acts[i]]),
                        i,
                        row0,
                    ),
                    _ => {}
                }
            }
        }
    }
}
