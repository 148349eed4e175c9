//! Quantized matrix products of our own, behind the engine's linear layers.
//!
//! Weights of GGUF files are repacked at load into [`PackedMatrix`] (see [`formats`] for the
//! layouts). A product quantizes its activations once to 8 bits in the blocking the weight
//! format reads, then computes integer dot products on a persistent [`pool::Pool`], split over
//! output rows. The instruction set is chosen at run time ([`KernelPath`]): AVX-512 VNNI where
//! the CPU has it, AVX2 otherwise, and a portable path that keeps every other CPU correct.

pub mod formats;
pub mod interleaved;
pub mod pool;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::cell::RefCell;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor};

pub use formats::{dequantize_row, Format, QuantizedActs};
use pool::Pool;

/// `‖ours − reference‖ / ‖reference‖`: how the kernels' tests and checks state a product's
/// error.
pub fn relative_error(ours: &[f32], reference: &[f32]) -> f32 {
    let diff: f32 = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    let norm: f32 = reference.iter().map(|b| b * b).sum();
    (diff / norm).sqrt()
}

/// The instruction set the kernels run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelPath {
    Avx512Vnni,
    Avx2,
    Portable,
}

impl KernelPath {
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Avx512Vnni => "avx512vnni",
            KernelPath::Avx2 => "avx2",
            KernelPath::Portable => "portable",
        }
    }

    /// Parses a path's name, as [`KernelPath::name`] writes it.
    pub fn parse(name: &str) -> Option<KernelPath> {
        [
            KernelPath::Avx512Vnni,
            KernelPath::Avx2,
            KernelPath::Portable,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// The fastest path this CPU runs.
    pub fn detect() -> KernelPath {
        [KernelPath::Avx512Vnni, KernelPath::Avx2]
            .into_iter()
            .find(|p| p.supported())
            .unwrap_or(KernelPath::Portable)
    }

    /// Whether this CPU has the instructions the path needs.
    pub fn supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c");
            match self {
                KernelPath::Portable => true,
                KernelPath::Avx2 => avx2,
                KernelPath::Avx512Vnni => {
                    avx2 && std::arch::is_x86_feature_detected!("avx512f")
                        && std::arch::is_x86_feature_detected!("avx512bw")
                        && std::arch::is_x86_feature_detected!("avx512vl")
                        && std::arch::is_x86_feature_detected!("avx512vnni")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == KernelPath::Portable
        }
    }
}

/// Physical cores of this machine (hyper-threads share a core's vector units), falling back
/// to the logical count where the topology cannot be read.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return logical;
    };
    let mut cores = std::collections::HashSet::new();
    let mut physical = String::new();
    for line in info.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "physical id" => physical = value.trim().to_string(),
            "core id" => {
                cores.insert((physical.clone(), value.trim().to_string()));
            }
            _ => {}
        }
    }
    if cores.is_empty() {
        logical
    } else {
        cores.len().min(logical)
    }
}

/// Keeps the allocator from returning large blocks to the kernel after each use.
///
/// A forward pass allocates and frees tensors of tens of MB (the attention scores of a prompt
/// over a long context); glibc serves those with fresh `mmap`s that the kernel zeroes page by
/// page on every call, which cost half the prefill time at 3,000 tokens of context. With the
/// threshold at its maximum (32 MB) and trimming only past 1 GB, freed blocks are reused.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only sets allocator parameters; it is called before the model's
            // threads allocate (and glibc serialises it with its own locks regardless).
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            }
        });
    }
}

/// The kernels' instruction set and threads, shared by every matrix of a model.
#[derive(Debug)]
pub struct Kernels {
    path: KernelPath,
    pool: Pool,
}

impl Kernels {
    /// `threads` threads (at least one) on `path`, which must be supported by this CPU.
    pub fn new(path: KernelPath, threads: usize) -> Result<Arc<Kernels>, String> {
        if !path.supported() {
            return Err(format!(
                "this CPU lacks the instructions of the `{}` kernels",
                path.name()
            ));
        }
        Ok(Arc::new(Kernels {
            path,
            pool: Pool::new(threads),
        }))
    }

