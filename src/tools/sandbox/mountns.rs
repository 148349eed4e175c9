//! A private mount namespace per mission in which every mount is read-only except the mission's
//! own folders. Landlock already confines writes, but it does not cover changing a file's mode or
//! owner, and a command running as root owns the host's files: on a read-only mount those fail
//! with EROFS. Needs CAP_SYS_ADMIN (the harness running as root); created on a short-lived thread
//! and joined by each command's child, like the network namespace.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct MountNamespace {
    fd: OwnedFd,
    /// Mount points that could not be made read-only (kernel pseudo-filesystems, mostly).
    pub left_writable: Vec<String>,
}

impl MountNamespace {
    /// Everything read-only but `writable`, and `read_only` folders inside them read-only again.
    pub fn create(writable: &[PathBuf], read_only: &[PathBuf]) -> io::Result<MountNamespace> {
        let writable = writable.to_vec();
        let read_only = read_only.to_vec();
        std::thread::Builder::new()
            .name("mountns".to_string())
            .spawn(move || build(&writable, &read_only))?
            .join()
            .map_err(|_| io::Error::other("the mount namespace thread panicked"))?
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

fn mount(source: Option<&CString>, target: &CString, flags: libc::c_ulong) -> io::Result<()> {
    // SAFETY: NUL-terminated strings or null pointers; no filesystem type or data.
    let result = unsafe {
        libc::mount(
            source.map_or(std::ptr::null(), |s| s.as_ptr()),
            target.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Flags a bind remount must keep from a mount's own options.
fn kept_flags(options: &str) -> libc::c_ulong {
    let mut flags = 0;
    for option in options.split(',') {
        flags |= match option {
            "nosuid" => libc::MS_NOSUID,
            "nodev" => libc::MS_NODEV,
            "noexec" => libc::MS_NOEXEC,
            "noatime" => libc::MS_NOATIME,
            "nodiratime" => libc::MS_NODIRATIME,
            "relatime" => libc::MS_RELATIME,
            "strictatime" => libc::MS_STRICTATIME,
            _ => 0,
        };
    }
    flags
}

/// `\040` and friends in mountinfo paths.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let code = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|digits| u8::from_str_radix(digits, 8).ok());
            if let Some(code) = code {
                out.push(code);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points of the calling thread's namespace, with their per-mount options.
fn mounts() -> io::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string("/proc/thread-self/mountinfo")?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            Some((unescape(fields.get(4)?), fields.get(5)?.to_string()))
        })
        .collect())
}

fn build(writable: &[PathBuf], read_only: &[PathBuf]) -> io::Result<MountNamespace> {
    // SAFETY: unshare affects only this thread (its filesystem context is copied), which ends
    // right after.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let root = super::c_path(Path::new("/"))?;
    // Nothing done here may propagate back to the host's mounts.
    mount(None, &root, libc::MS_REC | libc::MS_PRIVATE)?;
    let mut left_writable = Vec::new();
    for (point, options) in mounts()? {
        if options.split(',').any(|o| o == "ro") {
            continue;
        }
        let target = super::c_path(Path::new(&point))?;
        let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | kept_flags(&options);
        if mount(None, &target, flags).is_err() {
            left_writable.push(point);
        }
    }
    if left_writable.iter().any(|p| p == "/") {
        return Err(io::Error::other("cannot make / read-only"));
    }
    let rebind = |dir: &PathBuf, extra: libc::c_ulong| -> io::Result<()> {
        let dir = super::c_path(&dir.canonicalize()?)?;
        mount(Some(&dir), &dir, libc::MS_BIND | libc::MS_REC)?;
        mount(
            None,
            &dir,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_NOSUID | libc::MS_NODEV | extra,
        )
    };
    for dir in writable {
        rebind(dir, 0)?;
    }
    for dir in read_only {
        rebind(dir, libc::MS_RDONLY)?;
    }
    let fd = super::open_own_namespace("mnt")?;
    Ok(MountNamespace { fd, left_writable })
}

/// Joins the namespace and returns to `cwd` (joining resets the working folder). Called in the
/// child between `fork` and `exec`.
pub fn enter(fd: i32, cwd: &CString) -> io::Result<()> {
    // SAFETY: a namespace descriptor inherited from the harness and a NUL-terminated path.
    unsafe {
        if libc::setns(fd, libc::CLONE_NEWNS) < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::chdir(cwd.as_ptr()) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_paths_and_flags() {
        assert_eq!(unescape("/mnt/with\\040space"), "/mnt/with space");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/odd\\04"), "/odd\\04");
        assert_eq!(
            kept_flags("rw,nosuid,nodev,noexec,relatime"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME
        );
        assert_eq!(kept_flags("rw"), 0);
    }
}
