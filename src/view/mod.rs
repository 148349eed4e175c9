//! `missions-bench view`: a read-only web UI over report folders, served on loopback
//! (`server.rs`) or written as a static folder (`static_site.rs`). From a run down to the turn:
//! runs → mission runs → milestones and rounds (verdicts, findings, evidence) → agent runs (the
//! diff) → turns (messages, tool calls with their results, usage and timing).
//!
//! Every page is a pure function of the report folders, through [`Viewer::get`], which both the
//! server and the static writer call. Page addresses are files (`r/0/m/<mission run>/003.html`)
//! and every link is relative, so the same pages work over HTTP and from `file://`. A journal is
//! indexed once (`index.rs`); a page reads only its own mission's lines and transcripts.
//!
//! Everything taken from a record is escaped: agents write hostile text. A path that leaves the
//! report folders (`..`, encoded or not, an absolute path, a link that leads out) is refused.

mod index;
mod pages;
mod search;
pub mod server;
mod static_site;
mod transcript;

use std::path::{Path, PathBuf};

pub use index::RunIndex;
pub use static_site::write_static;

/// Errors for the person who started the viewer; each names its path.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("cannot read `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a report folder (no events.jsonl)")]
    NotAReport { path: String },
    #[error(transparent)]
    NotAFile(#[from] crate::fsutil::NotAFile),
    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write `{path}`")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What a page address comes to.
#[derive(Debug)]
pub enum Reply {
    Html(String),
    /// A file of a report folder, resolved inside it.
    File {
        path: PathBuf,
        content_type: &'static str,
    },
    NotFound(String),
    /// The address leaves the report folders, or is not a plain path.
    Forbidden(String),
}

/// Whether pages are served (search works) or written to a folder (it does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Server,
    Static,
}

/// The report folders being viewed, each indexed.
pub struct Viewer {
    /// Each folder's index; its `folder` is resolved on disk, and files are served only from
    /// beneath it.
    runs: Vec<RunIndex>,
}

impl Viewer {
    /// Indexes each folder's journal (one streaming pass each).
    pub fn open(folders: &[PathBuf]) -> Result<Viewer, ViewError> {
        let mut runs = Vec::new();
        for folder in folders {
            let root = folder.canonicalize().map_err(|source| ViewError::Read {
                path: folder.display().to_string(),
                source,
            })?;
            crate::report::check_report_files(folder)?;
            if !root.join("events.jsonl").is_file() {
                return Err(ViewError::NotAReport {
                    path: folder.display().to_string(),
                });
            }
            runs.push(RunIndex::open(&root)?);
        }
        Ok(Viewer { runs })
    }

    pub fn runs(&self) -> &[RunIndex] {
        &self.runs
    }

    /// The reply for a request's path (as sent, percent-encoded) and query.
    pub fn get(&self, raw_path: &str, query: Option<&str>, mode: Mode) -> Reply {
        let segments = match decode_path(raw_path) {
            Ok(segments) => segments,
            Err(why) => return Reply::Forbidden(why),
        };
        let names: Vec<&str> = segments.iter().map(String::as_str).collect();
        match names.as_slice() {
            [] | ["index.html"] => Reply::Html(pages::runs_page(self)),
            ["search.html"] => Reply::Html(search::page(self, query, mode)),
            ["r", run, rest @ ..] => {
                let Some(run_index) = run.parse::<usize>().ok().filter(|&i| i < self.runs.len())
                else {
                    return Reply::NotFound(format!("no report folder number {run}"));
                };
                self.run_route(run_index, rest)
            }
            _ => Reply::NotFound(format!("no page at {raw_path}")),
        }
    }