    /// The fastest supported path, on one thread per physical core.
    pub fn detect() -> Arc<Kernels> {
        Arc::new(Kernels {
            path: KernelPath::detect(),
            pool: Pool::new(physical_cores()),
        })
    }

    pub fn path(&self) -> KernelPath {
        self.path
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// The thread pool, for other work of the forward pass.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The layout matrices are packed in for this path.
    pub fn layout(&self) -> Layout {
        match self.path {
            KernelPath::Avx512Vnni => Layout::Interleaved,
            _ => Layout::Rows,
        }
    }
}

/// How a packed matrix's blocks are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Row after row, each row's blocks contiguous (AVX2 and portable paths).
    Rows,
    /// Sixteen rows side by side per block ([`interleaved`]; the AVX-512 VNNI path).
    Interleaved,
}

/// A weight matrix `(rows, cols)` (out × in) in a packed block format.
#[derive(Debug)]
pub struct PackedMatrix {
    format: Format,
    layout: Layout,
    rows: usize,
    cols: usize,
    /// Bytes of one row (`Rows`) or of one group of 16 rows (`Interleaved`).
    row_bytes: usize,
    data: Vec<u8>,
}

impl PackedMatrix {
    /// The kernels' format for a GGUF type, if they have one.
    pub fn format_of(dtype: GgmlDType) -> Option<Format> {
        Some(match dtype {
            GgmlDType::Q4_0 => Format::Q4_0,
            GgmlDType::Q4_1 => Format::Q4_1,
            GgmlDType::Q5_0 => Format::Q5_0,
            GgmlDType::Q5_1 => Format::Q5_1,
            GgmlDType::Q8_0 => Format::Q8_0,
            GgmlDType::Q4K => Format::Q4K,
            GgmlDType::Q5K => Format::Q5K,
            GgmlDType::Q6K => Format::Q6K,
            _ => return None,
        })
    }

    /// Repacks a 2-D quantized tensor in `layout`; `None` when its type has no kernel here.
    pub fn from_qtensor(tensor: &QTensor, layout: Layout) -> Option<Result<PackedMatrix, String>> {
        let format = Self::format_of(tensor.dtype())?;
        let (rows, cols) = match tensor.shape().dims() {
            [rows, cols] => (*rows, *cols),
            dims => {
                let shape: Vec<String> = dims.iter().map(usize::to_string).collect();
                return Some(Err(format!(
                    "expected a matrix, found shape {}",
                    shape.join(" x ")
                )));
            }
        };
        Some(
            tensor.data().map_err(|e| e.to_string()).and_then(|bytes| {
                PackedMatrix::from_gguf_blocks(format, rows, cols, &bytes, layout)
            }),
        )
    }

    /// Repacks `rows × cols` weights from GGUF's block bytes.
    pub fn from_gguf_blocks(
        format: Format,
        rows: usize,
        cols: usize,
        bytes: &[u8],
        layout: Layout,
    ) -> Result<PackedMatrix, String> {
        let len = format.block_len();
        if !cols.is_multiple_of(len) {
            return Err(format!(
                "{} rows of {cols} values are not whole blocks of {len}",
                format.name()
            ));
        }
        let blocks = cols / len;
        let expected = rows * blocks * format.gguf_block_bytes();
        if bytes.len() != expected {
            return Err(format!(
                "{} matrix of {rows} × {cols} needs {expected} bytes, found {}",
                format.name(),
                bytes.len()
            ));
        }
        let row_bytes = blocks * format.block_bytes();
        let mut data = vec![0u8; rows * row_bytes];
        for (source, target) in bytes
            .chunks_exact(format.gguf_block_bytes())
            .zip(data.chunks_exact_mut(format.block_bytes()))
        {
            formats::repack_block(format, source, target);
        }
        let rows_matrix = PackedMatrix {
            format,
            layout: Layout::Rows,
            rows,
            cols,
            row_bytes,
            data,
        };
        match layout {
            Layout::Rows => Ok(rows_matrix),
            Layout::Interleaved => Ok(rows_matrix.interleave()),
        }
    }

