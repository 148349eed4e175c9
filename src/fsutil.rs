//! File-system helpers shared by the runtime and the reports: walking and copying trees of any
//! depth and content through folder descriptors (`openat` and friends, so no path ever grows
//! past `PATH_MAX`), with what could not be taken listed rather than failing; atomic writes.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A path a walk or a copy left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The path below the walked folder as a person reads it ([`display_path`]).
    pub path: String,
    pub reason: String,
}

/// What an entry of a walked tree is (its type as `fstatat` sees it, links never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    Symlink,
    Fifo,
    Socket,
    Device,
    Unknown,
}

impl EntryKind {
    fn of(mode: libc::mode_t) -> EntryKind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => EntryKind::Dir,
            libc::S_IFREG => EntryKind::File,
            libc::S_IFLNK => EntryKind::Symlink,
            libc::S_IFIFO => EntryKind::Fifo,
            libc::S_IFSOCK => EntryKind::Socket,
            libc::S_IFCHR | libc::S_IFBLK => EntryKind::Device,
            _ => EntryKind::Unknown,
        }
    }

    /// Why a copy or the record leaves an entry of this kind out; `None` for what they take.
    pub fn not_taken(self) -> Option<&'static str> {
        match self {
            EntryKind::Fifo => Some("a named pipe (fifo): only files, folders and links are taken"),
            EntryKind::Socket => Some("a socket: only files, folders and links are taken"),
            EntryKind::Device => Some("a device: only files, folders and links are taken"),
            EntryKind::Unknown => {
                Some("of an unknown file type: only files, folders and links are taken")
            }
            EntryKind::Dir | EntryKind::File | EntryKind::Symlink => None,
        }
    }
}

/// One entry of a walk: its place, its folder (open) and its kind.
pub struct Entry<'a> {
    /// The path below the walked folder, raw bytes separated by `/`.
    pub path: &'a [u8],
    pub name: &'a CStr,
    /// The open folder that holds the entry.
    pub parent: BorrowedFd<'a>,
    pub kind: EntryKind,
    /// `st_mode`, the permission bits included.
    pub mode: u32,
    /// `st_size`: bytes of a file, of a link's target.
    pub size: u64,
}

impl Entry<'_> {
    /// Whether the entry sits right in the walked folder.
    pub fn is_top_level(&self) -> bool {
        !self.path.contains(&b'/')
    }

    /// Opens the entry, a regular file, for reading (never a link, never blocking on a fifo
    /// that replaced it).
    pub fn open_file(&self) -> io::Result<File> {
        let fd = open_at(
            self.parent,
            self.name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        )?;
        let file = File::from(fd);
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(io::Error::other("it is no longer a regular file"));
        }
        Ok(file)
    }

    /// The target of the entry, a symbolic link, as raw bytes.
    pub fn read_link(&self) -> io::Result<Vec<u8>> {
        read_link_at(self.parent, self.name)
    }
}

/// What a visitor wants done with a folder.
pub enum Descend {
    /// Walk into it; the descriptor is the folder's companion (for a copy: its copy), handed to
    /// the visitor with each entry inside.
    Into(Option<OwnedFd>),
    /// Leave it and everything inside out, silently.
    Skip,
}

/// What a walk does with each entry. An `Err` is the reason the entry was left out; it is
/// listed among the walk's [`Skipped`] paths.
pub trait Visitor {
    fn dir(&mut self, entry: &Entry, companion: Option<BorrowedFd>) -> Result<Descend, String>;
    /// Files, links and everything that is neither.
    fn other(&mut self, entry: &Entry, companion: Option<BorrowedFd>) -> Result<(), String>;
}

/// Folders of a walk held open at once; deeper ones are closed and opened again through `..`
/// on the way back up, so a walk of any depth stays under the descriptor limit.
const OPEN_FRAMES: usize = 64;

struct Frame {
    fd: Option<OwnedFd>,
    companion: Option<OwnedFd>,
    has_companion: bool,
    names: Vec<CString>,
    next: usize,
    /// The length of the walk's path to this folder.
    path_len: usize,
}

