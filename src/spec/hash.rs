//! Content hashes for fingerprints and cache keys.

use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};
use walkdir::WalkDir;

pub fn hash_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Hash of every file under `dir`: sorted relative paths and contents, so renames count.
pub fn hash_tree(dir: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut entries: Vec<_> = WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(io::Error::other)?;
    entries.sort_by(|a, b| a.path().cmp(b.path()));
    for entry in entries {
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        if is_noise(relative) {
            continue;
        }
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        let bytes = std::fs::read(entry.path())?;
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex(&hasher.finalize()))
}

/// Files that tools leave behind and that are not part of a suite.
fn is_noise(relative: &Path) -> bool {
    relative.components().any(|c| {
        let name = c.as_os_str().to_string_lossy();
        name == "__pycache__" || name == ".pytest_cache" || name.ends_with(".pyc")
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first `n` hex digits, for names.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_hash_sees_contents_and_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "1").unwrap();
        let first = hash_tree(dir.path()).unwrap();
        std::fs::write(dir.path().join("a"), "2").unwrap();
        let second = hash_tree(dir.path()).unwrap();
        assert_ne!(first, second);
        std::fs::rename(dir.path().join("a"), dir.path().join("b")).unwrap();
        assert_ne!(second, hash_tree(dir.path()).unwrap());
        std::fs::create_dir(dir.path().join("__pycache__")).unwrap();
        std::fs::write(dir.path().join("__pycache__/x.pyc"), "junk").unwrap();
        let with_noise = hash_tree(dir.path()).unwrap();
        std::fs::remove_dir_all(dir.path().join("__pycache__")).unwrap();
        assert_eq!(with_noise, hash_tree(dir.path()).unwrap());
    }
}