    /// The same matrix with 16 rows side by side (the last group padded with zero rows).
    fn interleave(&self) -> PackedMatrix {
        let groups = self.rows.div_ceil(interleaved::ROWS);
        let blocks = self.cols / self.format.block_len();
        let tile = interleaved::tile_bytes(self.format);
        let group_bytes = blocks * tile;
        let mut data = vec![0u8; groups * group_bytes];
        let block_bytes = self.format.block_bytes();
        for (group, target) in data.chunks_exact_mut(group_bytes).enumerate() {
            let rows = group * interleaved::ROWS..((group + 1) * interleaved::ROWS).min(self.rows);
            for (b, tile_out) in target.chunks_exact_mut(tile).enumerate() {
                let sources: Vec<&[u8]> = rows
                    .clone()
                    .map(|row| &self.row(row)[b * block_bytes..(b + 1) * block_bytes])
                    .collect();
                interleaved::write_tile(self.format, &sources, tile_out);
            }
        }
        PackedMatrix {
            format: self.format,
            layout: Layout::Interleaved,
            rows: self.rows,
            cols: self.cols,
            row_bytes: group_bytes,
            data,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    fn row(&self, row: usize) -> &[u8] {
        &self.data[row * self.row_bytes..(row + 1) * self.row_bytes]
    }

    /// Row `row` in f32 (`out` is `cols` long).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        match self.layout {
            Layout::Rows => dequantize_row(self.format, self.row(row), out),
            Layout::Interleaved => {
                let group =
                    &self.data[row / interleaved::ROWS * self.row_bytes..][..self.row_bytes];
                let tile = interleaved::tile_bytes(self.format);
                for (tile, out) in group
                    .chunks_exact(tile)
                    .zip(out.chunks_exact_mut(self.format.block_len()))
                {
                    interleaved::dequantize_tile_row(
                        self.format,
                        tile,
                        row % interleaved::ROWS,
                        out,
                    );
                }
            }
        }
    }

    /// `out (m × rows) = x (m × cols) · selfᵀ`, on `kernels`.
    pub fn matmul(&self, kernels: &Kernels, x: &[f32], m: usize, out: &mut [f32]) {
        assert_eq!(x.len(), m * self.cols, "activations of the wrong size");
        assert_eq!(out.len(), m * self.rows, "output of the wrong size");
        thread_local! {
            static ACTS: RefCell<QuantizedActs> = RefCell::new(QuantizedActs::default());
        }
        ACTS.with(|cell| {
            let mut acts = cell.borrow_mut();
            acts.quantize_into(self.format, x, m, self.cols);
            self.matmul_quantized(kernels, &acts, out);
        });
    }