/// Walks the tree under `root` (links never followed), depth first with names in byte order,
/// handing each entry but the root to `visitor`; `companion` goes with the root. Returns the
/// entries left out and why. Only a root that cannot be opened or listed is an error.
pub fn walk(
    root: &Path,
    companion: Option<OwnedFd>,
    visitor: &mut dyn Visitor,
) -> io::Result<Vec<Skipped>> {
    let root_fd = open_at_cwd(root, libc::O_RDONLY | libc::O_DIRECTORY)?;
    let names = list_dir(root_fd.as_fd())?;
    let mut skipped = Vec::new();
    let mut stack = vec![Frame {
        has_companion: companion.is_some(),
        fd: Some(root_fd),
        companion,
        names,
        next: 0,
        path_len: 0,
    }];
    let mut path: Vec<u8> = Vec::new();
    while let Some(top) = stack.last_mut() {
        if top.next == top.names.len() {
            let Some(done) = stack.pop() else { break };
            if let Some(parent) = stack.last_mut() {
                if let Err(e) = reopen_parent(parent, &done) {
                    path.truncate(parent.path_len);
                    skipped.push(Skipped {
                        path: display_path(&path),
                        reason: format!("cannot open the folder again: {e}"),
                    });
                    parent.next = parent.names.len();
                }
            }
            continue;
        }
        let name = top.names[top.next].clone();
        top.next += 1;
        path.truncate(top.path_len);
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name.to_bytes());
        let (Some(dir_fd), companion_fd) = (
            top.fd.as_ref().map(|f| f.as_raw_fd()),
            top.companion.as_ref().map(|f| f.as_raw_fd()),
        ) else {
            break;
        };
        // SAFETY: both descriptors belong to the top frame, which stays on the stack and open
        // until this entry is done (only frames below a newly pushed one are ever closed).
        let (parent, companion) = unsafe {
            (
                BorrowedFd::borrow_raw(dir_fd),
                companion_fd.map(|fd| BorrowedFd::borrow_raw(fd)),
            )
        };
        let (mode, size) = match stat_at(parent, &name) {
            Ok(stat) => stat,
            Err(e) => {
                skipped.push(Skipped {
                    path: display_path(&path),
                    reason: format!("cannot read its type: {e}"),
                });
                continue;
            }
        };
        let entry = Entry {
            path: &path,
            name: &name,
            parent,
            kind: EntryKind::of(mode),
            mode,
            size,
        };
        if entry.kind != EntryKind::Dir {
            if let Err(reason) = visitor.other(&entry, companion) {
                skipped.push(Skipped {
                    path: display_path(&path),
                    reason,
                });
            }
            continue;
        }
        let child_companion = match visitor.dir(&entry, companion) {
            Ok(Descend::Into(child_companion)) => child_companion,
            Ok(Descend::Skip) => continue,
            Err(reason) => {
                skipped.push(Skipped {
                    path: display_path(&path),
                    reason,
                });
                continue;
            }
        };
        let opened = open_at(
            parent,
            &name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .and_then(|fd| list_dir(fd.as_fd()).map(|names| (fd, names)));
        let (fd, names) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                skipped.push(Skipped {
                    path: display_path(&path),
                    reason: format!("cannot open the folder: {e}"),
                });
                continue;
            }
        };
        stack.push(Frame {
            fd: Some(fd),
            has_companion: child_companion.is_some(),
            companion: child_companion,
            names,
            next: 0,
            path_len: path.len(),
        });
        if stack.len() > OPEN_FRAMES {
            let index = stack.len() - OPEN_FRAMES - 1;
            stack[index].fd = None;
            stack[index].companion = None;
        }
    }
    Ok(skipped)
}

/// Opens `parent`'s folders again through `..` of its child `done` when the walk closed them.
fn reopen_parent(parent: &mut Frame, done: &Frame) -> io::Result<()> {
    let dot_dot = c"..";
    if parent.fd.is_none() {
        let child = done
            .fd
            .as_ref()
            .ok_or_else(|| io::Error::other("the folder below was closed"))?;
        parent.fd = Some(open_at(
            child.as_fd(),
            dot_dot,
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        )?);
    }
    if parent.has_companion && parent.companion.is_none() {
        let child = done
            .companion
            .as_ref()
            .ok_or_else(|| io::Error::other("the copy's folder below was closed"))?;
        parent.companion = Some(open_at(
            child.as_fd(),
            dot_dot,
            libc::O_RDONLY | libc::O_DIRECTORY,
            0,
        )?);
    }
    Ok(())
}

