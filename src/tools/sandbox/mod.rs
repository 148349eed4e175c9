//! Confinement of the commands agents run, applied in the child between `fork` and `exec`:
//!
//! - **filesystem** (Landlock): writes only beneath the workspace, the mission's `$HOME` and
//!   `$TMPDIR`; reads only beneath system folders, the suite environment and `PATH`; signals and
//!   abstract unix sockets confined to the sandbox (Landlock ABI 6);
//! - **network**: a private network namespace per mission (loopback up only when the mission
//!   allows it), and, when the network is off, a seccomp filter refusing internet sockets;
//! - **privileges**: `no_new_privs`; as root, every capability dropped and root's exec-time
//!   capabilities locked off;
//! - **system calls** (seccomp): mounts, modules, reboot, clocks, namespaces and io_uring refused;
//! - **resources**: a control group per command with a process-count and a memory limit (rlimits
//!   where control groups are not available), `RLIMIT_FSIZE`, `RLIMIT_CPU`, no core files, and
//!   quotas on the bytes and on the number of files the mission's folders hold.
//!
//! Every part is probed; what the kernel does not offer is recorded as inactive, never faked.
//! Everything the child does is prepared in the harness first: the child only makes system calls
//! on data it inherited, and allocates nothing.

pub mod cgroup;
mod landlock;
mod mountns;
mod netns;
mod seccomp;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::notice::{Notice, NoticeKind};

/// Whether commands may use the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// No network at all, not even loopback.
    #[default]
    None,
    /// Loopback only (a mission testing its own server).
    Loopback,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Loopback => "loopback",
        }
    }
}

/// Resource limits per command; `None` is unlimited (the default). The config's `[sandbox]`
/// holds the defaults users get.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub processes: Option<u64>,
    pub file_size_bytes: Option<u64>,
    pub cpu_seconds: Option<u64>,
    /// What the workspace, `$HOME` and `$TMPDIR` may hold together.
    pub disk_bytes: Option<u64>,
    /// How many files, folders and links the workspace, `$HOME` and `$TMPDIR` may hold together
    /// (the harness's own state, `.git/` and `.mission/`, not counted).
    #[serde(default)]
    pub files: Option<u64>,
}

/// What a mission's sandbox allows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SandboxPolicy {
    pub network: Network,
    pub limits: Limits,
    /// Folders commands may read (and execute) beyond the system folders and `PATH`.
    pub read: Vec<PathBuf>,
}

/// The folders of one mission.
#[derive(Debug, Clone)]
pub struct SandboxPaths {
    /// Folders commands may write beneath: the mission's own folder, which holds its workspace,
    /// `$HOME` and `$TMPDIR`. The first one's filesystem is watched for the disk limit.
    pub writable: Vec<PathBuf>,
    /// Folders inside `writable` that commands may not change: the harness's state (`.git/`,
    /// `.mission/`). Enforced with the mount namespace (root only; Landlock cannot carve them
    /// out).
    pub read_only: Vec<PathBuf>,
    /// The folders the disk and file quotas count: the workspace, `$HOME` and `$TMPDIR`. The
    /// ground truth's copies of the workspace, beside them in the mission's folder, are the
    /// harness's and are left out, so that an honest workspace near the quota is never judged
    /// over it. Empty: the writable folders.
    pub counted: Vec<PathBuf>,
    /// Read-only folders: the suite environment, the interpreter it links to.
    pub read: Vec<PathBuf>,
    /// The commands' `PATH`: its folders are readable, and so is the installation each symlinked
    /// program in them points into.
    pub path_var: String,
}

/// One protection and how it is provided; `how` says why when it is not active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    pub name: String,
    pub active: bool,
    pub how: String,
}

fn protection(name: &str, how: Result<String, String>) -> Protection {
    match how {
        Ok(how) => Protection {
            name: name.to_string(),
            active: true,
            how,
        },
        Err(why) => Protection {
            name: name.to_string(),
            active: false,
            how: why,
        },
    }
}

/// System folders commands may read and execute from.
const SYSTEM_READ: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc",
    "/sys", "/dev", "/run", "/var/lib",
];

/// Device files commands may write.
const DEVICE_FILES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// The sandbox of one mission: built once, applied to every command it runs.
#[derive(Debug)]
pub struct Sandbox {
    policy: SandboxPolicy,
    writable: Vec<PathBuf>,
    ruleset: Option<landlock::Ruleset>,
    mountns: Option<mountns::MountNamespace>,
    netns: Option<netns::NetNamespace>,
    filter: Option<seccomp::Filter>,
    cgroups: Option<cgroup::CgroupBase>,
    /// The highest capability number, when the harness runs as root and drops them in children.
    drop_caps: Option<u32>,
    rlimits: Vec<Rlimit>,
    protections: Vec<Protection>,
    next_command: AtomicU64,
    /// The folders the quotas count, and the harness's folders inside them whose entries are
    /// not counted as files (their bytes are).
    counted: Vec<PathBuf>,
    harness_state: Vec<PathBuf>,
    disk: Mutex<DiskBook>,
}

/// What the counted folders held at the last count, the filesystem's free space then, and how
/// long that count took.
#[derive(Debug, Clone, Copy)]
struct DiskBook {
    used: Usage,
    free_at_count: FreeSpace,
    counted_at: Instant,
    count_took: Duration,
}

/// What a tree holds: bytes of its regular files, and its entries (files, folders, links).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub files: u64,
}

/// The free space of a filesystem; `files` is `None` where it does not report inodes (btrfs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct FreeSpace {
    bytes: u64,
    files: Option<u64>,
}

impl DiskBook {
    /// What the folders hold now as far as the filesystem's free space tells, without counting:
    /// the last count plus what the filesystem lost since (other writers on it included, so an
    /// estimate only ever errs high).
    fn estimate(&self, free: FreeSpace) -> Usage {
        let files_taken = match (self.free_at_count.files, free.files) {
            (Some(then), Some(now)) => then.saturating_sub(now),
            _ => 0,
        };
        Usage {
            bytes: self.used.bytes + self.free_at_count.bytes.saturating_sub(free.bytes),
            files: self.used.files + files_taken,
        }
    }