    /// The product with activations already quantized for this format.
    pub fn matmul_quantized(&self, kernels: &Kernels, acts: &QuantizedActs, out: &mut [f32]) {
        if self.layout == Layout::Interleaved {
            return self.matmul_interleaved(kernels, acts, out);
        }
        let m = acts.rows;
        let threads = kernels.threads();
        let rows = self.rows;
        let out_ptr = SendPtr(out.as_mut_ptr());
        // Row ranges of each thread, in multiples of 4 rows.
        let range = move |index: usize| {
            let per = rows.div_ceil(threads).next_multiple_of(4);
            let start = (index * per).min(rows);
            start..(start + per).min(rows)
        };
        match kernels.path {
            KernelPath::Portable => kernels.pool.run(&|index, _| {
                for row in range(index) {
                    for i in 0..m {
                        let value = formats::dot_portable(self.format, self.row(row), acts, i);
                        // SAFETY: each thread writes only its own rows' cells.
                        unsafe { *out_ptr.get().add(i * rows + row) = value };
                    }
                }
            }),
            #[cfg(target_arch = "x86_64")]
            path => {
                let act_rows = x86::ActRow::all(acts);
                let span = SendSpan(x86::Span {
                    format: self.format,
                    weights: &self.data,
                    row_bytes: self.row_bytes,
                    blocks: self.cols / self.format.block_len(),
                    acts: &act_rows,
                    out: out_ptr.0,
                    out_stride: rows,
                });
                kernels.pool.run(&|index, _| {
                    let span = &span;
                    // SAFETY: `Kernels::new` checked that the CPU has the path's instructions;
                    // the span's buffers outlive the job and each thread writes its own rows.
                    unsafe {
                        match path {
                            KernelPath::Avx512Vnni => x86::span_avx512vnni(&span.0, range(index)),
                            _ => x86::span_avx2(&span.0, range(index)),
                        }
                    }
                });
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("only the portable path is supported off x86-64"),
        }
    }
}

impl PackedMatrix {
    fn matmul_interleaved(&self, kernels: &Kernels, acts: &QuantizedActs, out: &mut [f32]) {
        let m = acts.rows;
        let rows = self.rows;
        let groups = rows.div_ceil(interleaved::ROWS);
        let threads = kernels.threads();
        let range = move |index: usize| {
            let per = groups.div_ceil(threads);
            let start = (index * per).min(groups);
            start..(start + per).min(groups)
        };
        let out_ptr = SendPtr(out.as_mut_ptr());
        #[cfg(target_arch = "x86_64")]
        if kernels.path == KernelPath::Avx512Vnni {
            let act_rows = x86::ActRow::all(acts);
            let job = SendJob(interleaved::avx512::Job {
                format: self.format,
                tiles: &self.data,
                group_bytes: self.row_bytes,
                blocks: self.cols / self.format.block_len(),
                rows,
                acts: &act_rows,
                out: out_ptr.0,
                out_stride: rows,
            });
            kernels.pool.run(&|index, _| {
                let job = &job;
                // SAFETY: the path was checked against this CPU when the kernels were made; the
                // job's buffers outlive it and each thread writes its own row groups.
                unsafe { interleaved::avx512::run(&job.0, range(index)) }
            });
            return;
        }
        // Another path than the layout was made for: dequantize and multiply in f32.
        let (qs, cols) = (&acts.qs, self.cols);
        kernels.pool.run(&|index, _| {
            let mut row_values = vec![0f32; cols];
            for group in range(index) {
                for row in group * interleaved::ROWS..((group + 1) * interleaved::ROWS).min(rows) {
                    self.dequantize_row(row, &mut row_values);
                    for i in 0..m {
                        let d = acts.row_d(i);
                        let value: f32 = row_values
                            .iter()
                            .zip(&qs[i * cols..(i + 1) * cols])
                            .enumerate()
                            .map(|(k, (w, &q))| w * q as f32 * d[k / acts.block])
                            .sum();
                        // SAFETY: each thread writes only its own rows' cells.
                        unsafe { *out_ptr.get().add(i * rows + row) = value };
                    }
                }
            }
        });
    }
}

#[cfg(target_arch = "x86_64")]
struct SendJob<'a>(interleaved::avx512::Job<'a>);
// SAFETY: as `SendSpan`.
#[cfg(target_arch = "x86_64")]
unsafe impl Sync for SendJob<'_> {}

/// An output buffer that the pool's threads write in disjoint parts while its owner waits.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);

impl SendPtr {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}
// SAFETY: every user writes disjoint cells through it while the owner waits in `Pool::run`.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

