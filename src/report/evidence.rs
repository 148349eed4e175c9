//! The HTML report's evidence section: for each mission run whose verdicts or browser checks
//! cite evidence (the assertions table's `evidence` column), its assertions with their verdicts
//! and the cited files beside them. Screenshots are embedded as `data:` URIs read from the run's
//! report folder, up to [`EmbedLimits`]; beyond them, and for network summaries, the file is
//! linked by its path relative to the HTML file, and the report says why. A file that is missing
//! or unreadable is said so in its place; nothing here fails the report.

use std::fmt::Write;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use base64::Engine;

use super::text::escape;
use crate::metrics::{AssertionRow, Tables};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// How much one report embeds: at most `images` screenshots, each at most `bytes_each` bytes.
/// A report of many runs would otherwise grow past what a browser opens.
#[derive(Debug, Clone, Copy)]
pub struct EmbedLimits {
    pub images: usize,
    pub bytes_each: u64,
}

impl EmbedLimits {
    pub const DEFAULT: EmbedLimits = EmbedLimits {
        images: 200,
        bytes_each: 2 * 1024 * 1024,
    };
}

/// A run's report folder: where its evidence files are read from, and the same folder as the
/// HTML file's links reach it.
struct ReportFolder {
    read_from: PathBuf,
    link: PathBuf,
}

impl ReportFolder {
    /// `folder` seen from `html_dir`, the folder the HTML file is written to: a relative path
    /// when both resolve, else the folder's absolute path.
    fn new(folder: &Path, html_dir: &Path) -> ReportFolder {
        let link = relative_path(folder, html_dir)
            .or_else(|| std::path::absolute(folder).ok())
            .unwrap_or_else(|| folder.to_path_buf());
        ReportFolder {
            read_from: folder.to_path_buf(),
            link,
        }
    }
}

/// `target` relative to `base`, both resolved on disk; `None` when either does not resolve.
fn relative_path(target: &Path, base: &Path) -> Option<PathBuf> {
    let target = target.canonicalize().ok()?;
    let base = base.canonicalize().ok()?;
    let target: Vec<Component<'_>> = target.components().collect();
    let base: Vec<Component<'_>> = base.components().collect();
    let common = target.iter().zip(&base).take_while(|(t, b)| t == b).count();
    let mut relative = PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    for component in &target[common..] {
        relative.push(component);
    }
    Some(relative)
}

/// A path as a URL reference: `/`-separated, each name percent-encoded, so a name with `#`,
/// `?` or spaces still links to its file.
fn href(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir => parts.push(String::new()),
            Component::ParentDir => parts.push("..".to_string()),
            Component::Normal(name) => parts.push(percent_encode(&name.to_string_lossy())),
            Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if parts == [""] {
        return "/".to_string();
    }
    parts.join("/")
}