/// Copies the files, folders and symbolic links under `from` into `to` (created if needed),
/// leaving out top-level entries named in `skip`. Links are copied as links, never followed;
/// fifos, sockets and devices are left out. Returns what was left out and why: only failing to
/// open `from` or to create or open `to` is an error.
pub fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> io::Result<Vec<Skipped>> {
    std::fs::create_dir_all(to)?;
    let destination = open_at_cwd(to, libc::O_RDONLY | libc::O_DIRECTORY)?;
    let mut copier = Copier { skip };
    walk(from, Some(destination), &mut copier)
}

struct Copier<'a> {
    skip: &'a [&'a str],
}

impl Copier<'_> {
    fn skipped(&self, entry: &Entry) -> bool {
        entry.is_top_level()
            && self
                .skip
                .iter()
                .any(|s| s.as_bytes() == entry.name.to_bytes())
    }
}

impl Visitor for Copier<'_> {
    fn dir(&mut self, entry: &Entry, companion: Option<BorrowedFd>) -> Result<Descend, String> {
        if self.skipped(entry) {
            return Ok(Descend::Skip);
        }
        let target = companion.ok_or("the copy's folder is not open")?;
        let mode = (entry.mode & 0o777) | 0o700;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        // SAFETY: a valid descriptor and a NUL-terminated name.
        let made = unsafe { libc::mkdirat(target.as_raw_fd(), entry.name.as_ptr(), mode) };
        if made != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(format!("cannot create the folder: {e}"));
            }
            // Something of the same name is there: a folder is merged into, anything else goes.
            if open_at(target, entry.name, flags, 0).is_err() {
                remove_at(target, entry.name).map_err(|e| format!("cannot replace it: {e}"))?;
                // SAFETY: as above.
                if unsafe { libc::mkdirat(target.as_raw_fd(), entry.name.as_ptr(), mode) } != 0 {
                    return Err(format!(
                        "cannot create the folder: {}",
                        io::Error::last_os_error()
                    ));
                }
            }
        }
        let copy = open_at(target, entry.name, flags, 0)
            .map_err(|e| format!("cannot open the folder's copy: {e}"))?;
        Ok(Descend::Into(Some(copy)))
    }

    fn other(&mut self, entry: &Entry, companion: Option<BorrowedFd>) -> Result<(), String> {
        if self.skipped(entry) {
            return Ok(());
        }
        if let Some(reason) = entry.kind.not_taken() {
            return Err(reason.to_string());
        }
        let target = companion.ok_or("the copy's folder is not open")?;
        if entry.kind == EntryKind::Symlink {
            let link = entry
                .read_link()
                .map_err(|e| format!("cannot read the link: {e}"))?;
            let link = CString::new(link).map_err(|e| format!("cannot read the link: {e}"))?;
            let make = || {
                // SAFETY: a valid descriptor and NUL-terminated strings.
                let made = unsafe {
                    libc::symlinkat(link.as_ptr(), target.as_raw_fd(), entry.name.as_ptr())
                };
                if made == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            };
            return match make() {
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    remove_at(target, entry.name).and_then(|()| make())
                }
                other => other,
            }
            .map_err(|e| format!("cannot create the link: {e}"));
        }
        let mut source = entry
            .open_file()
            .map_err(|e| format!("cannot open the file: {e}"))?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW;
        let mode = entry.mode & 0o777;
        let created = match open_at(target, entry.name, flags, mode | 0o600) {
            // A link of the same name is replaced, never written through.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => remove_at(target, entry.name)
                .and_then(|()| open_at(target, entry.name, flags, mode | 0o600)),
            other => other,
        };
        let mut copy = File::from(created.map_err(|e| format!("cannot create the copy: {e}"))?);
        // An empty file needs no copying (many empty files are a common way to slow a copy).
        if entry.size > 0 {
            io::copy(&mut source, &mut copy)
                .map_err(|e| format!("cannot copy the content: {e}"))?;
        }
        // SAFETY: a valid descriptor.
        if unsafe { libc::fchmod(copy.as_raw_fd(), mode) } != 0 {
            return Err(format!(
                "cannot set the copy's permissions: {}",
                io::Error::last_os_error()
            ));
        }
        Ok(())
    }
}

