//! File-system helpers shared by the runtime and the reports.

use std::io;
use std::path::Path;

use walkdir::WalkDir;

/// Copies the files and folders under `from` into `to` (created if needed), skipping top-level
/// entries named in `skip`. Symbolic links are copied as links, never followed.
pub fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    let walker = WalkDir::new(from)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() != 1 || !skip.iter().any(|s| e.file_name() == *s));
    for entry in walker {
        let entry = entry.map_err(io::Error::other)?;
        let relative = entry.path().strip_prefix(from).map_err(io::Error::other)?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = to.join(relative);
        let file_type = entry.file_type();
        if file_type.is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if file_type.is_symlink() {
            let link = std::fs::read_link(entry.path())?;
            if target.symlink_metadata().is_ok() {
                std::fs::remove_file(&target)?;
            }
            std::os::unix::fs::symlink(link, &target)?;
        } else {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
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

    #[test]
    fn copies_and_skips() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(from.path().join("a/b")).unwrap();
        std::fs::write(from.path().join("a/b/c.txt"), "c").unwrap();
        std::fs::create_dir_all(from.path().join(".git")).unwrap();
        std::fs::write(from.path().join(".git/HEAD"), "x").unwrap();
        std::os::unix::fs::symlink("a/b/c.txt", from.path().join("link")).unwrap();
        copy_tree(from.path(), to.path(), &[".git"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.path().join("a/b/c.txt")).unwrap(),
            "c"
        );
        assert!(!to.path().join(".git").exists());
        assert_eq!(
            std::fs::read_link(to.path().join("link")).unwrap(),
            Path::new("a/b/c.txt")
        );
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
