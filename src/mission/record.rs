//! The record of a workspace in the harness's repository: a snapshot of every file, link and
//! folder the agents left, by the harness's rules alone ([`RecordRules`]), written with
//! `git fast-import` so that no `.gitignore`, `.gitattributes`, git configuration or nested
//! repository in the workspace decides what is kept; and the way back from a snapshot.
//!
//! Git refuses a path with a `.git` name below the top, so a nested repository (`sub/.git`,
//! folder or file) is stored under an encoded name: a name that is `.git` (in any case) or starts
//! with `.git~` gets a `~` after `.git` (`sub/.git` is stored as `sub/.git~`, `.git~x` as
//! `.git~~x`), and restoring a checkpoint takes the `~` away again.

use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};

use crate::fsutil::{display_path, walk, Descend, Entry, EntryKind, Skipped, TreeWriter, Visitor};
use crate::spec::record::RecordRules;

/// Why a snapshot could not be read back into a workspace.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("a tree listing line without a path")]
    ListingWithoutPath,
    #[error("an unreadable tree listing line `{line}`")]
    ListingLine { line: String },
    /// `kind`: git's object type of the entry (a `commit` for a submodule, a `tree`).
    #[error("the snapshot holds a {kind}, not a file")]
    NotAFile { kind: String },
    #[error("cannot run git {command}: {source}")]
    Spawn {
        command: &'static str,
        source: io::Error,
    },
    #[error("cannot talk to git {command}")]
    Pipe { command: &'static str },
    #[error("cannot open the workspace: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// `path`: the path as the agents wrote it.
    #[error("cannot restore `{}`: {source}", display_path(.path))]
    Restore { path: Vec<u8>, source: io::Error },
    /// `answer`: the header line `git cat-file --batch` gave instead of an object's.
    #[error("cannot restore `{}`: git cat-file answered `{answer}`", display_path(.path))]
    CatFileAnswer { path: Vec<u8>, answer: String },
}

/// The tree git treats as always present and empty: the attributes of a record come from here,
/// never from the workspace.
pub const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/// Whether a name needs the encoding (`.git` in any case, or a name starting with `.git~`).
fn needs_encoding(name: &[u8]) -> bool {
    name.len() >= 4
        && name[..4].eq_ignore_ascii_case(b".git")
        && (name.len() == 4 || name[4] == b'~')
}

/// A path below the workspace as the record stores it.
pub fn encode_path(path: &[u8]) -> Vec<u8> {
    let mut encoded = Vec::with_capacity(path.len() + 2);
    for (i, name) in path.split(|b| *b == b'/').enumerate() {
        if i > 0 {
            encoded.push(b'/');
        }
        encoded.extend_from_slice(name);
        if needs_encoding(name) {
            encoded.insert(encoded.len() - name.len() + 4, b'~');
        }
    }
    encoded
}

/// A stored name as the agents wrote it, when it was encoded.
pub fn decode_name(name: &[u8]) -> Option<Vec<u8>> {
    let encoded = name.len() >= 5 && name[..4].eq_ignore_ascii_case(b".git") && name[4] == b'~';
    encoded.then(|| [&name[..4], &name[5..]].concat())
}

/// A path quoted for a fast-import command: C-style, every byte outside printable ASCII in
/// octal, so that any name (a newline, invalid UTF-8) goes through.
fn quote(path: &[u8]) -> Vec<u8> {
    let mut quoted = vec![b'"'];
    for &byte in path {
        match byte {
            b'"' | b'\\' => quoted.extend_from_slice(&[b'\\', byte]),
            0x20..=0x7e => quoted.push(byte),
            _ => quoted.extend_from_slice(format!("\\{byte:03o}").as_bytes()),
        }
    }
    quoted.push(b'"');
    quoted
}