    /// Whether a periodic count may walk the folders again: walks are spaced by twenty times
    /// what the last one took, so that however many files a mission holds, counting them costs
    /// the harness at most a twentieth of a core.
    fn may_count_again(&self) -> bool {
        self.counted_at.elapsed() >= self.count_took * 20
    }

    /// The first count of the folders a sandbox's quotas count, with the free space of the
    /// filesystem of `watched` (its first writable folder) then.
    fn first_count(counted: &[PathBuf], harness_state: &[PathBuf], watched: &Path) -> DiskBook {
        let started = Instant::now();
        let used = count_usage(counted, harness_state);
        DiskBook {
            used,
            free_at_count: free_space(watched).unwrap_or_default(),
            counted_at: Instant::now(),
            count_took: started.elapsed(),
        }
    }
}

/// Why a command is over a quota, with what the counted folders hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverQuota {
    Disk(u64),
    Files(u64),
}

/// A path as a C string for a system call.
fn c_path(path: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// Opens the calling thread's namespace of a kind (`net`, `mnt`) to join it later.
fn open_own_namespace(kind: &str) -> io::Result<std::os::fd::OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/thread-self/ns/{kind}"))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "namespace kind"))?;
    // SAFETY: a NUL-terminated path; the descriptor returned is ours alone.
    unsafe {
        let raw = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(<std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw))
    }
}

/// The type of `setrlimit`'s resource argument.
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

static NEXT_SANDBOX: AtomicU64 = AtomicU64::new(1);

fn euid_is_root() -> bool {
    // SAFETY: geteuid has no failure mode.
    unsafe { libc::geteuid() == 0 }
}

fn last_capability() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// `2 GiB`, `512 MiB`, `64 KiB`, `100 B`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if (value - value.round()).abs() < 0.05 {
                format!("{} {unit}", value.round() as u64)
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{bytes} B")
}

/// The Landlock ruleset of a mission, where the kernel has Landlock.
fn landlock_ruleset(
    policy: &SandboxPolicy,
    paths: &SandboxPaths,
    writable: &[PathBuf],
    deny_inet: bool,
) -> io::Result<Option<landlock::Ruleset>> {
    let Some(abi) = landlock::abi_version() else {
        return Ok(None);
    };
    let readable = readable_paths(policy, paths);
    let readable: Vec<&Path> = readable.iter().map(PathBuf::as_path).collect();
    let writable: Vec<&Path> = writable.iter().map(PathBuf::as_path).collect();
    let devices: Vec<&Path> = DEVICE_FILES.iter().map(Path::new).collect();
    landlock::Ruleset::build(abi, &writable, &readable, &devices, deny_inet).map(Some)
}

const NO_LANDLOCK: &str = "Landlock is not available in this kernel";

fn filesystem_protection(ruleset: Option<&landlock::Ruleset>) -> Protection {
    protection(
        "filesystem",
        match ruleset {
            Some(r) => Ok(format!(
                "Landlock ABI {}: writes beneath the workspace, $HOME and $TMPDIR; reads beneath system folders, the suite environment and PATH",
                r.abi
            )),
            None => Err(NO_LANDLOCK.to_string()),
        },
    )
}

fn signals_protection(ruleset: Option<&landlock::Ruleset>) -> Protection {
    protection(
        "signals",
        match ruleset {
            Some(r) if r.scoped => Ok(format!(
                "Landlock ABI {}: signals and abstract unix sockets confined to the command",
                r.abi
            )),
            Some(r) => Err(format!("Landlock ABI {} has no scoping (needs 6)", r.abi)),
            None => Err(NO_LANDLOCK.to_string()),
        },
    )
}

/// Modes and owners: `mountns` is the mount namespace tried as root, `None` when not root.
fn permissions_protection(mountns: Option<&io::Result<mountns::MountNamespace>>) -> Protection {
    protection(
        "permissions",
        match mountns {
            Some(Ok(ns)) if ns.left_writable.is_empty() => Ok(
                "private mount namespace: every mount read-only but the mission's folder (its harness state read-only too), so modes and owners outside cannot change"
                    .to_string(),
            ),
            Some(Ok(ns)) => Ok(format!(
                "private mount namespace: every mount read-only but the mission's folder ({} left writable: {})",
                ns.left_writable.len(),
                ns.left_writable.join(", ")
            )),
            Some(Err(e)) => Err(format!("no private mount namespace: {e}")),
            None => Ok("not root: files of other users cannot change mode or owner".to_string()),
        },
    )
}

fn network_protection(
    network: Network,
    netns: Result<&netns::NetNamespace, &io::Error>,
    filter: Option<&seccomp::Filter>,
) -> Protection {
    let netns_error = netns.err().map(|e| e.to_string()).unwrap_or_default();
    protection(
        "network",
        match (network, netns.is_ok(), filter.is_some()) {
            (Network::None, true, true) => Ok(
                "private network namespace without interfaces up, and seccomp refusing internet sockets"
                    .to_string(),
            ),
            (Network::None, true, false) => {
                Ok("private network namespace without interfaces up".to_string())
            }
            (Network::None, false, true) => Ok("seccomp refusing internet sockets".to_string()),
            (Network::Loopback, true, _) => {
                Ok("private network namespace with loopback only".to_string())
            }
            (Network::Loopback, false, _) => Err(format!(
                "loopback allowed but no private network namespace ({netns_error}): the host network is reachable"
            )),
            (Network::None, false, false) => Err(format!(
                "no network namespace ({netns_error}) and no seccomp"
            )),
        },
    )
}

fn syscalls_protection(filter: Option<&seccomp::Filter>) -> Protection {
    protection(
        "syscalls",
        match filter {
            Some(_) => Ok(
                "seccomp: mount, module, reboot, clock, namespace and io_uring calls refused"
                    .to_string(),
            ),
            None => Err("seccomp filters are not available".to_string()),
        },
    )
}