/// Writes files and links at paths of any depth below a folder, creating the folders between
/// by descriptors. The folder of the last entry stays open, so siblings written one after the
/// other (as `git ls-tree` lists them) cost one `openat` each.
pub struct TreeWriter {
    root: OwnedFd,
    /// The folder last written into: its path below the root, open.
    last: Option<(Vec<u8>, OwnedFd)>,
}

impl TreeWriter {
    /// Writes below `root`, which must exist.
    pub fn new(root: &Path) -> io::Result<TreeWriter> {
        Ok(TreeWriter {
            root: open_at_cwd(root, libc::O_RDONLY | libc::O_DIRECTORY)?,
            last: None,
        })
    }

    /// The open folder for `dir` (raw bytes below the root, empty for the root), created if
    /// needed.
    fn folder(&mut self, dir: &[u8]) -> io::Result<BorrowedFd<'_>> {
        let reuse = matches!(&self.last, Some((path, _)) if path == dir);
        if !reuse {
            let mut current = open_at(
                self.root.as_fd(),
                c".",
                libc::O_RDONLY | libc::O_DIRECTORY,
                0,
            )?;
            for name in dir.split(|b| *b == b'/').filter(|n| !n.is_empty()) {
                let name = cstring(name)?;
                // SAFETY: a valid descriptor and a NUL-terminated name.
                if unsafe { libc::mkdirat(current.as_raw_fd(), name.as_ptr(), 0o755) } != 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(e);
                    }
                }
                current = open_at(
                    current.as_fd(),
                    &name,
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                )?;
            }
            self.last = Some((dir.to_vec(), current));
        }
        match &self.last {
            Some((_, fd)) => Ok(fd.as_fd()),
            None => Err(io::Error::other("no folder is open")),
        }
    }

    /// Writes a file at `path` with `content` and permission bits `mode`.
    pub fn file(&mut self, path: &[u8], content: &[u8], mode: u32) -> io::Result<()> {
        let (dir, name) = split_last(path)?;
        let folder = self.folder(dir)?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW;
        let mut file = File::from(open_at(folder, &name, flags, mode | 0o600)?);
        io::Write::write_all(&mut file, content)?;
        // SAFETY: a valid descriptor.
        check(unsafe { libc::fchmod(file.as_raw_fd(), mode) })?;
        Ok(())
    }

    /// Writes a symbolic link at `path` to `target`.
    pub fn link(&mut self, path: &[u8], target: &[u8]) -> io::Result<()> {
        let (dir, name) = split_last(path)?;
        let target = cstring(target)?;
        let folder = self.folder(dir)?;
        // SAFETY: a valid descriptor and NUL-terminated strings.
        check(unsafe { libc::symlinkat(target.as_ptr(), folder.as_raw_fd(), name.as_ptr()) })?;
        Ok(())
    }
}

/// A path's folder and last name.
fn split_last(path: &[u8]) -> io::Result<(&[u8], CString)> {
    let (dir, name) = match path.iter().rposition(|b| *b == b'/') {
        Some(at) => (&path[..at], &path[at + 1..]),
        None => (&path[..0], path),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return Err(io::Error::other("the path names no file"));
    }
    Ok((dir, cstring(name)?))
}

/// A path as a person reads it: invalid UTF-8 replaced, control characters (a newline in a
/// name) escaped so that the path stays on one line.
pub fn display_path(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::other("the path holds a NUL byte"))
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

