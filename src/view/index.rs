//! The index of one report folder, built in one streaming pass over its `events.jsonl`: for each
//! mission run the byte offsets of its lines and the few figures the top pages show (status,
//! acceptance, agent runs, turns, tokens). Nothing else is kept in memory: a mission's page reads
//! its own lines back by offset, and transcripts are read only for the page that shows them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ViewError;
use crate::events::{Event, EventRecord, HaltReason, MissionKey, MissionStatus, TestStatus};
use crate::report::RunInfo;

/// Where one line of the journal lies.
#[derive(Debug, Clone, Copy)]
pub struct LineRef {
    pub offset: u64,
    pub len: u32,
    /// 1-based, as editors count.
    pub line: u32,
}

/// One mission run (mission × pairing × repeat) as the top pages show it.
#[derive(Debug, Clone)]
pub struct MissionRun {
    pub key: MissionKey,
    /// `MissionKey::slug`: the name of its transcripts folder and diff, and of its pages.
    pub slug: String,
    pub lines: Vec<LineRef>,
    pub status: Option<MissionStatus>,
    pub halt_reason: Option<HaltReason>,
    pub detail: String,
    pub duration_ms: Option<f64>,
    /// Passed and total acceptance tests, once acceptance ran.
    pub acceptance: Option<(usize, usize)>,
    pub agent_runs: u32,
    pub turns: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A report folder: its run.json (or why it could not be read), its journal's index and the
/// lines that could not be read.
pub struct RunIndex {
    pub folder: PathBuf,
    pub info: Result<RunInfo, String>,
    pub journal: PathBuf,
    pub missions: Vec<MissionRun>,
    by_slug: HashMap<String, usize>,
    /// Lines of the journal that are not events, as `file line N: why` (the first
    /// [`MAX_DAMAGED`]); the rest is served.
    pub damaged: Vec<String>,
    /// Damaged lines beyond those listed.
    pub damaged_unlisted: usize,
}

/// Damaged lines listed at most; a journal that is mostly damage is still counted.
pub const MAX_DAMAGED: usize = 1000;

/// Just enough of a line to file it under its mission and count it.
#[derive(Deserialize)]
struct LineHead {
    #[serde(default)]
    mission: Option<MissionKey>,
    event: EventHead,
}

#[derive(Deserialize)]
struct EventHead {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    usage: Option<UsageHead>,
}

#[derive(Deserialize)]
struct UsageHead {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl RunIndex {
    /// Indexes `folder/events.jsonl`. Only a folder without a readable journal is an error; a
    /// damaged line is listed in `damaged` and skipped.
    pub fn open(folder: &Path) -> Result<RunIndex, ViewError> {
        let journal = folder.join("events.jsonl");
        let display = journal.display().to_string();
        let io_error = |source| ViewError::Read {
            path: display.clone(),
            source,
        };
        let file = File::open(&journal).map_err(io_error)?;
        let length = file.metadata().map_err(io_error)?.len();
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut index = RunIndex {
            folder: folder.to_path_buf(),
            info: crate::report::read_run_info(folder).map_err(|e| e.to_string()),
            journal: journal.clone(),
            missions: Vec::new(),
            by_slug: HashMap::new(),
            damaged: Vec::new(),
            damaged_unlisted: 0,
        };
        let mut buffer = Vec::new();
        let mut offset = 0u64;
        let mut line = 0u32;
        loop {
            buffer.clear();
            let read = reader.read_until(b'\n', &mut buffer).map_err(io_error)?;
            if read == 0 {
                break;
            }
            line += 1;
            let start = offset;
            offset += read as u64;
            let text = trim_newline(&buffer);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = crate::events::line_text(text).and_then(|text| {
                serde_json::from_str::<LineHead>(text)
                    .map_err(|e| crate::events::json_line_error(&e))
            });
            let head = match parsed {
                Ok(head) => head,
                // A torn last line (a crash mid-write) is not damage: the journal's reader
                // ignores it too.
                Err(_) if offset == length && !buffer.ends_with(b"\n") => break,
                Err(why) => {
                    index.note_damage(format!("`{display}` line {line}: {why}"));
                    continue;
                }
            };
            let Some(key) = head.mission else {
                continue;
            };
            let position = index.mission_position(key);
            let mission = &mut index.missions[position];
            mission.lines.push(LineRef {
                offset: start,
                len: text.len() as u32,
                line,
            });
            match head.event.kind.as_str() {
                "agent_started" => mission.agent_runs += 1,
                "turn" => {
                    mission.turns += 1;
                    if let Some(usage) = head.event.usage {
                        mission.input_tokens += usage.input_tokens.unwrap_or(0);
                        mission.output_tokens += usage.output_tokens.unwrap_or(0);
                    }
                }
                "acceptance_finished" | "mission_finished" => {
                    match serde_json::from_slice::<EventRecord>(text) {
                        Ok(record) => mission.absorb(record.event),
                        Err(e) => index.note_damage(format!(
                            "`{display}` line {line}: {}",
                            crate::events::json_line_error(&e)
                        )),
                    }
                }
                _ => {}
            }
        }
        Ok(index)
    }

    fn note_damage(&mut self, message: String) {
        if self.damaged.len() < MAX_DAMAGED {
            self.damaged.push(message);
        } else {
            self.damaged_unlisted += 1;
        }
    }

