//! The workspace an agent works in, and the confinement of every path a tool is given to it:
//! absolute paths, `..` and symlinks that lead outside are refused.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Folders of the workspace that hold harness state; agents may read them but never write them.
pub const PROTECTED_DIRS: [&str; 2] = [".git", ".mission"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    #[error("`{0}` is absolute; give a path relative to the workspace root")]
    Absolute(String),
    #[error("`{0}` contains `..`; paths must stay inside the workspace")]
    ParentDir(String),
    #[error("`{0}` leads outside the workspace through a symbolic link")]
    SymlinkEscape(String),
    #[error("`{0}` is harness state ({1}/); it can be read but not written")]
    Protected(String, &'static str),
    #[error("`{0}` is empty")]
    Empty(String),
}

#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// `root` must exist; it is canonicalized so symlinked temp folders compare correctly.
    pub fn new(root: &Path) -> io::Result<Workspace> {
        Ok(Workspace {
            root: root.canonicalize()?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a path to read or list. The target need not exist; whatever part exists must stay
    /// inside the workspace once symlinks are followed.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, PathRefusal> {
        let cleaned = clean(relative)?;
        let joined = self.root.join(&cleaned);
        self.check_existing_prefix(relative, &joined)?;
        Ok(joined)
    }

    /// Resolves a path to write: as [`Workspace::resolve`], and not inside a protected folder.
    pub fn resolve_for_write(&self, relative: &str) -> Result<PathBuf, PathRefusal> {
        let cleaned = clean(relative)?;
        if cleaned.as_os_str().is_empty() {
            return Err(PathRefusal::Empty(relative.to_string()));
        }
        if let Some(Component::Normal(first)) = cleaned.components().next() {
            if let Some(dir) = PROTECTED_DIRS.iter().find(|d| first == **d) {
                return Err(PathRefusal::Protected(relative.to_string(), dir));
            }
        }
        self.resolve(relative)
    }

    /// The path relative to the root, for reports; `None` when outside.
    pub fn relative<'a>(&self, path: &'a Path) -> Option<&'a Path> {
        path.strip_prefix(&self.root).ok()
    }

    fn check_existing_prefix(&self, relative: &str, joined: &Path) -> Result<(), PathRefusal> {
        // The deepest ancestor that exists decides: canonicalizing it follows every symlink on
        // the way, including a final symlink to a file outside.
        let mut probe = joined.to_path_buf();
        loop {
            if probe.symlink_metadata().is_ok() {
                let real = probe
                    .canonicalize()
                    .map_err(|_| PathRefusal::SymlinkEscape(relative.to_string()))?;
                if !real.starts_with(&self.root) {
                    return Err(PathRefusal::SymlinkEscape(relative.to_string()));
                }
                return Ok(());
            }
            if !probe.pop() || !probe.starts_with(&self.root) {
                return Ok(());
            }
        }
    }
}

/// Normalises `.` away and refuses absolute paths and `..`.
fn clean(relative: &str) -> Result<PathBuf, PathRefusal> {
    let path = Path::new(relative.trim());
    let mut cleaned = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => cleaned.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathRefusal::ParentDir(relative.to_string())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathRefusal::Absolute(relative.to_string()))
            }
        }
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::new(dir.path()).unwrap();
        assert!(matches!(
            workspace.resolve("/etc/passwd"),
            Err(PathRefusal::Absolute(_))
        ));
        assert!(matches!(
            workspace.resolve("a/../../x"),
            Err(PathRefusal::ParentDir(_))
        ));
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        assert!(matches!(
            workspace.resolve("link/secret"),
            Err(PathRefusal::SymlinkEscape(_))
        ));
        std::fs::write(outside.path().join("f"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), dir.path().join("file_link")).unwrap();
        assert!(matches!(
            workspace.resolve_for_write("file_link"),
            Err(PathRefusal::SymlinkEscape(_))
        ));
        assert!(matches!(
            workspace.resolve_for_write(".mission/contract.toml"),
            Err(PathRefusal::Protected(..))
        ));
        assert!(workspace.resolve(".mission/contract.toml").is_ok());
        assert_eq!(
            workspace.resolve("./a/b.txt").unwrap(),
            workspace.root().join("a/b.txt")
        );
    }

    #[test]
    fn symlinks_inside_are_allowed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("alias")).unwrap();
        let workspace = Workspace::new(dir.path()).unwrap();
        assert!(workspace.resolve_for_write("alias/new.txt").is_ok());
    }
}
