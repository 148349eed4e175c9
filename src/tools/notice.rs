//! What the sandbox and the file tools stopped, cut or refused: each is an event and a count per
//! agent run, and a line of the observation the model gets.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A file tool refused a path (absolute, `..`, a symlink leading outside, harness state).
    PathRefused,
    /// A file tool refused or cut a file (not a regular file, binary, too large).
    ReadCapped,
    /// A command reported an operation the sandbox refuses (a write outside, a signal).
    Denied,
    /// A command reported the network missing.
    NetworkDenied,
    Timeout,
    OutputTruncated,
    MemoryLimit,
    ProcessLimit,
    FileSizeLimit,
    CpuLimit,
    DiskLimit,
    /// The mission's folders held more files than the file quota allows.
    FileCountLimit,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::PathRefused => "path_refused",
            NoticeKind::ReadCapped => "read_capped",
            NoticeKind::Denied => "denied",
            NoticeKind::NetworkDenied => "network_denied",
            NoticeKind::Timeout => "timeout",
            NoticeKind::OutputTruncated => "output_truncated",
            NoticeKind::MemoryLimit => "memory_limit",
            NoticeKind::ProcessLimit => "process_limit",
            NoticeKind::FileSizeLimit => "file_size_limit",
            NoticeKind::CpuLimit => "cpu_limit",
            NoticeKind::DiskLimit => "disk_limit",
            NoticeKind::FileCountLimit => "file_count_limit",
        }
    }

    /// Refusals: the harness or the kernel said no.
    pub fn is_denial(self) -> bool {
        matches!(
            self,
            NoticeKind::PathRefused | NoticeKind::Denied | NoticeKind::NetworkDenied
        )
    }

    /// A resource limit was reached.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            NoticeKind::MemoryLimit
                | NoticeKind::ProcessLimit
                | NoticeKind::FileSizeLimit
                | NoticeKind::CpuLimit
                | NoticeKind::DiskLimit
                | NoticeKind::FileCountLimit
        )
    }

    /// Output or a file was cut.
    pub fn is_truncation(self) -> bool {
        matches!(self, NoticeKind::OutputTruncated | NoticeKind::ReadCapped)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The line the model sees, e.g. `killed: memory limit 2 GiB exceeded (...)`.
    pub detail: String,
}

impl Notice {
    pub fn new(kind: NoticeKind, detail: impl Into<String>) -> Notice {
        Notice {
            kind,
            detail: detail.into(),
        }
    }
}