fn open_at(dir: BorrowedFd, name: &CStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: a valid descriptor and a NUL-terminated name; the new descriptor is owned here.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: `openat` returned a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_at_cwd(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let path = cstring(path.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path; the new descriptor is owned here.
    let fd = check(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: `open` returned a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn stat_at(dir: BorrowedFd, name: &CStr) -> io::Result<(u32, u64)> {
    // SAFETY: a zeroed `stat` is a valid value for `fstatat` to fill.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor, a NUL-terminated name and a `stat` to write.
    check(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut stat,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok((stat.st_mode, stat.st_size.max(0) as u64))
}

fn read_link_at(dir: BorrowedFd, name: &CStr) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0u8; 256];
    loop {
        // SAFETY: a valid descriptor, a NUL-terminated name and a buffer of the given size.
        let length = unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                name.as_ptr(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        if length < 0 {
            return Err(io::Error::last_os_error());
        }
        let length = length as usize;
        if length < buffer.len() {
            buffer.truncate(length);
            return Ok(buffer);
        }
        buffer.resize(buffer.len() * 2, 0);
    }
}

/// Removes a file, link or empty folder named `name` in `dir`.
fn remove_at(dir: BorrowedFd, name: &CStr) -> io::Result<()> {
    // SAFETY: a valid descriptor and a NUL-terminated name.
    let removed = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
    if removed == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EISDIR) {
        // SAFETY: as above.
        check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) })?;
        return Ok(());
    }
    Err(e)
}

/// The names in an open folder but `.` and `..`, in byte order.
fn list_dir(dir: BorrowedFd) -> io::Result<Vec<CString>> {
    // SAFETY: `dup` of a valid descriptor; `fdopendir` takes ownership of the copy.
    let copy = check(unsafe { libc::dup(dir.as_raw_fd()) })?;
    // SAFETY: `copy` is a fresh descriptor of a folder.
    let stream = unsafe { libc::fdopendir(copy) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: `fdopendir` failed, so `copy` is still ours to close.
        unsafe { libc::close(copy) };
        return Err(e);
    }
    let mut names = Vec::new();
    let result = loop {
        // SAFETY: resetting errno tells the end of the folder from an error.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `stream` is an open folder stream.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            let e = io::Error::last_os_error();
            break if e.raw_os_error().unwrap_or(0) == 0 {
                Ok(())
            } else {
                Err(e)
            };
        }
        // SAFETY: `readdir` returned an entry whose name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    };
    // SAFETY: `stream` is open and closed once, closing `copy` with it.
    unsafe { libc::closedir(stream) };
    result?;
    names.sort();
    Ok(names)
}

/// Something other than a file where a report or input file belongs (a folder named
/// `runs.parquet`, a fifo named `events.jsonl`): bad input, named with what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` is {kind}, where a file belongs")]
pub struct NotAFile {
    pub path: String,
    pub kind: &'static str,
}

