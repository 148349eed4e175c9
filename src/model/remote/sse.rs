//! Server-sent events, parsed from byte chunks as they arrive (the WHATWG event-stream format:
//! `event:` and `data:` fields, lines ending in LF, CRLF or CR, a blank line dispatching the
//! event, `:` comments ignored).

/// One dispatched event. `event` is empty when the server named none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    /// The last chunk ended in CR: a following LF belongs to that line end.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
}

/// Bytes the parser holds for one line before it calls the stream malformed.
const MAX_LINE: usize = 16 << 20;

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds a chunk; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, String> {
        let mut events = Vec::new();
        for &byte in chunk {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line)? {
                        events.push(event);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return Err(format!("an event-stream line longer than {MAX_LINE} bytes"));
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(events)
    }

    /// Whether the stream ended in the middle of an event.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<SseEvent>, String> {
        if line.is_empty() {
            if !self.has_data {
                self.event.clear();
                return Ok(None);
            }
            self.has_data = false;
            let data = std::mem::take(&mut self.data);
            let event = std::mem::take(&mut self.event);
            return Ok(Some(SseEvent { event, data }));
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| "an event-stream line that is not UTF-8".to_string())?;
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id` and `retry` steer browser reconnection, which a POST stream never does.
            _ => {}
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_parse_the_same() {
        let text = b": ping\r\nevent: message_start\r\ndata: {\"a\":1}\r\n\r\ndata: x\ndata: y\n\nevent: e\rdata: z\r\r";
        let whole = SseParser::new().feed(text).unwrap();
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: "message_start".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    event: String::new(),
                    data: "x\ny".into()
                },
                SseEvent {
                    event: "e".into(),
                    data: "z".into()
                },
            ]
        );
        for split in 1..text.len() {
            let mut parser = SseParser::new();
            let mut events = parser.feed(&text[..split]).unwrap();
            events.extend(parser.feed(&text[split..]).unwrap());
            assert_eq!(events, whole, "split at {split}");
            assert!(!parser.has_partial());
        }
        let mut parser = SseParser::new();
        assert!(parser.feed(b"data: {\"trunc").unwrap().is_empty());
        assert!(parser.has_partial());
    }
}
