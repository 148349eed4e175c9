//! One JSON-lines transcript per agent run: a header, every message as it is appended, and the
//! outcome. Lines are flushed as written, so a crashed run still leaves what happened.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::events::AgentOutcome;
use crate::model::secret::Redactor;
use crate::model::{Message, ToolSpec};
use crate::spec::Role;

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Header {
        run: u32,
        role: Role,
        model: &'a str,
        task: &'a str,
        tools: &'a [ToolSpec],
    },
    Message(&'a Message),
    End {
        outcome: AgentOutcome,
        turns: u32,
    },
}

pub struct Transcript {
    file: Option<File>,
    redactor: Redactor,
    error: Option<io::Error>,
}

impl Transcript {
    pub fn create(path: &Path) -> Transcript {
        let opened = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| File::create(path));
        match opened {
            Ok(file) => Transcript {
                file: Some(file),
                redactor: Redactor::default(),
                error: None,
            },
            Err(e) => Transcript {
                file: None,
                redactor: Redactor::default(),
                error: Some(e),
            },
        }
    }

    /// Removes these keys from every line before it is written.
    pub fn with_redactor(mut self, redactor: Redactor) -> Transcript {
        self.redactor = redactor;
        self
    }

    pub fn header(&mut self, run: u32, role: Role, model: &str, task: &str, tools: &[ToolSpec]) {
        self.write(&Line::Header {
            run,
            role,
            model,
            task,
            tools,
        });
    }

    pub fn message(&mut self, message: &Message) {
        self.write(&Line::Message(message));
    }

    pub fn end(&mut self, outcome: AgentOutcome, turns: u32) {
        self.write(&Line::End { outcome, turns });
    }

    /// The first error met while writing; the run goes on without its transcript.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    fn write(&mut self, line: &Line<'_>) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let result = serde_json::to_vec(line)
            .map_err(io::Error::other)
            .and_then(|bytes| {
                let mut bytes = self.redactor.redact_bytes(bytes);
                bytes.push(b'\n');
                file.write_all(&bytes)
            });
        if let Err(e) = result {
            self.error.get_or_insert(e);
            self.file = None;
        }
    }
}