    fn mission_position(&mut self, key: MissionKey) -> usize {
        let slug = key.slug();
        if let Some(&position) = self.by_slug.get(&slug) {
            return position;
        }
        self.missions.push(MissionRun {
            key,
            slug: slug.clone(),
            lines: Vec::new(),
            status: None,
            halt_reason: None,
            detail: String::new(),
            duration_ms: None,
            acceptance: None,
            agent_runs: 0,
            turns: 0,
            input_tokens: 0,
            output_tokens: 0,
        });
        self.by_slug.insert(slug, self.missions.len() - 1);
        self.missions.len() - 1
    }

    pub fn mission(&self, slug: &str) -> Option<&MissionRun> {
        self.by_slug.get(slug).map(|&i| &self.missions[i])
    }

    /// The run's id: from run.json, else the folder's name.
    pub fn run_id(&self) -> String {
        match &self.info {
            Ok(info) => info.run_id.clone(),
            Err(_) => self
                .folder
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.folder.display().to_string()),
        }
    }

    /// A mission run's events, read back by offset, each with its line number; lines that no
    /// longer read as events are returned as errors naming file and line.
    pub fn events(&self, mission: &MissionRun) -> (Vec<(u32, EventRecord)>, Vec<String>) {
        let display = self.journal.display().to_string();
        let file = match File::open(&self.journal) {
            Ok(file) => file,
            Err(e) => return (Vec::new(), vec![format!("cannot read `{display}`: {e}")]),
        };
        let mut events = Vec::with_capacity(mission.lines.len());
        let mut errors = Vec::new();
        let mut buffer = Vec::new();
        for line in &mission.lines {
            buffer.resize(line.len as usize, 0);
            if let Err(e) = file.read_exact_at(&mut buffer, line.offset) {
                errors.push(format!("`{display}` line {}: {e}", line.line));
                continue;
            }
            match serde_json::from_slice::<EventRecord>(&buffer) {
                Ok(record) => events.push((line.line, record)),
                Err(e) => errors.push(format!(
                    "`{display}` line {}: {}",
                    line.line,
                    crate::events::json_line_error(&e)
                )),
            }
        }
        (events, errors)
    }
}

impl MissionRun {
    fn absorb(&mut self, event: Event) {
        match event {
            Event::AcceptanceFinished { tests, .. } => {
                let passed = tests
                    .iter()
                    .filter(|t| t.status == TestStatus::Passed)
                    .count();
                self.acceptance = Some((passed, tests.len()));
            }
            Event::MissionFinished {
                status,
                halt_reason,
                detail,
                duration_ms,
            } => {
                self.status = Some(status);
                self.halt_reason = halt_reason;
                self.detail = detail;
                self.duration_ms = Some(duration_ms);
            }
            _ => {}
        }
    }

    /// `passed`, `failed`, … or `unfinished` when the journal has no end for it.
    pub fn status_text(&self) -> &'static str {
        self.status.map_or("unfinished", MissionStatus::as_str)
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(mission: &str, event: &str) -> String {
        format!(
            r#"{{"v":1,"seq":0,"time_ms":0,"mission":{{"suite":"s","mission":"{mission}","pairing":"p","repeat":0}},"event":{event}}}"#
        )
    }

    #[test]
    fn lines_are_filed_by_mission_run_and_damage_is_named_but_a_torn_tail_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let journal = [
            r#"{"v":1,"seq":0,"time_ms":0,"event":{"type":"run_planned","mission_runs":2}}"#.to_string(),
            line("a", r#"{"type":"no_tool_call","run":1,"turn":1}"#),
            line("b", r#"{"type":"no_tool_call","run":1,"turn":1}"#),
            "{not json".to_string(),
            line(
                "a",
                r#"{"type":"mission_finished","status":"passed","halt_reason":null,"detail":"","duration_ms":5.0}"#,
            ),
        ]
        .join("\n");
        std::fs::write(
            dir.path().join("events.jsonl"),
            format!("{journal}\n{{\"v\":1,\"se"),
        )
        .unwrap();
        let index = RunIndex::open(dir.path()).unwrap();
        assert_eq!(index.missions.len(), 2);
        let a = index.mission("a.p.r0").unwrap();
        assert_eq!(a.lines.iter().map(|l| l.line).collect::<Vec<_>>(), [2, 5]);
        assert_eq!(a.status_text(), "passed");
        assert_eq!(index.mission("b.p.r0").unwrap().status_text(), "unfinished");
        assert_eq!(index.damaged.len(), 1, "{:?}", index.damaged);
        assert!(
            index.damaged[0].contains("events.jsonl` line 4"),
            "{:?}",
            index.damaged
        );
        let (events, errors) = index.events(a);
        assert_eq!(events.len(), 2);
        assert!(errors.is_empty());

        // A line that is not UTF-8 text is named for what it is.
        std::fs::write(
            dir.path().join("events.jsonl"),
            format!("{journal}\n").replace("{not json", "{\"v\":\u{1}"),
        )
        .unwrap();
        let mut bytes = std::fs::read(dir.path().join("events.jsonl")).unwrap();
        let at = bytes.iter().position(|b| *b == 1).unwrap();
        bytes[at] = 0xff;
        std::fs::write(dir.path().join("events.jsonl"), bytes).unwrap();
        let index = RunIndex::open(dir.path()).unwrap();
        assert_eq!(index.damaged.len(), 1, "{:?}", index.damaged);
        assert!(
            index.damaged[0].ends_with("events.jsonl` line 4: not UTF-8 text (byte 6 of the line)"),
            "{:?}",
            index.damaged
        );
    }
}