/// `drop_caps`: the highest capability number, when running as root.
fn privileges_protection(drop_caps: Option<u32>) -> Protection {
    protection(
        "privileges",
        Ok(match drop_caps {
            Some(_) => "no_new_privs; running as root: all capabilities dropped, root's exec-time capabilities locked off".to_string(),
            None => "no_new_privs; not root".to_string(),
        }),
    )
}

/// One resource limit a command's child sets on itself (`setrlimit`).
#[derive(Debug, Clone, Copy)]
struct Rlimit {
    resource: Resource,
    /// The soft limit, and the hard one but for the CPU limit (see [`ChildSetup::apply`]).
    value: u64,
}

/// How the resource limits of `[sandbox]` are provided: the rlimits a command's child sets, and
/// a protection per limit.
struct ResourceLimits {
    rlimits: Vec<Rlimit>,
    protections: Vec<Protection>,
}

fn resource_limits(limits: &Limits, cgroups: Option<&cgroup::CgroupBase>) -> ResourceLimits {
    let version = cgroups
        .map(|c| match c.version {
            cgroup::Version::V1 => "cgroup v1",
            cgroup::Version::V2 => "cgroup v2",
        })
        .unwrap_or_default();
    let mut rlimits = vec![Rlimit {
        resource: libc::RLIMIT_CORE,
        value: 0,
    }];
    let pids = cgroups.is_some_and(|c| c.has_pids());
    let memory = cgroups.is_some_and(|c| c.has_memory());
    let protections = vec![
        processes_protection(limits.processes, pids, version, &mut rlimits),
        memory_protection(limits.memory_bytes, memory, version, &mut rlimits),
        rlimit_protection(
            "file_size",
            limits.file_size_bytes,
            libc::RLIMIT_FSIZE,
            &|max| format!("RLIMIT_FSIZE: {}", human_bytes(max)),
            &mut rlimits,
        ),
        rlimit_protection(
            "cpu_time",
            limits.cpu_seconds,
            libc::RLIMIT_CPU,
            &|max| format!("RLIMIT_CPU: {max} s per process"),
            &mut rlimits,
        ),
        protection(
            "disk",
            match limits.disk_bytes {
                Some(max) => Ok(format!(
                    "{} for the workspace, $HOME and $TMPDIR together (free space watched while a command runs)",
                    human_bytes(max)
                )),
                None => Err(NO_LIMIT.to_string()),
            },
        ),
        protection(
            "files",
            match limits.files {
                Some(max) => Ok(format!(
                    "{max} files, folders and links in the workspace, $HOME and $TMPDIR together (counted with the disk quota's bytes)"
                )),
                None => Err(NO_LIMIT.to_string()),
            },
        ),
    ];
    ResourceLimits {
        rlimits,
        protections,
    }
}

const NO_LIMIT: &str = "no limit set";

/// The process limit: a pids control group (`version` names it), else `RLIMIT_NPROC`.
fn processes_protection(
    max: Option<u64>,
    pids: bool,
    version: &str,
    rlimits: &mut Vec<Rlimit>,
) -> Protection {
    protection(
        "processes",
        match (max, pids) {
            (None, _) => Err(NO_LIMIT.to_string()),
            (Some(max), true) => Ok(format!(
                "{version} pids controller: {max} processes per command"
            )),
            (Some(max), false) => {
                // RLIMIT_NPROC counts every process of the user, so it is set above the count
                // there is now.
                let now = user_tasks();
                rlimits.push(Rlimit {
                    resource: libc::RLIMIT_NPROC,
                    value: now + max,
                });
                Ok(format!(
                    "RLIMIT_NPROC: {max} more than the user's {now} processes (no pids control group)"
                ))
            }
        },
    )
}

/// The memory limit: a memory control group (`version` names it), else `RLIMIT_DATA`.
fn memory_protection(
    max: Option<u64>,
    memory: bool,
    version: &str,
    rlimits: &mut Vec<Rlimit>,
) -> Protection {
    protection(
        "memory",
        match (max, memory) {
            (None, _) => Err(NO_LIMIT.to_string()),
            (Some(max), true) => Ok(format!(
                "{version} memory controller: {} per command",
                human_bytes(max)
            )),
            (Some(max), false) => {
                rlimits.push(Rlimit {
                    resource: libc::RLIMIT_DATA,
                    value: max,
                });
                Ok(format!(
                    "RLIMIT_DATA: {} per process (no memory control group)",
                    human_bytes(max)
                ))
            }
        },
    )
}

/// A limit provided by an rlimit alone; `how` describes it.
fn rlimit_protection(
    name: &str,
    max: Option<u64>,
    resource: Resource,
    how: &dyn Fn(u64) -> String,
    rlimits: &mut Vec<Rlimit>,
) -> Protection {
    protection(
        name,
        match max {
            Some(max) => {
                rlimits.push(Rlimit {
                    resource,
                    value: max,
                });
                Ok(how(max))
            }
            None => Err(NO_LIMIT.to_string()),
        },
    )
}