/// `Ok` when `path` is a file (links followed) or nothing is there; [`NotAFile`] otherwise.
pub fn check_file(path: &Path) -> Result<(), NotAFile> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(metadata) = std::fs::metadata(path) else {
        return Ok(());
    };
    let file_type = metadata.file_type();
    let kind = if file_type.is_file() {
        return Ok(());
    } else if file_type.is_dir() {
        "a folder"
    } else if file_type.is_fifo() {
        "a named pipe (fifo)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "of an unknown file type"
    };
    Err(NotAFile {
        path: path.display().to_string(),
        kind,
    })
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so readers never
/// see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let temporary = path.with_file_name(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    fn tree() -> (tempfile::TempDir, tempfile::TempDir) {
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap())
    }

    #[test]
    fn only_a_file_or_nothing_passes_as_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runs.parquet");
        assert_eq!(check_file(&file), Ok(()));
        std::fs::write(&file, "x").unwrap();
        assert_eq!(check_file(&file), Ok(()));
        let folder = dir.path().join("events.jsonl");
        std::fs::create_dir(&folder).unwrap();
        let error = check_file(&folder).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("`{}` is a folder, where a file belongs", folder.display())
        );
        let fifo = dir.path().join("run.json");
        let name = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert_eq!(check_file(&fifo).unwrap_err().kind, "a named pipe (fifo)");
    }

    #[test]
    fn copies_and_skips() {
        let (from, to) = tree();
        std::fs::create_dir_all(from.path().join("a/b")).unwrap();
        std::fs::write(from.path().join("a/b/c.txt"), "c").unwrap();
        std::fs::create_dir_all(from.path().join(".git")).unwrap();
        std::fs::write(from.path().join(".git/HEAD"), "x").unwrap();
        std::fs::create_dir_all(from.path().join("a/.git")).unwrap();
        std::fs::write(from.path().join("a/.git/HEAD"), "nested").unwrap();
        std::os::unix::fs::symlink("a/b/c.txt", from.path().join("link")).unwrap();
        let skipped = copy_tree(from.path(), to.path(), &[".git"]).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(
            std::fs::read_to_string(to.path().join("a/b/c.txt")).unwrap(),
            "c"
        );
        assert!(!to.path().join(".git").exists());
        // Only the top-level name is skipped.
        assert_eq!(
            std::fs::read_to_string(to.path().join("a/.git/HEAD")).unwrap(),
            "nested"
        );
        assert_eq!(
            std::fs::read_link(to.path().join("link")).unwrap(),
            Path::new("a/b/c.txt")
        );
    }

    #[test]
    fn copies_folders_deeper_than_path_max() {
        let (from, to) = tree();
        // 1,500 levels of 4-byte names: a path of 7,500 bytes, past PATH_MAX (4,096).
        let mut dir = File::open(from.path()).unwrap();
        for _ in 0..1500 {
            // SAFETY: a valid descriptor and a NUL-terminated name.
            assert_eq!(
                unsafe { libc::mkdirat(dir.as_raw_fd(), c"deep".as_ptr(), 0o755) },
                0
            );
            dir = File::from(
                open_at(dir.as_fd(), c"deep", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap(),
            );
        }
        let bottom = open_at(
            dir.as_fd(),
            c"bottom.txt",
            libc::O_WRONLY | libc::O_CREAT,
            0o644,
        )
        .unwrap();
        io::Write::write_all(&mut File::from(bottom), b"at the bottom").unwrap();
        let skipped = copy_tree(from.path(), to.path(), &[]).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let mut copy = File::open(to.path()).unwrap();
        for _ in 0..1500 {
            copy = File::from(
                open_at(copy.as_fd(), c"deep", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap(),
            );
        }
        let mut text = String::new();
        io::Read::read_to_string(
            &mut File::from(open_at(copy.as_fd(), c"bottom.txt", libc::O_RDONLY, 0).unwrap()),
            &mut text,
        )
        .unwrap();
        assert_eq!(text, "at the bottom");
    }

    #[test]
    fn copies_links_as_links_without_following_them() {
        let (from, to) = tree();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "outside").unwrap();
        std::fs::create_dir(from.path().join("d")).unwrap();
        let links = [
            ("to_outside", outside.path().to_path_buf()),
            ("to_itself", "to_itself".into()),
            ("loop_a", "loop_b".into()),
            ("loop_b", "loop_a".into()),
            ("d/up", "..".into()),
            ("dangling", "nowhere/at/all".into()),
        ];
        for (name, target) in &links {
            std::os::unix::fs::symlink(target, from.path().join(name)).unwrap();
        }
        let skipped = copy_tree(from.path(), to.path(), &[]).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        for (name, target) in &links {
            assert_eq!(&std::fs::read_link(to.path().join(name)).unwrap(), target);
        }
        // Nothing of the outside folder came in through the link.
        assert!(!to.path().join("secret").exists());
        assert_eq!(std::fs::read_dir(to.path().join("d")).unwrap().count(), 1);
    }

    #[test]
    fn copies_names_with_newlines_and_invalid_utf8() {
        let (from, to) = tree();
        let names: [&[u8]; 3] = [b"line\nbreak.txt", b"bad\xff\xfe.txt", b"tab\there"];
        for name in names {
            std::fs::write(from.path().join(OsStr::from_bytes(name)), name).unwrap();
        }
        let skipped = copy_tree(from.path(), to.path(), &[]).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        for name in names {
            assert_eq!(
                std::fs::read(to.path().join(OsStr::from_bytes(name))).unwrap(),
                name
            );
        }
        assert_eq!(display_path(b"line\nbreak"), "line\\nbreak");
        assert_eq!(display_path(b"bad\xff"), "bad\u{fffd}");
    }

    #[test]
    fn skips_fifos_sockets_and_devices_with_a_reason() {
        let (from, to) = tree();
        std::fs::create_dir(from.path().join("sub")).unwrap();
        std::fs::write(from.path().join("sub/kept.txt"), "kept").unwrap();
        let fifo = cstring(from.path().join("sub/pipe").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let _socket = std::os::unix::net::UnixListener::bind(from.path().join("sock")).unwrap();
        let skipped = copy_tree(from.path(), to.path(), &[]).unwrap();
        let paths: Vec<&str> = skipped.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["sock", "sub/pipe"]);
        assert!(skipped[0].reason.contains("socket"), "{skipped:?}");
        assert!(skipped[1].reason.contains("fifo"), "{skipped:?}");
        assert_eq!(
            std::fs::read_to_string(to.path().join("sub/kept.txt")).unwrap(),
            "kept"
        );
        // A device, where this machine lets a walk see one: /dev/null is left out by name.
        let mut names = Vec::new();
        struct Kinds<'a>(&'a mut Vec<(String, EntryKind)>);
        impl Visitor for Kinds<'_> {
            fn dir(&mut self, _: &Entry, _: Option<BorrowedFd>) -> Result<Descend, String> {
                Ok(Descend::Skip)
            }
            fn other(&mut self, entry: &Entry, _: Option<BorrowedFd>) -> Result<(), String> {
                self.0.push((display_path(entry.path), entry.kind));
                Ok(())
            }
        }
        walk(Path::new("/dev"), None, &mut Kinds(&mut names)).unwrap();
        assert!(names.contains(&("null".to_string(), EntryKind::Device)));
        assert!(EntryKind::Device.not_taken().is_some());
    }

    #[test]
    fn copies_over_an_existing_tree_and_keeps_permissions() {
        let (from, to) = tree();
        std::fs::write(from.path().join("run.sh"), "echo hi").unwrap();
        std::fs::set_permissions(
            from.path().join("run.sh"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(from.path().join("f"), "new").unwrap();
        // A link where the copy writes a file is replaced, not written through.
        let victim = to.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        std::os::unix::fs::symlink(&victim, to.path().join("f")).unwrap();
        let skipped = copy_tree(from.path(), to.path(), &[]).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert_eq!(std::fs::read_to_string(to.path().join("f")).unwrap(), "new");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(to.path().join("run.sh"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn only_the_destination_itself_is_an_error() {
        let from = tempfile::tempdir().unwrap();
        let blocker = from.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        assert!(copy_tree(from.path(), &blocker.join("below"), &[]).is_err());
    }

    #[test]
    fn tree_writer_writes_deeper_than_path_max() {
        let (_, to) = tree();
        let deep: Vec<u8> = b"deep/".repeat(1500);
        let mut writer = TreeWriter::new(to.path()).unwrap();
        writer
            .file(
                &[&deep[..], b"bottom.txt"].concat(),
                b"at the bottom",
                0o644,
            )
            .unwrap();
        writer.link(&[&deep[..], b"up"].concat(), b"..").unwrap();
        writer.file(b"top.sh", b"echo", 0o755).unwrap();
        let (from, copy) = (to, tempfile::tempdir().unwrap());
        // A walk finds exactly what was written.
        assert!(copy_tree(from.path(), copy.path(), &[]).unwrap().is_empty());
        let mut dir = File::open(copy.path()).unwrap();
        for _ in 0..1500 {
            dir = File::from(
                open_at(dir.as_fd(), c"deep", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap(),
            );
        }
        assert_eq!(read_link_at(dir.as_fd(), c"up").unwrap(), b"..");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(copy.path().join("top.sh"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o755);
        assert!(writer.file(b"a/..", b"", 0o644).is_err());
    }

    #[test]
    fn atomic_writes_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"1").unwrap();
        write_atomic(&path, b"2").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "2");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