    fn run_route(&self, i: usize, rest: &[&str]) -> Reply {
        let run = &self.runs[i];
        match rest {
            [] | ["index.html"] => Reply::Html(pages::run_page(run, i)),
            ["charts.html"] => Reply::Html(pages::charts_page(run)),
            ["p", page] => match page.strip_suffix(".html") {
                Some(file) => pages::pairing_page(run, i, file),
                None => Reply::NotFound(format!("no page `p/{page}`")),
            },
            ["m", slug, page @ ..] => {
                let Some(mission) = run.mission(slug) else {
                    return Reply::NotFound(format!("no mission run `{slug}` in this report"));
                };
                match page {
                    [] | ["index.html"] => Reply::Html(pages::mission_page(run, i, mission)),
                    [agent] => match page_number(agent) {
                        Some(number) => pages::agent_page(run, i, mission, number),
                        None => Reply::NotFound(format!("no page `{agent}`")),
                    },
                    [agent, turn] => match (agent.parse::<u32>().ok(), page_number(turn)) {
                        (Some(agent), Some(turn)) => pages::turn_page(run, i, mission, agent, turn),
                        _ => Reply::NotFound(format!("no page `{agent}/{turn}`")),
                    },
                    _ => Reply::NotFound("no such page".to_string()),
                }
            }
            _ => self.file(i, rest),
        }
    }

    /// A file of report folder `i`, if it stays inside it once links are resolved.
    fn file(&self, i: usize, relative: &[&str]) -> Reply {
        match resolve_inside(&self.runs[i].folder, relative) {
            Ok(path) => {
                let content_type = content_type(&path);
                Reply::File { path, content_type }
            }
            Err(reply) => reply,
        }
    }
}

/// `root/relative...` resolved on disk (links followed), refused unless it is a file beneath
/// `root`, which must itself be resolved.
fn resolve_inside(root: &Path, relative: &[&str]) -> Result<PathBuf, Reply> {
    let mut candidate = root.to_path_buf();
    for name in relative {
        candidate.push(name);
    }
    let Ok(resolved) = candidate.canonicalize() else {
        return Err(Reply::NotFound(format!(
            "no file `{}` in the report folder",
            relative.join("/")
        )));
    };
    if !resolved.starts_with(root) {
        return Err(Reply::Forbidden(format!(
            "`{}` leads outside the report folder",
            relative.join("/")
        )));
    }
    if !resolved.is_file() {
        return Err(Reply::NotFound(format!(
            "`{}` is not a file",
            relative.join("/")
        )));
    }
    Ok(resolved)
}

/// `003.html` -> 3.
fn page_number(name: &str) -> Option<u32> {
    name.strip_suffix(".html")?.parse().ok()
}

/// What a report file is served as. Only images are shown as what they are: an HTML or SVG file
/// an agent wrote must never run as a page of the viewer.
fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "text/plain; charset=utf-8",
    }
}

/// The path's names, percent-decoded. Refused: a path not starting with `/`, an empty name
/// (`//`, an absolute path inside the path), `.`, `..`, and names that decode to a `/`, a `\`
/// or a NUL. A trailing `/` stands for `index.html`.
pub fn decode_path(raw: &str) -> Result<Vec<String>, String> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(format!("`{raw}` is not an absolute path"));
    };
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut names = Vec::with_capacity(parts.len());
    for (position, part) in parts.iter().enumerate() {
        if part.is_empty() {
            if position + 1 == parts.len() {
                names.push("index.html".to_string());
                continue;
            }
            return Err(format!("`{raw}` has an empty name"));
        }
        let name = percent_decode(part).ok_or_else(|| format!("`{raw}` is badly encoded"))?;
        if name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return Err(format!("`{raw}` leaves the report folders"));
        }
        names.push(name);
    }
    Ok(names)
}

/// `%XX` sequences decoded; `None` for a bad sequence or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_folders_are_refused() {
        assert_eq!(decode_path("/").unwrap(), Vec::<String>::new());
        assert_eq!(
            decode_path("/r/0/evidence/a%20b.png").unwrap(),
            ["r", "0", "evidence", "a b.png"]
        );
        assert_eq!(decode_path("/r/0/").unwrap(), ["r", "0", "index.html"]);
        for bad in [
            "/r/0/../../etc/passwd",
            "/r/0/%2e%2e/%2E%2E/etc/passwd",
            "/r/0//etc/passwd",
            "/r/0/a%2fb",
            "/r/0/a%5c..",
            "/r/0/.",
            "/r/0/%00",
            "/r/0/%zz",
            "/r/0/%ff",
            "r/0",
        ] {
            assert!(decode_path(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn report_files_are_never_served_as_pages() {
        assert_eq!(content_type(Path::new("a/b.PNG")), "image/png");
        for name in ["x.html", "x.svg", "x.js", "x"] {
            assert_eq!(content_type(Path::new(name)), "text/plain; charset=utf-8");
        }
    }
}