/// A file or folder name percent-encoded for a URL: every byte but ASCII letters, digits and
/// `-._~`.
pub(crate) fn percent_encode(name: &str) -> String {
    let mut out = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Whether `entry` is a plain relative path that stays inside the report folder: the column
/// comes from a file, and the report reads nothing outside the folders it was given.
fn stays_inside(entry: &str) -> bool {
    !entry.is_empty()
        && Path::new(entry)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Turns cited entries into HTML, counting what it embedded against the limits.
struct Embedder {
    limits: EmbedLimits,
    embedded: usize,
    /// Screenshots linked because the report had embedded as many as it may.
    over_count: usize,
}

impl Embedder {
    /// One entry of the `evidence` column: a report-relative path, or a bare id that no saved
    /// file answered to (it has no `/`).
    fn entry(&mut self, folder: &ReportFolder, entry: &str) -> String {
        if !entry.contains('/') {
            return note(
                entry,
                "cited, but no file was saved under this id",
                "missing",
            );
        }
        if !stays_inside(entry) {
            return note(
                entry,
                "not read: not a path inside the report folder",
                "missing",
            );
        }
        let file = folder.read_from.join(entry);
        let link = href(&folder.link.join(entry));
        if !entry.ends_with(".png") {
            let what = if entry.ends_with(".json") {
                "network summary"
            } else {
                "evidence file"
            };
            return match std::fs::metadata(&file) {
                Ok(_) => linked(entry, &link, what),
                Err(e) => unreadable(entry, &e),
            };
        }
        self.screenshot(&file, entry, &link)
    }

    fn screenshot(&mut self, file: &Path, entry: &str, link: &str) -> String {
        let size = match std::fs::metadata(file) {
            Ok(metadata) => metadata.len(),
            Err(e) => return unreadable(entry, &e),
        };
        if size > self.limits.bytes_each {
            return linked(
                entry,
                link,
                &format!(
                    "screenshot of {}, over the {} the report embeds: linked",
                    megabytes(size),
                    megabytes(self.limits.bytes_each)
                ),
            );
        }
        if self.embedded >= self.limits.images {
            self.over_count += 1;
            return linked(
                entry,
                link,
                &format!(
                    "screenshot past the first {} the report embeds: linked",
                    self.limits.images
                ),
            );
        }
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => return unreadable(entry, &e),
        };
        if !bytes.starts_with(PNG_SIGNATURE) {
            return linked(entry, link, "not a PNG file: linked, not embedded");
        }
        self.embedded += 1;
        format!(
            "<figure class=\"evidence\"><a href=\"{}\"><img src=\"data:image/png;base64,{}\" alt=\"screenshot {}\"></a><figcaption>{}</figcaption></figure>",
            escape(link),
            base64::engine::general_purpose::STANDARD.encode(&bytes),
            escape(entry),
            escape(entry)
        )
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

fn linked(entry: &str, link: &str, why: &str) -> String {
    format!(
        "<figure class=\"evidence\"><a href=\"{}\">{}</a><figcaption>{}</figcaption></figure>",
        escape(link),
        escape(entry),
        escape(why)
    )
}

fn note(entry: &str, why: &str, class: &str) -> String {
    format!(
        "<figure class=\"evidence {class}\"><span>{}</span><figcaption>{}</figcaption></figure>",
        escape(entry),
        escape(why)
    )
}

fn unreadable(entry: &str, error: &std::io::Error) -> String {
    if error.kind() == ErrorKind::NotFound {
        note(
            entry,
            "missing: the file is not in the report folder",
            "missing",
        )
    } else {
        note(entry, &format!("unreadable: {error}"), "missing")
    }
}

/// The mission runs of one table, in the order their rows come, with their assertion rows.
fn mission_runs(tables: &Tables) -> Vec<Vec<&AssertionRow>> {
    let mut runs: Vec<Vec<&AssertionRow>> = Vec::new();
    for row in &tables.assertions {
        let same_run = |other: &AssertionRow| {
            (&other.run_id, &other.mission, &other.pairing, other.repeat)
                == (&row.run_id, &row.mission, &row.pairing, row.repeat)
        };
        match runs.iter_mut().find(|rows| same_run(rows[0])) {
            Some(rows) => rows.push(row),
            None => runs.push(vec![row]),
        }
    }
    runs
}

/// The evidence section: nothing when no verdict or check cites evidence. `folders[i]` is the
/// report folder of `tables[i]`, which its `evidence` paths are relative to; `html_dir` is the
/// folder the report is written to, which links are relative to.
pub fn section(
    tables: &[Tables],
    folders: &[PathBuf],
    html_dir: &Path,
    limits: EmbedLimits,
) -> String {
    let mut embedder = Embedder {
        limits,
        embedded: 0,
        over_count: 0,
    };
    let mut body = String::new();
    for (i, run_tables) in tables.iter().enumerate() {
        // A run given without its folder reads from nowhere: its files are said to be missing.
        let folder = match folders.get(i) {
            Some(folder) => ReportFolder::new(folder, html_dir),
            None => ReportFolder {
                read_from: PathBuf::from("/nonexistent-report-folder"),
                link: PathBuf::new(),
            },
        };
        for rows in mission_runs(run_tables) {
            if rows.iter().all(|row| row.evidence.is_empty()) {
                continue;
            }
            body.push_str(&mission_run(&mut embedder, &folder, &rows));
        }
    }
    if body.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<h2>Evidence</h2>\n<p>The screenshots and network summaries each verdict and the harness's browser check cite, beside the assertion's verdict. Screenshots are embedded (at most {} of at most {} each; the rest are linked by their path); network summaries are linked by their path, relative to this file.</p>\n",
        limits.images,
        megabytes(limits.bytes_each)
    );
    if embedder.over_count > 0 {
        let _ = writeln!(
            out,
            "<p>{} more screenshots are linked, not embedded: this report embeds at most {}.</p>",
            embedder.over_count, limits.images
        );
    }
    out.push_str(&body);
    out
}

fn mission_run(embedder: &mut Embedder, folder: &ReportFolder, rows: &[&AssertionRow]) -> String {
    let first = rows[0];
    let mut out = format!(
        "<h3>{} / {} / repeat {} <small>({})</small></h3>\n<table><thead><tr><th>assertion</th><th>checked in</th><th>round</th><th>verdict</th><th>harness check</th><th>passed</th><th>evidence</th></tr></thead><tbody>\n",
        escape(&first.mission),
        escape(&first.pairing),
        first.repeat,
        escape(&first.run_id)
    );
    for row in rows {
        let evidence: String = row
            .evidence
            .split(", ")
            .filter(|entry| !entry.is_empty())
            .map(|entry| embedder.entry(folder, entry))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"evidence\">{}</td></tr>",
            escape(&row.assertion),
            escape(&row.checked_in),
            row.round,
            escape(row.validator_status.as_deref().unwrap_or("-")),
            // The harness checks an assertion in its own milestone's rounds only.
            match row.mechanical_status.as_str() {
                "not_applicable" => "-".to_string(),
                status => escape(status),
            },
            if row.passed { "yes" } else { "no" },
            evidence
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::events::{Event, VerdictStatus};
    use crate::spec::MilestoneId;
    use crate::tools::browser::tools::EvidenceKind;

    /// A 1x1 PNG.
    pub(in crate::report) const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\0\x05\0\x01\xff\x89\x99=\x1d\0\0\0\0IEND\xaeB`\x82";

    fn saved(id: &str, extension: &str) -> Event {
        Event::EvidenceSaved {
            run: Some(3),
            milestone: None,
            round: None,
            assertion: None,
            id: id.into(),
            kind: if extension == "png" {
                EvidenceKind::Screenshot
            } else {
                EvidenceKind::Network
            },
            path: format!("evidence/greet/{id}.{extension}"),
            url: "http://127.0.0.1:8801/".into(),
            bytes: 10,
        }
    }

    fn verdict(assertion: &str, ids: &[&str]) -> Event {
        Event::VerdictReported {
            run: 3,
            milestone: MilestoneId::new("m1"),
            round: 1,
            assertion: assertion.into(),
            status: VerdictStatus::Pass,
            evidence: "seen".into(),
            evidence_ids: ids.iter().map(|id| id.to_string()).collect(),
        }
    }

    /// A report folder with `r3-s1.png` and `r3-n1.json` on disk; `r3-s2.png` was saved but is
    /// gone, and `r3-s9` was cited without being saved.
    pub(in crate::report) fn report_folder() -> (tempfile::TempDir, Tables) {
        let dir = tempfile::tempdir().unwrap();
        let evidence = dir.path().join("evidence/greet");
        std::fs::create_dir_all(&evidence).unwrap();
        std::fs::write(evidence.join("r3-s1.png"), PNG).unwrap();
        std::fs::write(evidence.join("r3-n1.json"), "{}").unwrap();
        let records = crate::metrics::tests::mission_records(vec![
            saved("r3-s1", "png"),
            saved("r3-s2", "png"),
            saved("r3-n1", "json"),
            verdict("TC-7", &["r3-s1", "r3-n1"]),
            verdict("TC-8", &["r3-s2", "r3-s9"]),
            verdict("TC-9", &[]),
        ]);
        (dir, crate::metrics::fold("run", &records))
    }

    #[test]
    fn screenshots_are_embedded_and_missing_files_said_so() {
        let (dir, tables) = report_folder();
        let html = section(
            std::slice::from_ref(&tables),
            &[dir.path().to_path_buf()],
            dir.path(),
            EmbedLimits::DEFAULT,
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(PNG);
        assert!(
            html.contains(&format!("<img src=\"data:image/png;base64,{encoded}\"")),
            "{html}"
        );
        assert_eq!(html.matches("<img ").count(), 1);
        assert!(html.contains("<a href=\"evidence/greet/r3-n1.json\">evidence/greet/r3-n1.json</a><figcaption>network summary</figcaption>"), "{html}");
        assert!(
            html.contains("<span>evidence/greet/r3-s2.png</span><figcaption>missing: the file is not in the report folder</figcaption>"),
            "{html}"
        );
        assert!(
            html.contains(
                "<span>r3-s9</span><figcaption>cited, but no file was saved under this id</figcaption>"
            ),
            "{html}"
        );
        // Every assertion of the mission run is listed, with its verdict; no URL is written.
        assert_eq!(html.matches("<tr><td>TC-").count(), 3);
        assert!(!html.contains("http"));
    }

    #[test]
    fn past_the_limits_screenshots_are_linked_and_the_report_says_so() {
        let (dir, tables) = report_folder();
        let html_dir = dir.path().join("site");
        std::fs::create_dir(&html_dir).unwrap();
        let limits = EmbedLimits {
            images: 0,
            bytes_each: 1024,
        };
        let html = section(
            std::slice::from_ref(&tables),
            &[dir.path().to_path_buf()],
            &html_dir,
            limits,
        );
        assert!(!html.contains("<img "));
        assert!(
            html.contains("<a href=\"../evidence/greet/r3-s1.png\">"),
            "{html}"
        );
        assert!(html.contains("1 more screenshots are linked, not embedded"));
        let tiny = EmbedLimits {
            images: 10,
            bytes_each: 10,
        };
        let html = section(
            std::slice::from_ref(&tables),
            &[dir.path().to_path_buf()],
            dir.path(),
            tiny,
        );
        assert!(!html.contains("<img "));
        assert!(
            html.contains("over the 0.0 MB the report embeds: linked"),
            "{html}"
        );
    }

    #[test]
    fn nothing_is_written_without_evidence_and_paths_stay_inside() {
        let tables = crate::metrics::fold(
            "run",
            &crate::metrics::tests::mission_records(vec![verdict("TC-9", &[])]),
        );
        assert!(section(&[tables], &[], Path::new("."), EmbedLimits::DEFAULT).is_empty());
        assert!(stays_inside("evidence/greet/r3-s1.png"));
        assert!(!stays_inside("../secret.png"));
        assert!(!stays_inside("/etc/passwd"));
        assert_eq!(href(Path::new("../a b/#1.png")), "../a%20b/%231.png");
    }
}
