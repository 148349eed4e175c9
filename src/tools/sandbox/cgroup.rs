//! Control groups per command: a process-count and a memory limit that hold for root too, a
//! record of every process the command started (including ones that left its session), and the
//! kernel's own counts of limit hits. cgroup v1 (`pids` and `memory` hierarchies) and v2 (when the
//! controllers are delegated to the harness's group) are both handled.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// The folders a run's command groups are created in.
#[derive(Debug)]
pub struct CgroupBase {
    pub version: Version,
    pids: Option<PathBuf>,
    memory: Option<PathBuf>,
}

/// Where the harness's own groups are, per controller.
struct Found {
    version: Version,
    pids: Option<PathBuf>,
    memory: Option<PathBuf>,
}

fn find() -> Option<Found> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut v1_pids = None;
    let mut v1_memory = None;
    let mut v2 = None;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let path = path.trim_start_matches('/');
        if controllers.is_empty() {
            v2 = Some(path.to_string());
            continue;
        }
        for controller in controllers.split(',') {
            let dir = Path::new("/sys/fs/cgroup").join(controller).join(path);
            match controller {
                "pids" if dir.join("cgroup.procs").is_file() => v1_pids = Some(dir),
                "memory" if dir.join("cgroup.procs").is_file() => v1_memory = Some(dir),
                _ => {}
            }
        }
    }
    if v1_pids.is_some() || v1_memory.is_some() {
        return Some(Found {
            version: Version::V1,
            pids: v1_pids,
            memory: v1_memory,
        });
    }
    let path = v2?;
    let mount = if Path::new("/sys/fs/cgroup/cgroup.controllers").is_file() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        PathBuf::from("/sys/fs/cgroup/unified")
    };
    let dir = mount.join(path);
    let delegated = std::fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
    let has = |name: &str| delegated.split_whitespace().any(|c| c == name);
    Some(Found {
        version: Version::V2,
        pids: has("pids").then(|| dir.clone()),
        memory: has("memory").then(|| dir.clone()),
    })
}

impl CgroupBase {
    /// Creates `<group>/<name>` for each usable controller; `None` when there is none or the
    /// harness may not create groups.
    pub fn create(name: &str) -> Option<CgroupBase> {
        let found = find()?;
        for parent in [&found.pids, &found.memory].into_iter().flatten() {
            sweep_dead(parent);
        }
        let make = |parent: &Option<PathBuf>, probe: &str| -> Option<PathBuf> {
            let dir = parent.as_ref()?.join(name);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(_) => return None,
            }
            if !dir.join(probe).exists() {
                let _ = std::fs::remove_dir(&dir);
                return None;
            }
            Some(dir)
        };
        let (pids, memory) = match found.version {
            Version::V1 => (
                make(&found.pids, "pids.max"),
                make(&found.memory, "memory.limit_in_bytes"),
            ),
            Version::V2 => {
                let parent = found.pids.clone().or(found.memory.clone());
                let dir = make(&parent, "cgroup.subtree_control")?;
                let mut enable = Vec::new();
                if found.pids.is_some() {
                    enable.push("+pids");
                }
                if found.memory.is_some() {
                    enable.push("+memory");
                }
                let _ = std::fs::write(dir.join("cgroup.subtree_control"), enable.join(" "));
                let control =
                    std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
                let has = |c: &str| control.split_whitespace().any(|x| x == c);
                (
                    has("pids").then(|| dir.clone()),
                    has("memory").then(|| dir.clone()),
                )
            }
        };
        if pids.is_none() && memory.is_none() {
            return None;
        }
        Some(CgroupBase {
            version: found.version,
            pids,
            memory,
        })
    }

    pub fn has_pids(&self) -> bool {
        self.pids.is_some()
    }

    pub fn has_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// A fresh group for one command, with its limits set.
    pub fn command(
        &self,
        name: &str,
        max_processes: Option<u64>,
        max_memory: Option<u64>,
    ) -> io::Result<CommandCgroup> {
        let mut group = CommandCgroup {
            version: self.version,
            pids: None,
            memory: None,
            join: Vec::new(),
        };
        if let Some(base) = &self.pids {
            let dir = base.join(name);
            std::fs::create_dir(&dir)?;
            group.pids = Some(dir.clone());
            if let Some(max) = max_processes {
                std::fs::write(dir.join("pids.max"), max.to_string())?;
            }
        }
        if let Some(base) = &self.memory {
            let dir = base.join(name);
            if group.pids.as_deref() != Some(dir.as_path()) {
                std::fs::create_dir(&dir)?;
            }
            group.memory = Some(dir.clone());
            if let Some(max) = max_memory {
                match self.version {
                    Version::V1 => {
                        std::fs::write(dir.join("memory.limit_in_bytes"), max.to_string())?;
                        // Without swap accounting this file is absent; swap then counts nowhere.
                        let _ = std::fs::write(
                            dir.join("memory.memsw.limit_in_bytes"),
                            max.to_string(),
                        );
                    }
                    Version::V2 => {
                        std::fs::write(dir.join("memory.max"), max.to_string())?;
                        let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                    }
                }
            }
        }
        let dirs: Vec<PathBuf> = group.dirs().into_iter().map(Path::to_path_buf).collect();
        for dir in dirs {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))?;
            group.join.push(OwnedFd::from(file));
        }
        Ok(group)
    }
}