impl Sandbox {
    /// Builds the sandbox of one mission. Protections the kernel does not offer are recorded as
    /// inactive; an error means a protection that is offered could not be set up.
    pub fn new(policy: SandboxPolicy, paths: &SandboxPaths) -> io::Result<Sandbox> {
        let writable = paths.writable.clone();
        if writable.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a sandbox needs a writable folder",
            ));
        }
        let deny_inet = policy.network == Network::None;
        let ruleset = landlock_ruleset(&policy, paths, &writable, deny_inet)?;
        let mut protections = vec![
            filesystem_protection(ruleset.as_ref()),
            signals_protection(ruleset.as_ref()),
        ];

        // Landlock does not cover chmod and chown; as root, read-only mounts do.
        let mountns = if euid_is_root() {
            Some(mountns::MountNamespace::create(&writable, &paths.read_only))
        } else {
            None
        };
        protections.push(permissions_protection(mountns.as_ref()));
        let mountns = mountns.and_then(Result::ok);
        let netns = netns::NetNamespace::create(policy.network == Network::Loopback);
        let filter = if seccomp::available() {
            seccomp::Filter::build(deny_inet)
        } else {
            None
        };
        protections.push(network_protection(
            policy.network,
            netns.as_ref(),
            filter.as_ref(),
        ));
        let netns = netns.ok();
        protections.push(syscalls_protection(filter.as_ref()));
        let drop_caps = euid_is_root().then(last_capability);
        protections.push(privileges_protection(drop_caps));

        let id = NEXT_SANDBOX.fetch_add(1, Ordering::Relaxed);
        let cgroups =
            cgroup::CgroupBase::create(&format!("missions-bench-{}-{id}", std::process::id()));
        let resources = resource_limits(&policy.limits, cgroups.as_ref());
        protections.extend(resources.protections);
        let counted = if paths.counted.is_empty() {
            writable.clone()
        } else {
            paths.counted.clone()
        };
        let harness_state = paths.read_only.clone();
        let disk = Mutex::new(DiskBook::first_count(
            &counted,
            &harness_state,
            &writable[0],
        ));
        Ok(Sandbox {
            policy,
            writable,
            ruleset,
            mountns,
            netns,
            filter,
            cgroups,
            drop_caps,
            rlimits: resources.rlimits,
            protections,
            next_command: AtomicU64::new(1),
            counted,
            harness_state,
            disk,
        })
    }

    pub fn protections(&self) -> &[Protection] {
        &self.protections
    }

    /// Whether a server listens on `127.0.0.1:port` where the commands run: inside the mission's
    /// network namespace, or on the host without one.
    pub fn loopback_accepts(&self, port: u16) -> bool {
        match &self.netns {
            Some(netns) => netns.accepts(port),
            None => host_accepts(port),
        }
    }

    /// Prepares one command run in `cwd`: its control group and what its child applies before
    /// `exec`.
    pub fn jail(self: &Arc<Self>, cwd: &Path) -> io::Result<Jail> {
        let cwd = c_path(cwd)?;
        let n = self.next_command.fetch_add(1, Ordering::Relaxed);
        let cgroup = match &self.cgroups {
            Some(base) => Some(base.command(
                &format!("cmd-{n}"),
                self.policy.limits.processes,
                self.policy.limits.memory_bytes,
            )?),
            None => None,
        };
        let setup = ChildSetup {
            cgroup_fds: cgroup.as_ref().map(|c| c.join_fds()).unwrap_or_default(),
            rlimits: self.rlimits.clone(),
            mountns: self.mountns.as_ref().map(|n| (n.raw_fd(), cwd)),
            netns: self.netns.as_ref().map(|n| n.raw_fd()),
            drop_caps: self.drop_caps,
            ruleset: self.ruleset.as_ref().map(|r| r.raw_fd()),
            filter: self.filter.clone(),
        };
        let used_at_start = self.quota_baseline();
        Ok(Jail {
            sandbox: Arc::clone(self),
            cgroup,
            setup: Some(setup),
            used_at_start,
        })
    }

    /// Whether the counted folders grew past a quota during a command. The filesystem's free
    /// space and free inodes are the cheap signal: the folders are counted when the filesystem
    /// lost more than the room left since the last count, or at every fifth tick. The watcher's
    /// counts are spaced by what counting takes ([`DiskBook::may_count_again`]); the check after
    /// a command ends counts whenever the signal says so, and otherwise as often as that spacing
    /// allows. Bytes and files are counted in one walk.
    fn over_quota(&self, at_start: Usage, check: Check) -> Option<OverQuota> {
        let limits = &self.policy.limits;
        if limits.disk_bytes.is_none() && limits.files.is_none() {
            return None;
        }
        let free = free_space(&self.writable[0]);
        let mut book = self.disk.lock().ok()?;
        // A folder that was over a quota at the last count and has not grown since needs no
        // count: only growth is stopped.
        let suspect = free
            .map(|free| book.estimate(free))
            .is_some_and(|estimate| estimate != book.used && over(limits, estimate).is_some());
        // Free inodes and bytes are shared with every process on the filesystem: one that frees
        // files while a command adds some hides the command's growth from the signal. So the
        // check after a command also counts whenever counting is cheap enough to repeat.
        let count = match check {
            Check::Final => suspect || book.may_count_again(),
            Check::Tick { fifth } => (suspect || fifth) && book.may_count_again(),
        };
        if !count {
            return None;
        }
        let used = self.recount(&mut book, free);
        // Only a command that added to what is over the quota is stopped.
        if limits.disk_bytes.is_some_and(|max| used.bytes > max) && used.bytes > at_start.bytes {
            return Some(OverQuota::Disk(used.bytes));
        }
        if limits.files.is_some_and(|max| used.files > max) && used.files > at_start.files {
            return Some(OverQuota::Files(used.files));
        }
        None
    }

    /// Counts the folders, and starts the estimates from what the filesystem had free then.
    fn recount(&self, book: &mut DiskBook, free: Option<FreeSpace>) -> Usage {
        let started = Instant::now();
        let used = count_usage(&self.counted, &self.harness_state);
        *book = DiskBook {
            used,
            free_at_count: free.unwrap_or(book.free_at_count),
            counted_at: Instant::now(),
            count_took: started.elapsed(),
        };
        used
    }

    /// Starts a command's accounting from the free space now (other processes on the machine
    /// change it too); what the folders held at the last count.
    fn quota_baseline(&self) -> Usage {
        let free = self.writable.first().and_then(|w| free_space(w));
        match self.disk.lock() {
            Ok(mut book) => {
                if let Some(free) = free {
                    book.free_at_count = free;
                }
                book.used
            }
            Err(_) => Usage::default(),
        }
    }

    /// The file quota's refusal of a new file the harness would write for an agent (the file
    /// tools), when the counted folders are at the quota or over it. The folders are counted
    /// again when the last count and the free inodes since say half the quota is reached (the
    /// agents may have deleted files since, and other processes change the free inodes: one
    /// walk per write near the quota), and otherwise as often as counting is cheap enough to
    /// repeat ([`DiskBook::may_count_again`]), since another process freeing files can hide
    /// what the agents added.
    pub fn file_refusal(&self) -> Option<Notice> {
        let max = self.policy.limits.files?;
        let free = free_space(&self.writable[0]);
        let mut book = self.disk.lock().ok()?;
        let mut files = match free {
            Some(free) => book.estimate(free).files,
            None => book.used.files,
        };
        // Free inodes are shared with every other process on the filesystem, so the estimate
        // can be off either way: from half the quota on, the folders are counted.
        if files >= max / 2 || book.may_count_again() {
            files = self.recount(&mut book, free).files;
        }
        (files >= max).then(|| file_refused_notice(max, files))
    }
}

