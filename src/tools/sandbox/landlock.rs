//! Landlock: the kernel's unprivileged access control. A ruleset is built once in the harness
//! (path rules opened and added there) and applied in each command's child process before `exec`
//! with one system call.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const CREATE_RULESET_VERSION: u32 = 1 << 0;
const RULE_PATH_BENEATH: libc::c_int = 1;

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REMOVE_DIR: u64 = 1 << 4;
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_DIR: u64 = 1 << 7;
const MAKE_REG: u64 = 1 << 8;
const MAKE_SOCK: u64 = 1 << 9;
const MAKE_FIFO: u64 = 1 << 10;
const MAKE_BLOCK: u64 = 1 << 11;
const MAKE_SYM: u64 = 1 << 12;
/// ABI 2.
const REFER: u64 = 1 << 13;
/// ABI 3.
const TRUNCATE: u64 = 1 << 14;
/// ABI 5.
const IOCTL_DEV: u64 = 1 << 15;

/// ABI 4: TCP bind and connect by port.
const NET_BIND_TCP: u64 = 1 << 0;
const NET_CONNECT_TCP: u64 = 1 << 1;

/// ABI 6: no connecting to abstract unix sockets, and no signals, outside the domain.
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
const SCOPE_SIGNAL: u64 = 1 << 1;

/// Rights that apply to a file (as opposed to a folder) in a path rule.
const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
const READ_RIGHTS: u64 = EXECUTE | READ_FILE | READ_DIR;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version of the running kernel; `None` when Landlock is missing or disabled.
pub fn abi_version() -> Option<u32> {
    // SAFETY: with a null attribute, size 0 and the version flag, the call only returns a number.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    (abi > 0).then_some(abi as u32)
}

/// Every filesystem right this ABI can restrict.
fn handled_fs(abi: u32) -> u64 {
    let mut rights = EXECUTE
        | WRITE_FILE
        | READ_FILE
        | READ_DIR
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    if abi >= 2 {
        rights |= REFER;
    }
    if abi >= 3 {
        rights |= TRUNCATE;
    }
    if abi >= 5 {
        rights |= IOCTL_DEV;
    }
    rights
}

/// A ruleset ready to be applied in a child process.
#[derive(Debug)]
pub struct Ruleset {
    fd: OwnedFd,
    pub abi: u32,
    /// Signals and abstract unix sockets confined to the sandbox (ABI 6).
    pub scoped: bool,
}

impl Ruleset {
    /// Builds a ruleset allowing everything beneath `writable`, reading and executing beneath
    /// `readable`, and reading and writing the single files in `device_files`. Paths that do not
    /// exist are skipped.
    pub fn build(
        abi: u32,
        writable: &[&Path],
        readable: &[&Path],
        device_files: &[&Path],
        deny_tcp: bool,
    ) -> io::Result<Ruleset> {
        let handled = handled_fs(abi);
        let deny_tcp = deny_tcp && abi >= 4;
        let scoped = abi >= 6;
        let attr = RulesetAttr {
            handled_access_fs: handled,
            handled_access_net: if deny_tcp {
                NET_BIND_TCP | NET_CONNECT_TCP
            } else {
                0
            },
            scoped: if scoped {
                SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
            } else {
                0
            },
        };
        let size = match abi {
            1..=3 => 8,
            4 | 5 => 16,
            _ => std::mem::size_of::<RulesetAttr>(),
        };
        // SAFETY: `attr` is a valid ruleset attribute of at least `size` bytes.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &attr as *const RulesetAttr,
                size,
                0u32,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the call returned a new file descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let ruleset = Ruleset { fd, abi, scoped };
        for path in writable {
            ruleset.add(path, handled)?;
        }
        for path in readable {
            ruleset.add(path, READ_RIGHTS & handled)?;
        }
        for path in device_files {
            ruleset.add(
                path,
                (READ_FILE | WRITE_FILE | IOCTL_DEV | TRUNCATE) & handled,
            )?;
        }
        Ok(ruleset)
    }

    fn add(&self, path: &Path, access: u64) -> io::Result<()> {
        let c_path = super::c_path(path)?;
        // SAFETY: a NUL-terminated path; O_PATH opens without reading.
        let raw = unsafe { libc::open(c_path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if raw < 0 {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::NotFound => Ok(()),
                _ => Err(io::Error::new(
                    error.kind(),
                    format!(
                        "cannot open `{}` for a Landlock rule: {error}",
                        path.display()
                    ),
                )),
            };
        }
        // SAFETY: `raw` is a descriptor we just opened.
        let parent = unsafe { OwnedFd::from_raw_fd(raw) };
        let is_dir = std::fs::metadata(path).map(|m| m.is_dir()).unwrap_or(false);
        let access = if is_dir { access } else { access & FILE_RIGHTS };
        let attr = PathBeneathAttr {
            allowed_access: access,
            parent_fd: parent.as_raw_fd(),
        };
        // SAFETY: a valid ruleset descriptor and a packed path-beneath attribute.
        let result = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.fd.as_raw_fd(),
                RULE_PATH_BENEATH,
                &attr as *const PathBeneathAttr,
                0u32,
            )
        };
        if result < 0 {
            let error = io::Error::last_os_error();
            return Err(io::Error::new(
                error.kind(),
                format!(
                    "cannot add a Landlock rule for `{}`: {error}",
                    path.display()
                ),
            ));
        }
        Ok(())
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Applies a ruleset to the calling process. Called in the child between `fork` and `exec`: it
/// makes one system call and allocates nothing. `no_new_privs` must already be set.
pub fn restrict_self(ruleset_fd: i32) -> io::Result<()> {
    // SAFETY: a ruleset descriptor inherited from the harness; no memory is passed.
    let result = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset_fd, 0u32) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