/// Writes a fast-import commit of the workspace to `out`: `branch`, on top of `parent`, holding
/// exactly what `rules` keep. Returns the paths it could not take (fifos, sockets, unreadable
/// files) and why. An error is a failure to write the stream.
pub fn write_snapshot(
    workspace: &Path,
    rules: &RecordRules,
    branch: &str,
    parent: Option<&str>,
    message: &str,
    out: &mut dyn Write,
) -> io::Result<Vec<Skipped>> {
    // A fixed time: the same workspace gives the same commit, resumed or not.
    write!(
        out,
        "commit {branch}\ncommitter missions-bench <missions-bench@localhost> 0 +0000\ndata {}\n{message}\n",
        message.len()
    )?;
    if let Some(parent) = parent {
        writeln!(out, "from {parent}")?;
    }
    out.write_all(b"deleteall\n")?;
    let mut snapshot = Snapshot {
        rules,
        out,
        failed: None,
    };
    let skipped = walk(workspace, None, &mut snapshot)?;
    if let Some(e) = snapshot.failed {
        return Err(e);
    }
    out.write_all(b"\ndone\n")?;
    Ok(skipped)
}

struct Snapshot<'a> {
    rules: &'a RecordRules,
    out: &'a mut dyn Write,
    /// The stream broke: nothing more is written.
    failed: Option<io::Error>,
}

impl Snapshot<'_> {
    /// The entry's mode and content, read whole before anything is written so that an entry
    /// that cannot be read never leaves half a command in the stream.
    fn read(entry: &Entry) -> io::Result<(&'static str, Vec<u8>)> {
        if entry.kind == EntryKind::Symlink {
            return Ok(("120000", entry.read_link()?));
        }
        let mut content = Vec::new();
        entry.open_file()?.read_to_end(&mut content)?;
        let mode = if entry.mode & 0o111 != 0 {
            "100755"
        } else {
            "100644"
        };
        Ok((mode, content))
    }

    fn write(&mut self, path: &[u8], mode: &str, content: &[u8]) -> io::Result<()> {
        write!(self.out, "M {mode} inline ")?;
        self.out.write_all(&quote(&encode_path(path)))?;
        write!(self.out, "\ndata {}\n", content.len())?;
        self.out.write_all(content)?;
        self.out.write_all(b"\n")
    }
}

impl Visitor for Snapshot<'_> {
    fn dir(
        &mut self,
        entry: &Entry,
        _: Option<std::os::fd::BorrowedFd>,
    ) -> Result<Descend, String> {
        if self.failed.is_some() || self.rules.leaves_out(entry.path, true) {
            return Ok(Descend::Skip);
        }
        Ok(Descend::Into(None))
    }

    fn other(&mut self, entry: &Entry, _: Option<std::os::fd::BorrowedFd>) -> Result<(), String> {
        if self.failed.is_some() || self.rules.leaves_out(entry.path, false) {
            return Ok(());
        }
        if let Some(reason) = entry.kind.not_taken() {
            return Err(reason.to_string());
        }
        let (mode, content) = Snapshot::read(entry).map_err(|e| format!("cannot read it: {e}"))?;
        if let Err(e) = self.write(entry.path, mode, &content) {
            self.failed = Some(e);
        }
        Ok(())
    }
}

/// A file or link of a snapshot, as `git ls-tree -r -z --full-tree` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// `100644`, `100755` or `120000`.
    pub mode: String,
    pub oid: String,
    /// The stored (encoded) path.
    pub path: Vec<u8>,
}

/// Reads `git ls-tree -r -z --full-tree` output; blobs only (a snapshot holds nothing else).
pub fn parse_listing(listing: &[u8]) -> Result<Vec<StoredEntry>, RecordError> {
    let mut entries = Vec::new();
    for record in listing.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let tab = record
            .iter()
            .position(|b| *b == b'\t')
            .ok_or(RecordError::ListingWithoutPath)?;
        let head = String::from_utf8_lossy(&record[..tab]);
        let fields: Vec<&str> = head.split(' ').collect();
        let [mode, kind, oid] = fields[..] else {
            return Err(RecordError::ListingLine {
                line: head.into_owned(),
            });
        };
        if kind != "blob" {
            return Err(RecordError::NotAFile {
                kind: kind.to_string(),
            });
        }
        entries.push(StoredEntry {
            mode: mode.to_string(),
            oid: oid.to_string(),
            path: record[tab + 1..].to_vec(),
        });
    }
    Ok(entries)
}

