//! The record of a workspace in the harness's repository: a snapshot of every file, link and
//! folder the agents left, by the harness's rules alone ([`RecordRules`]), written with
//! `git fast-import` so that no `.gitignore`, `.gitattributes`, git configuration or nested
//! repository in the workspace decides what is kept; and the way back from a snapshot.
//!
//! Git refuses a path with a `.git` name below the top, so a nested repository (`sub/.git`,
//! folder or file) is stored under an encoded name: a name that is `.git` (in any case) or starts
//! with `.git~` gets a `~` after `.git` (`sub/.git` is stored as `sub/.git~`, `.git~x` as
//! `.git~~x`), and restoring a checkpoint takes the `~` away again.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::fsutil::{walk, Descend, Entry, EntryKind, Skipped, Visitor};
use crate::spec::record::RecordRules;

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

/// The renames that turn a checked-out snapshot's encoded names back into the agents' names,
/// deepest first: (stored path, restored path), both below the workspace.
pub fn decoding_renames(paths: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut renames = std::collections::BTreeSet::new();
    for path in paths {
        let names: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
        for (i, name) in names.iter().enumerate() {
            if let Some(decoded) = decode_name(name) {
                let prefix = names[..i].join(&b'/');
                let join = |last: &[u8]| {
                    if prefix.is_empty() {
                        last.to_vec()
                    } else {
                        [&prefix[..], b"/", last].concat()
                    }
                };
                renames.insert((i, join(name), join(&decoded)));
            }
        }
    }
    let mut renames: Vec<_> = renames.into_iter().collect();
    renames.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    renames
        .into_iter()
        .map(|(_, from, to)| (from, to))
        .collect()
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
        let renames = decoding_renames(&[b"a/.git~/b/.git~/HEAD".to_vec(), b"c/.git~".to_vec()]);
        assert_eq!(
            renames,
            [
                (b"a/.git~/b/.git~".to_vec(), b"a/.git~/b/.git".to_vec()),
                (b"a/.git~".to_vec(), b"a/.git".to_vec()),
                (b"c/.git~".to_vec(), b"c/.git".to_vec()),
            ]
        );
    }

    #[test]
    fn quoted_paths_carry_any_byte() {
        assert_eq!(quote(b"a\nb\xff\"\\"), b"\"a\\012b\\377\\\"\\\\\"".to_vec());
    }
}