impl Drop for CgroupBase {
    fn drop(&mut self) {
        for dir in [&self.pids, &self.memory].into_iter().flatten() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// One command's group.
#[derive(Debug)]
pub struct CommandCgroup {
    version: Version,
    pids: Option<PathBuf>,
    memory: Option<PathBuf>,
    /// `cgroup.procs` of each folder, open for writing, for the child to join.
    join: Vec<OwnedFd>,
}

impl CommandCgroup {
    fn dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = Vec::new();
        for dir in [&self.pids, &self.memory].into_iter().flatten() {
            if !dirs.contains(&dir.as_path()) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// Descriptors the child writes `0` to (itself) before `exec`.
    pub fn join_fds(&self) -> Vec<i32> {
        self.join.iter().map(|fd| fd.as_raw_fd()).collect()
    }

    fn members(&self) -> Vec<i32> {
        self.pids
            .as_ref()
            .or(self.memory.as_ref())
            .map_or_else(Vec::new, |dir| procs(dir))
    }

    /// Kills every process in the group, including ones that started their own session, until
    /// none is left (a fork bomb keeps forking while it is being killed).
    pub async fn kill_all(&self) {
        for _ in 0..200 {
            let members = self.members();
            if members.is_empty() {
                break;
            }
            for pid in members {
                // SAFETY: kill(2) on a pid read from the group; ESRCH when it already exited.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// How often a fork failed because the process limit was reached.
    pub fn process_limit_hits(&self) -> u64 {
        let Some(dir) = &self.pids else { return 0 };
        counter(&dir.join("pids.events"), "max")
    }

    /// How many processes the kernel killed for going over the memory limit.
    pub fn oom_kills(&self) -> u64 {
        let Some(dir) = &self.memory else { return 0 };
        match self.version {
            Version::V1 => counter(&dir.join("memory.oom_control"), "oom_kill"),
            Version::V2 => counter(&dir.join("memory.events"), "oom_kill"),
        }
    }

    /// Removes the group's folders, waiting briefly for killed processes to be gone.
    pub async fn remove(self) {
        for dir in self.dirs() {
            for _ in 0..100 {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
}

/// Ends what a harness that died (SIGKILL, a crash, an OOM kill) left under `parent`: in each
/// folder `missions-bench-<pid>-*` whose process is gone, every command's processes are killed
/// (they would otherwise run on, and could write into a resumed mission's workspace) and the
/// groups removed.
fn sweep_dead(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("missions-bench-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let base = entry.path();
        if let Ok(commands) = std::fs::read_dir(&base) {
            for command in commands.flatten() {
                if command.path().is_dir() {
                    kill_members(&command.path());
                    let _ = std::fs::remove_dir(command.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&base);
    }
}

/// The processes of the group in `dir`.
fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills every process of the group in `dir` until none is left (or about a second passed).
fn kill_members(dir: &Path) {
    for _ in 0..200 {
        let members = procs(dir);
        if members.is_empty() {
            return;
        }
        for pid in members {
            // SAFETY: kill(2) on a pid read from a group of the harness's own making; ESRCH
            // when it already exited.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn counter(path: &Path, name: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(' ')?;
            (key == name).then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// Writes `0` (the calling process) to each descriptor. Called in the child before `exec`.
pub fn join(fds: &[i32]) -> io::Result<()> {
    for &fd in fds {
        // SAFETY: writing one byte from a static buffer to an inherited descriptor.
        if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