/// A stored path as the agents wrote it.
pub fn decode_path(path: &[u8]) -> Vec<u8> {
    path.split(|b| *b == b'/')
        .map(|name| decode_name(name).unwrap_or_else(|| name.to_vec()))
        .collect::<Vec<_>>()
        .join(&b'/')
}

/// Writes a snapshot's `entries` into `workspace` (emptied by the caller) under their own
/// names, at any depth, reading contents from `cat_file`, a `git cat-file --batch` command.
pub fn write_back(
    workspace: &Path,
    entries: &[StoredEntry],
    mut cat_file: std::process::Command,
) -> Result<(), RecordError> {
    let mut child = cat_file
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|source| RecordError::Spawn {
            command: "cat-file",
            source,
        })?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(RecordError::Pipe {
            command: "cat-file",
        });
    };
    let oids: Vec<String> = entries.iter().map(|e| format!("{}\n", e.oid)).collect();
    // Asked from another thread: git answers while it reads, and a full pipe must not block us.
    let asking = std::thread::spawn(move || {
        for oid in oids {
            if stdin.write_all(oid.as_bytes()).is_err() {
                break;
            }
        }
    });
    let mut answers = io::BufReader::new(stdout);
    let result = TreeWriter::new(workspace)
        .map_err(|source| RecordError::Io {
            path: workspace.to_path_buf(),
            source,
        })
        .and_then(|mut writer| {
            entries
                .iter()
                .try_for_each(|entry| restore_entry(&mut writer, &mut answers, entry))
        });
    drop(answers);
    let _ = child.kill();
    let _ = child.wait();
    let _ = asking.join();
    result
}

