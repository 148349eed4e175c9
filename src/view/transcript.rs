//! Reading an agent run's transcript (`transcripts/<mission run>/NNN-<role>.jsonl`) back for the
//! viewer: the header, the messages grouped into turns, the end. The shapes mirror what
//! `agent::transcript` writes; every field the viewer does not show is ignored, and a line that
//! does not read is kept as an error naming file and line.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Header {
        #[serde(default)]
        model: String,
        #[serde(default)]
        task: String,
        #[serde(default)]
        tools: Vec<ToolLine>,
    },
    Message(MessageLine),
    End {
        outcome: String,
        turns: u32,
    },
}

#[derive(Debug, Deserialize)]
pub struct ToolLine {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessageLine {
    pub role: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub tool_calls: Vec<CallLine>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub tool_name: Option<String>,
    #[serde(default)]
    pub is_error: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CallLine {
    pub id: String,
    pub name: String,
    pub arguments: String,
    #[serde(default)]
    pub recovered: bool,
}

/// The messages of one turn: those leading to the model call (the prompt, reminders), the
/// model's answer, and the tool results it got back.
#[derive(Debug, Default)]
pub struct Turn {
    pub number: u32,
    pub messages: Vec<MessageLine>,
}

#[derive(Debug, Default)]
pub struct Transcript {
    pub model: String,
    pub task: String,
    pub tools: Vec<ToolLine>,
    pub turns: Vec<Turn>,
    pub end: Option<(String, u32)>,
    pub errors: Vec<String>,
}

/// Which turn a message belongs to, counting the assistant messages before it: an assistant
/// message opens turn `n + 1`, tool results stay in turn `n`, anything else (a prompt, a
/// reminder) leads into turn `n + 1`.
pub fn turn_of(role: &str, assistants_before: u32) -> u32 {
    match role {
        "tool" => assistants_before.max(1),
        _ => assistants_before + 1,
    }
}

/// Reads a whole transcript. Missing files are an error for the page to show.
pub fn read(path: &Path) -> Result<Transcript, String> {
    let display = path.display().to_string();
    crate::fsutil::check_file(path).map_err(|e| e.to_string())?;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{display}`: {e}"))?;
    let mut transcript = Transcript::default();
    let mut assistants = 0u32;
    for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                transcript
                    .errors
                    .push(format!("`{display}` line {}: {e}", index + 1));
                break;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(Line::Header { model, task, tools }) => {
                transcript.model = model;
                transcript.task = task;
                transcript.tools = tools;
            }
            Ok(Line::Message(message)) => {
                let number = turn_of(&message.role, assistants);
                if message.role == "assistant" {
                    assistants += 1;
                }
                match transcript.turns.last_mut() {
                    Some(turn) if turn.number == number => turn.messages.push(message),
                    _ => transcript.turns.push(Turn {
                        number,
                        messages: vec![message],
                    }),
                }
            }
            Ok(Line::End { outcome, turns }) => transcript.end = Some((outcome, turns)),
            Err(e) => transcript.errors.push(format!(
                "`{display}` line {}: {}",
                index + 1,
                crate::events::json_line_error(&e)
            )),
        }
    }
    Ok(transcript)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fall_into_the_turn_of_the_model_call_they_lead_to_or_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("001-worker.jsonl");
        let lines = [
            r#"{"type":"header","run":1,"role":"worker","model":"m","task":"t","tools":[{"name":"read_file","description":"d","parameters":{}}]}"#,
            r#"{"type":"message","role":"system","content":"s"}"#,
            r#"{"type":"message","role":"user","content":"u"}"#,
            r#"{"type":"message","role":"assistant","content":"","tool_calls":[{"id":"c1","name":"read_file","arguments":"{}"}]}"#,
            r#"{"type":"message","role":"tool","content":"r","tool_call_id":"c1","tool_name":"read_file"}"#,
            r#"{"type":"message","role":"assistant","content":"no call"}"#,
            r#"{"type":"message","role":"user","content":"call a tool"}"#,
            r#"{"type":"message","role":"assistant","content":"done"}"#,
            "garbage",
            r#"{"type":"end","outcome":"finished","turns":3}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let transcript = read(&path).unwrap();
        let shape: Vec<(u32, Vec<&str>)> = transcript
            .turns
            .iter()
            .map(|t| {
                (
                    t.number,
                    t.messages.iter().map(|m| m.role.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (1, vec!["system", "user", "assistant", "tool"]),
                (2, vec!["assistant"]),
                (3, vec!["user", "assistant"]),
            ]
        );
        assert_eq!(transcript.tools[0].name, "read_file");
        assert_eq!(transcript.end, Some(("finished".to_string(), 3)));
        assert_eq!(transcript.errors.len(), 1);
        assert!(
            transcript.errors[0].contains("line 9"),
            "{:?}",
            transcript.errors
        );
    }
}
