//! Quantized matrix products of our own, behind the engine's linear layers.
//!
//! Weights of GGUF files are repacked at load into [`PackedMatrix`] (see [`formats`] for the
//! layouts). A product quantizes its activations once to 8 bits in the blocking the weight
//! format reads, then computes integer dot products on a persistent [`pool::Pool`], split over
//! output rows. The instruction set is chosen at run time ([`KernelPath`]): AVX-512 VNNI where
//! the CPU has it, AVX2 otherwise, and a portable path that keeps every other CPU correct.

pub mod formats;
pub mod pool;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::cell::RefCell;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QTensor};

pub use formats::{dequantize_row, Format, QuantizedActs};
use pool::Pool;

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
}

/// A weight matrix `(rows, cols)` (out × in) in a packed block format.
#[derive(Debug)]
pub struct PackedMatrix {
    format: Format,
    rows: usize,
    cols: usize,
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

    /// Repacks a 2-D quantized tensor; `None` when its type has no kernel here.
    pub fn from_qtensor(tensor: &QTensor) -> Option<Result<PackedMatrix, String>> {
        let format = Self::format_of(tensor.dtype())?;
        let (rows, cols) = match tensor.shape().dims() {
            [rows, cols] => (*rows, *cols),
            dims => return Some(Err(format!("expected a matrix, found shape {dims:?}"))),
        };
        Some(
            tensor
                .data()
                .map_err(|e| e.to_string())
                .and_then(|bytes| PackedMatrix::from_gguf_blocks(format, rows, cols, &bytes)),
        )
    }

    /// Repacks `rows × cols` weights from GGUF's block bytes.
    pub fn from_gguf_blocks(
        format: Format,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<PackedMatrix, String> {
        let len = format.block_len();
        if cols % len != 0 {
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
        Ok(PackedMatrix {
            format,
            rows,
            cols,
            row_bytes,
            data,
        })
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
        dequantize_row(self.format, self.row(row), out);
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
                let out_ptr = out_ptr;
                for row in range(index) {
                    for i in 0..m {
                        let value = formats::dot_portable(self.format, self.row(row), acts, i);
                        // SAFETY: each thread writes only its own rows' cells.
                        unsafe { *out_ptr.0.add(i * rows + row) = value };
                    }
                }
            }),
            #[cfg(target_arch = "x86_64")]
            path => {
                let act_rows: Vec<x86::ActRow> = (0..m)
                    .map(|i| x86::ActRow {
                        qs: acts.row_qs(i).as_ptr(),
                        d: acts.row_d(i).as_ptr(),
                        sums: acts.row_sums(i).as_ptr(),
                    })
                    .collect();
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

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: threads write disjoint cells through it while the owner waits.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

#[cfg(target_arch = "x86_64")]
struct SendSpan<'a>(x86::Span<'a>);
// SAFETY: the span's pointers are read (activations) or written in disjoint rows (output).
#[cfg(target_arch = "x86_64")]
unsafe impl Sync for SendSpan<'_> {}