/// Writes one entry under its own name, its content the next answer of `git cat-file --batch`.
fn restore_entry(
    writer: &mut TreeWriter,
    answers: &mut impl BufRead,
    entry: &StoredEntry,
) -> Result<(), RecordError> {
    let path = decode_path(&entry.path);
    let failed = |source: io::Error| RecordError::Restore {
        path: path.clone(),
        source,
    };
    let mut header = String::new();
    answers.read_line(&mut header).map_err(failed)?;
    let size: usize = header
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| RecordError::CatFileAnswer {
            path: path.clone(),
            answer: header.trim_end().to_string(),
        })?;
    // The content and the newline after it.
    let mut content = vec![0; size + 1];
    answers.read_exact(&mut content).map_err(failed)?;
    content.truncate(size);
    match entry.mode.as_str() {
        "120000" => writer.link(&path, &content),
        "100755" => writer.file(&path, &content, 0o755),
        _ => writer.file(&path, &content, 0o644),
    }
    .map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_git_names_round_trip() {
        for (name, stored) in [
            (&b".git"[..], &b".git~"[..]),
            (b".GIT", b".GIT~"),
            (b".git~", b".git~~"),
            (b".git~x", b".git~~x"),
            (b".gitignore", b".gitignore"),
            (b".github", b".github"),
            (b"git", b"git"),
        ] {
            assert_eq!(encode_path(name), stored);
            let back = decode_name(stored).unwrap_or_else(|| stored.to_vec());
            assert_eq!(back, name, "{}", String::from_utf8_lossy(name));
        }
        assert_eq!(encode_path(b"a/.git/b/.git"), b"a/.git~/b/.git~");
        assert_eq!(decode_path(b"a/.git~/b/.git~~x"), b"a/.git/b/.git~x");
        let listing = b"100644 blob 0123\ta/.git~/HEAD\x00120000 blob 4567\tlink\n\xff\x00";
        let entries = parse_listing(listing).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].mode, "120000");
        assert_eq!(entries[1].path, b"link\n\xff");
        assert!(parse_listing(b"160000 commit 89ab\tsub\0").is_err());
    }

    #[test]
    fn listing_errors_name_what_is_wrong() {
        let message = |listing: &[u8]| parse_listing(listing).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            message(b"160000 commit 89ab\tsub\0"),
            "the snapshot holds a commit, not a file"
        );
        assert_eq!(
            message(b"100644 blob\ta\0"),
            "an unreadable tree listing line `100644 blob`"
        );
        assert_eq!(
            message(b"100644 blob 0123"),
            "a tree listing line without a path"
        );
    }

    fn git(dir: &Path) -> std::process::Command {
        let mut command = std::process::Command::new("git");
        command
            .arg("-C")
            .arg(dir)
            .arg(format!("--attr-source={EMPTY_TREE}"))
            .args(["-c", "core.protectNTFS=false"])
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        command
    }

    #[test]
    fn a_snapshot_takes_everything_and_comes_back_whole() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::PermissionsExt;

        let root = tempfile::tempdir().unwrap();
        let workspace = root.path().join("workspace");
        std::fs::create_dir_all(workspace.join("sub/.git")).unwrap();
        std::fs::create_dir_all(workspace.join("pkg/__pycache__")).unwrap();
        assert!(git(&workspace)
            .args(["init", "-q"])
            .status()
            .unwrap()
            .success());
        let files: [(&[u8], &[u8]); 8] = [
            (b".gitignore", b"*\n"),
            (b".gitattributes", b"* -diff text eol=crlf filter=hide\n"),
            (b"a.txt", b"one\ntwo\n"),
            (b"sub/.git/HEAD", b"ref: refs/heads/main\n"),
            (b"sub/inner.txt", b"nested\n"),
            (b"line\nbreak", b"newline\n"),
            (b"bad\xff", b"invalid\n"),
            (b".git~x", b"looks encoded\n"),
        ];
        for (path, content) in files {
            std::fs::write(workspace.join(OsStr::from_bytes(path)), content).unwrap();
        }
        std::fs::write(workspace.join("pkg/__pycache__/m.pyc"), "cache").unwrap();
        std::fs::write(workspace.join("run.sh"), "echo").unwrap();
        std::fs::set_permissions(workspace.join("run.sh"), PermissionsExt::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink("../outside", workspace.join("link")).unwrap();
        let pipe = std::ffi::CString::new(workspace.join("pipe").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(pipe.as_ptr(), 0o644) }, 0);

        let mut stream = Vec::new();
        let rules = RecordRules::default();
        let skipped = write_snapshot(
            &workspace,
            &rules,
            "refs/heads/record",
            None,
            "m",
            &mut stream,
        )
        .unwrap();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].path, "pipe");
        let mut import = git(&workspace)
            .args(["fast-import", "--quiet", "--done"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        import.stdin.take().unwrap().write_all(&stream).unwrap();
        assert!(import.wait().unwrap().success());

        let listing = git(&workspace)
            .args(["ls-tree", "-r", "-z", "--full-tree", "refs/heads/record"])
            .output()
            .unwrap();
        let entries = parse_listing(&listing.stdout).unwrap();
        let stored: Vec<&[u8]> = entries.iter().map(|e| &e.path[..]).collect();
        assert!(stored.contains(&&b"sub/.git~/HEAD"[..]), "{stored:?}");
        assert!(stored.contains(&&b".git~~x"[..]), "{stored:?}");
        assert!(!stored.iter().any(|p| p.starts_with(b"pkg")), "{stored:?}");

        let back = root.path().join("back");
        std::fs::create_dir(&back).unwrap();
        let mut cat_file = git(&workspace);
        cat_file.args(["cat-file", "--batch"]);
        write_back(&back, &entries, cat_file).unwrap();
        for (path, content) in files {
            assert_eq!(
                std::fs::read(back.join(OsStr::from_bytes(path))).unwrap(),
                content,
                "{}",
                String::from_utf8_lossy(path)
            );
        }
        assert_eq!(
            std::fs::read_link(back.join("link")).unwrap(),
            Path::new("../outside")
        );
        let mode = std::fs::metadata(back.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(!back.join("pipe").exists() && !back.join("pkg").exists());
    }

    #[test]
    fn quoted_paths_carry_any_byte() {
        assert_eq!(quote(b"a\nb\xff\"\\"), b"\"a\\012b\\377\\\"\\\\\"".to_vec());
    }
}