/// The observation for a file tool refused by the file quota.
fn file_refused_notice(max: u64, files: u64) -> Notice {
    Notice::new(
        NoticeKind::FileCountLimit,
        format!(
            "refused: file limit {max} reached (the workspace, $HOME and $TMPDIR hold {files} files); delete files to go on"
        ),
    )
}

/// When the quotas are checked: at a tick of the watcher (every fifth one may count the
/// folders), or once after the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Tick { fifth: bool },
    Final,
}

/// Which quota `used` is over, the disk first.
fn over(limits: &Limits, used: Usage) -> Option<OverQuota> {
    if limits.disk_bytes.is_some_and(|max| used.bytes > max) {
        return Some(OverQuota::Disk(used.bytes));
    }
    if limits.files.is_some_and(|max| used.files > max) {
        return Some(OverQuota::Files(used.files));
    }
    None
}

/// The observation for a command stopped by the file quota, or a file tool refused by it.
pub fn file_limit_notice(max: u64, files: u64) -> Notice {
    Notice::new(
        NoticeKind::FileCountLimit,
        format!(
            "killed: file limit {max} exceeded (the workspace, $HOME and $TMPDIR hold {files} files); delete files to go on"
        ),
    )
}

/// Readable folders: system folders, the policy's and the mission's, `PATH` and the installations
/// its programs link into.
fn readable_paths(policy: &SandboxPolicy, paths: &SandboxPaths) -> Vec<PathBuf> {
    let mut readable: Vec<PathBuf> = SYSTEM_READ.iter().map(PathBuf::from).collect();
    readable.extend(policy.read.iter().cloned());
    readable.extend(paths.read.iter().cloned());
    let system = |p: &Path| SYSTEM_READ.iter().any(|s| p.starts_with(s));
    for dir in paths.path_var.split(':').filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if system(&dir) || !dir.is_dir() {
            continue;
        }
        readable.push(dir.clone());
        // pyenv, rbenv and asdf shims run the manager from its root folder.
        if dir.file_name().is_some_and(|n| n == "shims") {
            if let Some(root) = dir.parent() {
                readable.push(root.to_path_buf());
            }
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten().take(4096) {
            let path = entry.path();
            if !path.is_symlink() {
                continue;
            }
            let Ok(target) = path.canonicalize() else {
                continue;
            };
            // `<prefix>/bin/python3.11` -> `<prefix>`: the interpreter's own library.
            let Some(bin) = target.parent() else { continue };
            let prefix = if bin.file_name().is_some_and(|n| n == "bin") {
                bin.parent().unwrap_or(bin)
            } else {
                bin
            };
            if system(prefix)
                || prefix.components().count() < 3
                || readable.iter().any(|r| prefix.starts_with(r))
            {
                continue;
            }
            readable.push(prefix.to_path_buf());
        }
    }
    readable
}

/// Tasks of the calling user now (for an `RLIMIT_NPROC` above them).
fn user_tasks() -> u64 {
    // SAFETY: getuid has no failure mode.
    let uid = unsafe { libc::getuid() };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut count = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let mine = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok())
            == Some(uid);
        if mine {
            count += status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|t| t.trim().parse::<u64>().ok())
                .unwrap_or(1);
        }
    }
    count
}

/// What the folders in `dirs` hold together (see [`tree_usage`]).
fn count_usage(dirs: &[PathBuf], harness_state: &[PathBuf]) -> Usage {
    dirs.iter().fold(Usage::default(), |total, dir| {
        let usage = tree_usage(dir, harness_state);
        Usage {
            bytes: total.bytes + usage.bytes,
            files: total.files + usage.files,
        }
    })
}

/// What the tree beneath `dir` holds (links not followed), in one walk: the bytes its regular
/// files take on disk, and its entries below `dir` (files, folders, links, anything), those in
/// `harness_state` folders excepted: the harness's repository holds an object for every file
/// the agents wrote, which they could neither avoid nor delete.
pub fn tree_usage(dir: &Path, harness_state: &[PathBuf]) -> Usage {
    use std::os::unix::fs::MetadataExt;
    let mut usage = Usage::default();
    // The depth of the harness folder the walk is in; a walk is depth first, so it has left the
    // folder at the first entry no deeper than the folder itself.
    let mut in_state: Option<usize> = None;
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        let depth = entry.depth();
        if depth == 0 {
            continue;
        }
        if in_state.is_some_and(|d| depth <= d) {
            in_state = None;
        }
        let file_type = entry.file_type();
        if in_state.is_none()
            && file_type.is_dir()
            && harness_state.iter().any(|s| s == entry.path())
        {
            in_state = Some(depth);
        }
        if in_state.is_none() {
            usage.files += 1;
        }
        if file_type.is_file() {
            if let Ok(metadata) = entry.metadata() {
                usage.bytes += metadata.blocks() * 512;
            }
        }
    }
    usage
}

/// The free bytes and inodes of the filesystem holding `path`.
fn free_space(path: &Path) -> Option<FreeSpace> {
    let c_path = c_path(path).ok()?;
    // SAFETY: a NUL-terminated path and a zeroed out-parameter.
    unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c_path.as_ptr(), &mut stat) != 0 {
            return None;
        }
        Some(FreeSpace {
            bytes: stat.f_bavail as u64 * stat.f_frsize as u64,
            // A filesystem without a fixed inode table reports none at all.
            files: (stat.f_files > 0).then_some(stat.f_favail as u64),
        })
    }
}

