//! Constrained tool calls: when enabled, a reply is exactly one syntactically valid tool call.
//! The opening of the call is written for the model, the tool name is chosen among the offered
//! tools, the arguments are held to a JSON object token by token, and the call is closed for it.
//! Small models then always produce a call the agent loop can run; whether the arguments fit the
//! tool's schema is still the model's doing (and is checked, and counted, by the tools).

use super::toolcall::ToolCallFormat;

/// An incremental acceptor of JSON text whose top-level value is an object, without
/// insignificant whitespace except one space after `:` and `,` (free whitespace lets small
/// models loop on newlines).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonObjectPrefix {
    /// Open containers, `{` or `[`.
    stack: Vec<u8>,
    state: State,
    started: bool,
    done: bool,
    may_space: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Value,
    ArrayValueOrEnd,
    KeyOrEnd,
    Key,
    Colon,
    String { key: bool, escape: Escape },
    Number(Number),
    Literal(&'static str),
    AfterValue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Escape {
    None,
    Backslash,
    Unicode(u8),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Minus,
    Zero,
    Integer,
    Dot,
    Fraction,
    Exponent,
    ExponentSign,
    ExponentDigits,
}

impl Number {
    /// Whether the number may end here.
    fn complete(self) -> bool {
        matches!(
            self,
            Number::Zero | Number::Integer | Number::Fraction | Number::ExponentDigits
        )
    }

    fn next(self, c: char) -> Option<Number> {
        match (self, c) {
            (Number::Minus, '0') => Some(Number::Zero),
            (Number::Minus, '1'..='9') => Some(Number::Integer),
            (Number::Zero | Number::Integer, '.') => Some(Number::Dot),
            (Number::Zero | Number::Integer | Number::Fraction, 'e' | 'E') => {
                Some(Number::Exponent)
            }
            (Number::Integer, '0'..='9') => Some(Number::Integer),
            (Number::Dot | Number::Fraction, '0'..='9') => Some(Number::Fraction),
            (Number::Exponent, '+' | '-') => Some(Number::ExponentSign),
            (Number::Exponent | Number::ExponentSign | Number::ExponentDigits, '0'..='9') => {
                Some(Number::ExponentDigits)
            }
            _ => None,
        }
    }
}

impl Default for JsonObjectPrefix {
    fn default() -> JsonObjectPrefix {
        JsonObjectPrefix {
            stack: Vec::new(),
            state: State::Value,
            started: false,
            done: false,
            may_space: false,
        }
    }
}

impl JsonObjectPrefix {
    /// Whether the top-level object is complete.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds `text`; on `false` the acceptor is left in an unspecified state (feed a clone).
    pub fn feed(&mut self, text: &str) -> bool {
        text.chars().all(|c| self.feed_char(c))
    }

    /// Whether `text` could follow what was fed so far.
    pub fn accepts(&self, text: &str) -> bool {
        !text.is_empty() && self.clone().feed(text)
    }

    fn end_value(&mut self) {
        if self.stack.is_empty() {
            self.done = true;
        } else {
            self.state = State::AfterValue;
        }
    }

    fn start_value(&mut self, c: char) -> bool {
        if !self.started {
            self.started = true;
            if c != '{' {
                return false;
            }
        }
        self.state = match c {
            '{' => {
                self.stack.push(b'{');
                State::KeyOrEnd
            }
            '[' => {
                self.stack.push(b'[');
                State::ArrayValueOrEnd
            }
            '"' => State::String {
                key: false,
                escape: Escape::None,
            },
            '-' => State::Number(Number::Minus),
            '0' => State::Number(Number::Zero),
            '1'..='9' => State::Number(Number::Integer),
            't' => State::Literal("rue"),
            'f' => State::Literal("alse"),
            'n' => State::Literal("ull"),
            _ => return false,
        };
        true
    }

    fn close(&mut self, c: char) -> bool {
        let expected = if c == '}' { b'{' } else { b'[' };
        if self.stack.last() != Some(&expected) {
            return false;
        }
        self.stack.pop();
        self.end_value();
        true
    }

    fn feed_char(&mut self, c: char) -> bool {
        if self.done {
            return false;
        }
        let may_space = std::mem::take(&mut self.may_space);
        if c == ' ' && may_space && matches!(self.state, State::Value | State::Key) {
            return true;
        }
        match self.state {
            State::Value => self.start_value(c),
            State::ArrayValueOrEnd => {
                if c == ']' {
                    self.close(c)
                } else {
                    self.start_value(c)
                }
            }
            State::KeyOrEnd => match c {
                '"' => {
                    self.state = State::String {
                        key: true,
                        escape: Escape::None,
                    };
                    true
                }
                '}' => self.close(c),
                _ => false,
            },
            State::Key => {
                if c == '"' {
                    self.state = State::String {
                        key: true,
                        escape: Escape::None,
                    };
                    true
                } else {
                    false
                }
            }
            State::Colon => {
                if c == ':' {
                    self.state = State::Value;
                    self.may_space = true;
                    true
                } else {
                    false
                }
            }
            State::String { key, escape } => {
                self.state = match (escape, c) {
                    (Escape::None, '"') if key => State::Colon,
                    (Escape::None, '"') => {
                        self.end_value();
                        return true;
                    }
                    (Escape::None, '\\') => State::String {
                        key,
                        escape: Escape::Backslash,
                    },
                    (Escape::None, c) if (c as u32) < 0x20 => return false,
                    (Escape::None, _) => State::String {
                        key,
                        escape: Escape::None,
                    },
                    (Escape::Backslash, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => {
                        State::String {
                            key,
                            escape: Escape::None,
                        }
                    }
                    (Escape::Backslash, 'u') => State::String {
                        key,
                        escape: Escape::Unicode(4),
                    },
                    (Escape::Unicode(n), c) if c.is_ascii_hexdigit() => State::String {
                        key,
                        escape: if n == 1 {
                            Escape::None
                        } else {
                            Escape::Unicode(n - 1)
                        },
                    },
                    _ => return false,
                };
                true
            }
            State::Number(number) => match number.next(c) {
                Some(next) => {
                    self.state = State::Number(next);
                    true
                }
                None if number.complete() => {
                    self.end_value();
                    self.feed_char(c)
                }
                None => false,
            },
            State::Literal(rest) => {
                let mut chars = rest.chars();
                if chars.next() != Some(c) {
                    return false;
                }
                let rest = chars.as_str();
                if rest.is_empty() {
                    self.end_value();
                } else {
                    self.state = State::Literal(rest);
                }
                true
            }
            State::AfterValue => match (c, self.stack.last()) {
                (',', Some(b'{')) => {
                    self.state = State::Key;
                    self.may_space = true;
                    true
                }
                (',', Some(b'[')) => {
                    self.state = State::Value;
                    self.may_space = true;
                    true
                }
                ('}' | ']', _) => self.close(c),
                _ => false,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Name,
    Arguments,
    Done,
}

/// One tool call being written under constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallConstraint {
    format: ToolCallFormat,
    names: Vec<String>,
    phase: Phase,
    name: String,
    arguments: JsonObjectPrefix,
}

impl ToolCallConstraint {
    pub fn new(format: ToolCallFormat, names: Vec<String>) -> ToolCallConstraint {
        ToolCallConstraint {
            format,
            names,
            phase: Phase::Name,
            name: String::new(),
            arguments: JsonObjectPrefix::default(),
        }
    }

    /// What the reply starts with, written for the model.
    pub fn opening(&self) -> &'static str {
        match self.format {
            ToolCallFormat::Hermes => "<tool_call>\n{\"name\": \"",
            ToolCallFormat::Llama3Json => "{\"name\": \"",
        }
    }

    fn closing(&self) -> &'static str {
        match self.format {
            ToolCallFormat::Hermes => "}\n</tool_call>",
            ToolCallFormat::Llama3Json => "}",
        }
    }

    fn arguments_key(&self) -> &'static str {
        match self.format {
            ToolCallFormat::Hermes => ", \"arguments\": ",
            ToolCallFormat::Llama3Json => ", \"parameters\": ",
        }
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether the model may write `piece` next.
    pub fn accepts(&self, piece: &str) -> bool {
        if piece.is_empty() {
            return false;
        }
        match self.phase {
            Phase::Name => {
                let candidate = format!("{}{piece}", self.name);
                self.names
                    .iter()
                    .any(|name| format!("{name}\"").starts_with(&candidate))
            }
            Phase::Arguments => self.arguments.accepts(piece),
            Phase::Done => false,
        }
    }

    /// Takes `piece` (which [`ToolCallConstraint::accepts`]); returns text to write for the
    /// model next, when a part of the call is complete.
    pub fn push(&mut self, piece: &str) -> Option<&'static str> {
        match self.phase {
            Phase::Name => {
                self.name.push_str(piece);
                if let Some(name) = self.name.strip_suffix('"') {
                    if self.names.iter().any(|n| n == name) {
                        self.phase = Phase::Arguments;
                        return Some(self.arguments_key());
                    }
                }
                None
            }
            Phase::Arguments => {
                self.arguments.feed(piece);
                if self.arguments.is_done() {
                    self.phase = Phase::Done;
                    return Some(self.closing());
                }
                None
            }
            Phase::Done => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts_whole(text: &str) -> bool {
        let mut json = JsonObjectPrefix::default();
        json.feed(text) && json.is_done()
    }

    fn accepts_prefix(text: &str) -> bool {
        JsonObjectPrefix::default().feed(text)
    }

    #[test]
    fn json_objects_are_accepted_char_by_char() {
        for text in [
            r#"{}"#,
            r#"{"path": "a.py", "content": "x = \"1\"\n\u00e9 é"}"#,
            r#"{"n":-0.5e+3,"ok":true,"none":null,"list":[1, [2], {"a": []}],"f":false}"#,
        ] {
            assert!(accepts_whole(text), "{text}");
        }
        for text in [
            r#"{"a" 1}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":tru}"#,
            r#"{"a":01}"#,
            r#"{"a":1}x"#,
            r#"{"a":"b
"}"#,
            "[1]",
            r#"{"a":  1}"#,
            "{\n\"a\":1}",
            r#"{"a":1] "#,
        ] {
            assert!(!accepts_whole(text), "{text}");
        }
        assert!(accepts_prefix(r#"{"path": "a"#));
        assert!(accepts_prefix(r#"{"n": 12"#));
        assert!(!accepts_prefix(r#"{"n": 12 "#));
    }

    #[test]
    fn a_call_is_name_then_arguments() {
        let names = vec!["read_file".to_string(), "run_command".to_string()];
        let mut call = ToolCallConstraint::new(ToolCallFormat::Hermes, names);
        assert_eq!(call.opening(), "<tool_call>\n{\"name\": \"");
        assert!(call.accepts("r"));
        assert!(call.accepts("run_"));
        assert!(!call.accepts("write"));
        assert!(!call.accepts("run_command\","));
        assert_eq!(call.push("run_"), None);
        assert!(call.accepts("command\""));
        assert_eq!(call.push("command\""), Some(", \"arguments\": "));
        assert!(call.accepts("{\"command\""));
        assert!(!call.accepts("[]"));
        assert_eq!(call.push("{\"command\": \"ls\""), None);
        assert_eq!(call.push("}"), Some("}\n</tool_call>"));
        assert!(call.is_done());
        assert!(!call.accepts("x"));
    }
}