#[cfg(target_arch = "x86_64")]
struct SendSpan<'a>(x86::Span<'a>);
// SAFETY: the span's pointers are read (activations) or written in disjoint rows (output).
#[cfg(target_arch = "x86_64")]
unsafe impl Sync for SendSpan<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    const TYPES: [GgmlDType; 8] = [
        GgmlDType::Q4_0,
        GgmlDType::Q4_1,
        GgmlDType::Q5_0,
        GgmlDType::Q5_1,
        GgmlDType::Q8_0,
        GgmlDType::Q4K,
        GgmlDType::Q5K,
        GgmlDType::Q6K,
    ];

    /// Deterministic values in about [-1, 1], with a few larger ones (outliers are what 8-bit
    /// activation scales get wrong first).
    fn values(count: usize, salt: u64) -> Vec<f32> {
        let mut state = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..count)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let v = (state % 20_001) as f32 / 10_000.0 - 1.0;
                if i % 97 == 0 {
                    v * 4.0
                } else {
                    v
                }
            })
            .collect()
    }

    fn quantized(dtype: GgmlDType, rows: usize, cols: usize) -> QTensor {
        let w = Tensor::from_vec(
            values(rows * cols, dtype as u64 + 1),
            (rows, cols),
            &Device::Cpu,
        )
        .unwrap();
        QTensor::quantize(&w, dtype).unwrap()
    }

    fn paths() -> Vec<KernelPath> {
        [
            KernelPath::Avx512Vnni,
            KernelPath::Avx2,
            KernelPath::Portable,
        ]
        .into_iter()
        .filter(|p| p.supported())
        .collect()
    }

    #[test]
    fn dequantized_rows_equal_candles_in_both_layouts() {
        let (rows, cols) = (37, 512);
        for dtype in TYPES {
            let q = quantized(dtype, rows, cols);
            let reference: Vec<f32> = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            for layout in [Layout::Rows, Layout::Interleaved] {
                let packed = PackedMatrix::from_qtensor(&q, layout).unwrap().unwrap();
                let mut row = vec![0f32; cols];
                for r in 0..rows {
                    packed.dequantize_row(r, &mut row);
                    assert_eq!(
                        row,
                        reference[r * cols..(r + 1) * cols],
                        "{dtype:?} {layout:?} row {r}"
                    );
                }
            }
        }
    }

    /// Every path on every format against dequantize-then-multiply in f32: within 1.5% of the
    /// output's norm (the 8-bit activations' error), and within 1e-4 of the portable path,
    /// which computes the same integer sums.
    #[test]
    fn every_path_matches_the_dequantized_reference() {
        let (rows, cols) = (37, 512);
        for dtype in TYPES {
            let q = quantized(dtype, rows, cols);
            let dense = q.dequantize(&Device::Cpu).unwrap();
            for m in [1usize, 3, 4, 9, 70] {
                let x = values(m * cols, 1000 + m as u64);
                let xt = Tensor::from_vec(x.clone(), (m, cols), &Device::Cpu).unwrap();
                let reference: Vec<f32> = xt
                    .matmul(&dense.t().unwrap())
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let portable = Kernels::new(KernelPath::Portable, 2).unwrap();
                let packed = PackedMatrix::from_qtensor(&q, Layout::Rows)
                    .unwrap()
                    .unwrap();
                let mut expected = vec![0f32; m * rows];
                packed.matmul(&portable, &x, m, &mut expected);
                let error = relative_error(&expected, &reference);
                assert!(error < 0.015, "{dtype:?} m={m} portable: {error}");
                for path in paths() {
                    for threads in [1, 3] {
                        let kernels = Kernels::new(path, threads).unwrap();
                        let packed = PackedMatrix::from_qtensor(&q, kernels.layout())
                            .unwrap()
                            .unwrap();
                        let mut out = vec![0f32; m * rows];
                        packed.matmul(&kernels, &x, m, &mut out);
                        let error = relative_error(&out, &expected);
                        assert!(
                            error < 1e-4,
                            "{dtype:?} m={m} {} threads={threads}: {error}",
                            path.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let error = PackedMatrix::from_gguf_blocks(Format::Q4K, 2, 100, &[0; 10], Layout::Rows)
            .unwrap_err();
        assert!(error.contains("not whole blocks of 256"), "{error}");
        let error = PackedMatrix::from_gguf_blocks(Format::Q8_0, 2, 64, &[0; 10], Layout::Rows)
            .unwrap_err();
        assert!(error.contains("needs 136 bytes, found 10"), "{error}");
    }

    #[test]
    fn the_detected_path_is_supported_and_named() {
        let path = KernelPath::detect();
        assert!(path.supported());
        assert_eq!(KernelPath::parse(path.name()), Some(path));
        assert!(KernelPath::Portable.supported());
        assert!(physical_cores() >= 1);
    }
}