/// Whether a server listens on the host's `127.0.0.1:port`.
pub fn host_accepts(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// What a command's child applies to itself before `exec`.
#[derive(Debug, Clone)]
pub struct ChildSetup {
    cgroup_fds: Vec<i32>,
    rlimits: Vec<Rlimit>,
    /// The namespace and the folder to return to after joining it.
    mountns: Option<(i32, std::ffi::CString)>,
    netns: Option<i32>,
    drop_caps: Option<u32>,
    ruleset: Option<i32>,
    filter: Option<seccomp::Filter>,
}

impl ChildSetup {
    /// Runs in the forked child: system calls on inherited data only, no allocation.
    pub fn apply(&self) -> io::Result<()> {
        cgroup::join(&self.cgroup_fds)?;
        for &Rlimit { resource, value } in &self.rlimits {
            // The CPU limit's soft value sends SIGXCPU (reported as such); the hard one, a little
            // later, SIGKILL for a process that ignores it.
            let hard = if resource == libc::RLIMIT_CPU {
                value.saturating_add(2)
            } else {
                value
            };
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: hard,
            };
            // SAFETY: a valid rlimit structure for a resource number from libc.
            if unsafe { libc::setrlimit(resource, &limit) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some((fd, cwd)) = &self.mountns {
            mountns::enter(*fd, cwd)?;
        }
        if let Some(fd) = self.netns {
            netns::enter(fd)?;
        }
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(last) = self.drop_caps {
            drop_capabilities(last)?;
        }
        if let Some(fd) = self.ruleset {
            landlock::restrict_self(fd)?;
        }
        if let Some(filter) = &self.filter {
            filter.install()?;
        }
        Ok(())
    }
}

/// Drops every capability of a root process for good: the bounding set, ambient, effective,
/// permitted and inheritable sets, with the securebits that stop `exec` from granting root's
/// capabilities again.
fn drop_capabilities(last: u32) -> io::Result<()> {
    // NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED and NO_CAP_AMBIENT_RAISE, each locked.
    const SECBITS: libc::c_ulong = 0xEF;
    // SAFETY: prctl and capset with integer arguments and stack structures.
    unsafe {
        // Both need CAP_SETPCAP, which a container may have taken away. They are a second line:
        // with no_new_privs set, `exec` never grants more than the empty permitted set below.
        libc::prctl(libc::PR_SET_SECUREBITS, SECBITS, 0, 0, 0);
        for cap in 0..=last {
            libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        let header = Header {
            version: 0x2008_0522,
            pid: 0,
        };
        let data = [Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        if libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// One command inside a sandbox.
#[derive(Debug)]
pub struct Jail {
    sandbox: Arc<Sandbox>,
    cgroup: Option<cgroup::CommandCgroup>,
    setup: Option<ChildSetup>,
    used_at_start: Usage,
}

/// Why a jailed command was stopped early.
pub type Stop = OverQuota;

impl Jail {
    /// What the child applies to itself before `exec` (taken once).
    pub fn take_setup(&mut self) -> Option<ChildSetup> {
        self.setup.take()
    }

    /// Checks the disk and file quotas every `interval`, and counts the folders at most every
    /// fifth time (less often when counting takes long), until one is exceeded; never returns
    /// otherwise.
    pub async fn watch(&self, interval: Duration) -> Stop {
        let mut tick = 0u64;
        loop {
            tokio::time::sleep(interval).await;
            tick += 1;
            if let Some(stop) = self.sandbox.over_quota(
                self.used_at_start,
                Check::Tick {
                    fifth: tick.is_multiple_of(5),
                },
            ) {
                return stop;
            }
        }
    }

    /// Kills every process the command left, wherever its session or group: they would keep its
    /// output pipes open.
    pub async fn kill_remaining(&self) {
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill_all().await;
        }
    }

    /// Kills whatever is left of the command, removes its control group and says which limits
    /// it hit.
    pub async fn finish(mut self, stopped: Option<Stop>, status: &ExitFacts) -> Vec<Notice> {
        let mut notices = Vec::new();
        let limits = self.sandbox.policy.limits.clone();
        if let Some(cgroup) = self.cgroup.take() {
            // `kill_remaining` already emptied the group.
            let ooms = cgroup.oom_kills();
            if ooms > 0 {
                notices.push(Notice::new(
                    NoticeKind::MemoryLimit,
                    format!(
                        "killed: memory limit {} exceeded (the kernel killed {ooms} process{} of the command)",
                        limits.memory_bytes.map(human_bytes).unwrap_or_default(),
                        if ooms == 1 { "" } else { "es" }
                    ),
                ));
            }
            let forks = cgroup.process_limit_hits();
            if forks > 0 {
                notices.push(Notice::new(
                    NoticeKind::ProcessLimit,
                    format!(
                        "limit: process limit {} reached (fork failed {forks} time{})",
                        limits.processes.unwrap_or(0),
                        if forks == 1 { "" } else { "s" }
                    ),
                ));
            }
            cgroup.remove().await;
        }
        match stopped.or_else(|| self.sandbox.over_quota(self.used_at_start, Check::Final)) {
            Some(OverQuota::Disk(used)) => notices.push(Notice::new(
                NoticeKind::DiskLimit,
                format!(
                    "killed: disk limit {} exceeded (the workspace, $HOME and $TMPDIR hold {}); delete files to go on",
                    limits.disk_bytes.map(human_bytes).unwrap_or_default(),
                    human_bytes(used)
                ),
            )),
            Some(OverQuota::Files(files)) => {
                notices.push(file_limit_notice(limits.files.unwrap_or(0), files))
            }
            None => {}
        }
        let fsize = status.signal == Some(libc::SIGXFSZ)
            || status.exit_code == Some(128 + libc::SIGXFSZ)
            || status.text_has("file too large")
            || status.text_has("file size limit exceeded");
        if let (true, Some(max)) = (fsize, limits.file_size_bytes) {
            notices.push(Notice::new(
                NoticeKind::FileSizeLimit,
                format!(
                    "limit: file size limit {} exceeded (writes past it fail)",
                    human_bytes(max)
                ),
            ));
        }
        let cpu = status.signal == Some(libc::SIGXCPU)
            || status.exit_code == Some(128 + libc::SIGXCPU)
            || status.text_has("cpu time limit exceeded");
        if let (true, Some(max)) = (cpu, limits.cpu_seconds) {
            notices.push(Notice::new(
                NoticeKind::CpuLimit,
                format!("killed: CPU time limit {max} s exceeded"),
            ));
        }
        notices.extend(denials(status, self.sandbox.policy.network));
        notices
    }
}

impl Drop for Jail {
    fn drop(&mut self) {
        // A command that never finished (its task was cancelled): kill synchronously.
        if let Some(cgroup) = self.cgroup.take() {
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async {
                        cgroup.kill_all().await;
                        cgroup.remove().await;
                    });
                }
            });
        }
    }
}

/// What a finished command left for classifying limit hits and denials.
#[derive(Debug, Clone, Default)]
pub struct ExitFacts {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// stdout and stderr, lowercased.
    pub text: String,
}

impl ExitFacts {
    fn text_has(&self, needle: &str) -> bool {
        self.text.contains(needle)
    }

    fn line_with(&self, needles: &[&str]) -> Option<String> {
        self.text
            .lines()
            .find(|l| needles.iter().any(|n| l.contains(n)))
            .map(|l| l.trim().chars().take(160).collect())
    }
}

/// Denials read from what the command printed: the kernel refuses silently, so the errors the
/// command reported are the evidence (a lower bound: a command may swallow them).
fn denials(status: &ExitFacts, network: Network) -> Vec<Notice> {
    let mut notices = Vec::new();
    if let Some(line) = status.line_with(&[
        "permission denied",
        "operation not permitted",
        "read-only file system",
        // Removing or renaming a folder the sandbox mounted read-only.
        "device or resource busy",
    ]) {
        notices.push(Notice::new(
            NoticeKind::Denied,
            format!(
                "denied: the sandbox refused an operation (`{line}`): commands write only beneath the workspace, $HOME and $TMPDIR, and cannot signal processes outside the command"
            ),
        ));
    }
    if let Some(line) = status.line_with(&[
        "network is unreachable",
        "address family not supported",
        "temporary failure in name resolution",
        "could not resolve host",
        "name or service not known",
        "no address associated with hostname",
        "cannot assign requested address",
    ]) {
        let allowed = match network {
            Network::None => "commands have no network",
            Network::Loopback => "commands reach loopback only",
        };
        notices.push(Notice::new(
            NoticeKind::NetworkDenied,
            format!("denied: network unavailable (`{line}`): {allowed}"),
        ));
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(4 << 30), "4 GiB");
        assert_eq!(human_bytes(256 << 20), "256 MiB");
        assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(human_bytes(100), "100 B");
    }

    #[test]
    fn denials_are_read_from_the_errors_a_command_printed() {
        let facts = |text: &str| ExitFacts {
            exit_code: Some(1),
            signal: None,
            text: text.to_lowercase(),
        };
        let kinds = |text: &str, network| -> Vec<NoticeKind> {
            denials(&facts(text), network)
                .into_iter()
                .map(|n| n.kind)
                .collect()
        };
        assert_eq!(
            kinds("sh: cannot create /etc/x: Permission denied", Network::None),
            vec![NoticeKind::Denied]
        );
        assert_eq!(
            kinds(
                "OSError: [Errno 97] Address family not supported by protocol",
                Network::None
            ),
            vec![NoticeKind::NetworkDenied]
        );
        assert!(kinds("3 passed in 0.02s", Network::None).is_empty());
        let notice = &denials(
            &facts("curl: (6) Could not resolve host: x"),
            Network::Loopback,
        )[0];
        assert!(notice.detail.contains("loopback only"), "{}", notice.detail);
    }

    #[test]
    fn one_walk_counts_bytes_and_entries_but_not_the_harness_state() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::write(root.join("src/deep/a.py"), vec![b'x'; 10_000]).unwrap();
        std::fs::write(root.join("src/b.py"), "").unwrap();
        std::os::unix::fs::symlink("src/b.py", root.join("link")).unwrap();
        std::fs::create_dir_all(root.join(".git/objects/ab")).unwrap();
        std::fs::write(root.join(".git/objects/ab/cdef"), vec![b'y'; 10_000]).unwrap();
        // A folder named like the harness's state but elsewhere is the agents'.
        std::fs::create_dir_all(root.join("src/.git")).unwrap();
        let all = tree_usage(root, &[]);
        let agents = tree_usage(root, &[root.join(".git")]);
        // src, src/deep, a.py, b.py, link, src/.git; .git, objects, ab, cdef.
        assert_eq!(all.files, 10);
        assert_eq!(agents.files, 6);
        assert_eq!(agents.bytes, all.bytes);
        assert!(all.bytes >= 20_000, "{all:?}");
        // Entries right after the harness folder are counted again.
        std::fs::write(root.join("zz.txt"), "").unwrap();
        assert_eq!(tree_usage(root, &[root.join(".git")]).files, 7);
    }

    #[test]
    fn estimates_add_what_the_filesystem_lost_since_the_count() {
        let book = DiskBook {
            used: Usage {
                bytes: 1000,
                files: 50,
            },
            free_at_count: FreeSpace {
                bytes: 10_000,
                files: Some(500),
            },
            counted_at: Instant::now(),
            count_took: Duration::from_millis(1),
        };
        let lost = FreeSpace {
            bytes: 9_000,
            files: Some(380),
        };
        assert_eq!(
            book.estimate(lost),
            Usage {
                bytes: 2000,
                files: 170
            }
        );
        // Space freed since (by anyone) never lowers the estimate below the count.
        let freed = FreeSpace {
            bytes: 20_000,
            files: Some(900),
        };
        assert_eq!(book.estimate(freed), book.used);
        // Without inode figures the files stay as counted.
        let no_inodes = FreeSpace {
            bytes: 10_000,
            files: None,
        };
        assert_eq!(book.estimate(no_inodes).files, 50);
        // A count that took 1 ms may be repeated 20 ms later, not at once.
        let slow = DiskBook {
            count_took: Duration::from_secs(60),
            ..book
        };
        assert!(!slow.may_count_again());
    }

    /// A sandbox with a quota of 20 files counted in `workspace`, `mission` writable.
    fn file_quota_sandbox(mission: &Path, workspace: &Path, read_only: Vec<PathBuf>) -> Sandbox {
        let policy = SandboxPolicy {
            limits: Limits {
                files: Some(20),
                ..Limits::default()
            },
            ..SandboxPolicy::default()
        };
        let paths = SandboxPaths {
            writable: vec![mission.to_path_buf()],
            read_only,
            counted: vec![workspace.to_path_buf()],
            read: Vec::new(),
            path_var: "/usr/bin:/bin".into(),
        };
        Sandbox::new(policy, &paths).unwrap()
    }

    #[test]
    fn files_freed_elsewhere_meanwhile_do_not_hide_files_added_past_the_quota() {
        let dir = tempfile::tempdir().unwrap();
        let mission = dir.path().join("mission");
        let workspace = mission.join("workspace");
        let elsewhere = dir.path().join("elsewhere");
        for folder in [&workspace, &elsewhere] {
            std::fs::create_dir_all(folder).unwrap();
        }
        // Another process's files on the same filesystem, which it deletes while the agent
        // adds files: the free inodes then say nothing was added.
        for i in 0..200 {
            std::fs::write(elsewhere.join(format!("o{i}")), "").unwrap();
        }
        let sandbox = file_quota_sandbox(&mission, &workspace, Vec::new());
        let start = sandbox.quota_baseline();
        for i in 0..25 {
            std::fs::write(workspace.join(format!("f{i}")), "").unwrap();
        }
        for i in 0..100 {
            std::fs::remove_file(elsewhere.join(format!("o{i}"))).unwrap();
        }
        assert_eq!(
            sandbox.over_quota(start, Check::Final),
            Some(OverQuota::Files(25))
        );
        // A file tool's write after more files were freed elsewhere is refused all the same.
        for i in 100..200 {
            std::fs::remove_file(elsewhere.join(format!("o{i}"))).unwrap();
        }
        let refusal = sandbox.file_refusal().expect("a refusal");
        assert!(
            refusal.detail.contains("hold 25 files"),
            "{}",
            refusal.detail
        );
    }

    #[test]
    fn a_command_that_adds_files_past_the_quota_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let mission = dir.path().join("mission");
        let workspace = mission.join("workspace");
        let git = workspace.join(".git");
        let scratch = mission.join("acceptance");
        for folder in [&git, &scratch] {
            std::fs::create_dir_all(folder).unwrap();
        }
        let sandbox = file_quota_sandbox(&mission, &workspace, vec![git.clone()]);
        let files = sandbox.protections().iter().find(|p| p.name == "files");
        assert!(files.is_some_and(|p| p.active), "{files:?}");
        // The harness's repository and the ground truth's copies do not count.
        for i in 0..30 {
            std::fs::write(git.join(format!("o{i}")), "").unwrap();
            std::fs::write(scratch.join(format!("c{i}")), "").unwrap();
        }
        let start = sandbox.quota_baseline();
        assert_eq!(start.files, 0, "{start:?}");
        assert_eq!(sandbox.over_quota(start, Check::Final), None);
        assert!(sandbox.file_refusal().is_none());
        for i in 0..25 {
            std::fs::write(workspace.join(format!("f{i}")), "").unwrap();
        }
        assert_eq!(
            sandbox.over_quota(start, Check::Final),
            Some(OverQuota::Files(25))
        );
        // A command that started over the quota and added nothing is left alone.
        let over = sandbox.quota_baseline();
        assert_eq!(sandbox.over_quota(over, Check::Final), None);
        let refusal = sandbox.file_refusal().expect("a refusal");
        assert_eq!(refusal.kind, NoticeKind::FileCountLimit);
        assert!(
            refusal.detail.contains("file limit 20 reached")
                && refusal.detail.contains("hold 25 files"),
            "{}",
            refusal.detail
        );
        // Deleting files lifts the refusal.
        for i in 0..10 {
            std::fs::remove_file(workspace.join(format!("f{i}"))).unwrap();
        }
        assert!(sandbox.file_refusal().is_none());
        let notice = file_limit_notice(100_000, 100_412);
        assert_eq!(
            notice.detail,
            "killed: file limit 100000 exceeded (the workspace, $HOME and $TMPDIR hold 100412 files); delete files to go on"
        );
    }

    #[test]
    fn readable_paths_follow_interpreter_links_but_not_home() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("versions/3.11/bin");
        std::fs::create_dir_all(&prefix).unwrap();
        std::fs::write(prefix.join("python3.11"), "").unwrap();
        let venv = dir.path().join("env/venv/bin");
        std::fs::create_dir_all(&venv).unwrap();
        std::os::unix::fs::symlink(prefix.join("python3.11"), venv.join("python")).unwrap();
        let paths = SandboxPaths {
            writable: vec![dir.path().join("mission")],
            read_only: Vec::new(),
            counted: Vec::new(),
            read: Vec::new(),
            path_var: format!("{}:/usr/bin", venv.display()),
        };
        let readable = readable_paths(&SandboxPolicy::default(), &paths);
        assert!(readable.contains(&venv));
        let interpreter = dir.path().join("versions/3.11").canonicalize().unwrap();
        assert!(readable.contains(&interpreter), "{readable:?}");
        assert!(!readable.contains(&dir.path().to_path_buf()));
    }
}
