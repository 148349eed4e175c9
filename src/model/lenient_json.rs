//! A forgiving reader of the almost-JSON small models write inside tool calls: Python and
//! JavaScript habits that strict JSON rejects are read the way the model meant them.
//!
//! Accepted besides JSON: invalid escapes such as `\d` or `\W` (kept as a backslash and the
//! character, which is what a model writing a regular expression meant), raw newlines and tabs
//! inside strings, single-quoted and Python triple-quoted strings, `True`/`False`/`None`, bare
//! identifier keys, and trailing commas. Everything else (an unclosed value, two values without a
//! comma) is an error: guessing further would turn prose into calls.

use serde_json::{Map, Number, Value as Json};

/// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

/// Why text is not even almost-JSON. Only its position is kept: the caller reports the call as
/// malformed with its raw text, which is what the model needs to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LenientError {
    /// Byte offset where reading stopped.
    pub offset: usize,
}

/// Reads one value at the start of `text` (after whitespace) and returns it with the number of
/// bytes it took; whatever follows is left to the caller.
pub fn parse_prefix(text: &str) -> Result<(Json, usize), LenientError> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        position: 0,
    };
    reader.skip_whitespace();
    let value = reader.value(0)?;
    Ok((value, reader.position))
}

/// Reads `text` as exactly one value, surrounded by whitespace at most.
pub fn parse(text: &str) -> Result<Json, LenientError> {
    let (value, consumed) = parse_prefix(text)?;
    let after = text[consumed..].trim_start();
    if after.is_empty() {
        Ok(value)
    } else {
        Err(LenientError {
            offset: text.len() - after.len(),
        })
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn error<T>(&self) -> Result<T, LenientError> {
        Err(LenientError {
            offset: self.position,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.position..).unwrap_or("")
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.position += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, LenientError> {
        if depth > MAX_DEPTH {
            return self.error();
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"' | b'\'') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => {
                let word = self.identifier();
                match word {
                    "true" | "True" => Ok(Json::Bool(true)),
                    "false" | "False" => Ok(Json::Bool(false)),
                    "null" | "None" => Ok(Json::Null),
                    _ => self.error(),
                }
            }
            None => self.error(),
        }
    }

    /// An identifier at the current position (possibly empty), consumed.
    fn identifier(&mut self) -> &'a str {
        let start = self.position;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        {
            self.position += 1;
        }
        let text = self.text;
        &text[start..self.position]
    }

    fn object(&mut self, depth: usize) -> Result<Json, LenientError> {
        self.position += 1;
        let mut map = Map::new();
        loop {
            self.skip_whitespace();
            let key = match self.peek() {
                Some(b'}') => {
                    self.position += 1;
                    return Ok(Json::Object(map));
                }
                Some(b'"' | b'\'') => self.string()?,
                Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'$' => {
                    self.identifier().to_string()
                }
                _ => return self.error(),
            };
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return self.error();
            }
            self.position += 1;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            map.insert(key, value);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(Json::Object(map));
                }
                _ => return self.error(),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, LenientError> {
        self.position += 1;
        let mut items = Vec::new();
        loop {
            self.skip_whitespace();
            if self.peek() == Some(b']') {
                self.position += 1;
                return Ok(Json::Array(items));
            }
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.position += 1,
                Some(b']') => {
                    self.position += 1;
                    return Ok(Json::Array(items));
                }
                _ => return self.error(),
            }
        }
    }

    fn number(&mut self) -> Result<Json, LenientError> {
        let start = self.position;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        {
            self.position += 1;
        }
        let literal = &self.text[start..self.position];
        if let Ok(number) = literal.parse::<Number>() {
            return Ok(Json::Number(number));
        }
        // Python writes floats JSON refuses, such as `1.` or `.5` after a minus sign.
        match literal.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(number) => Ok(Json::Number(number)),
            None => {
                self.position = start;
                self.error()
            }
        }
    }

    /// A string in double, single or triple quotes, its escapes resolved.
    fn string(&mut self) -> Result<String, LenientError> {
        let quote = self.peek().unwrap_or(b'"');
        let triple = if quote == b'"' { "\"\"\"" } else { "'''" };
        let is_triple = self.rest().starts_with(triple);
        self.position += if is_triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let rest = self.rest();
            let Some(c) = rest.chars().next() else {
                return self.error();
            };
            if c as u32 == u32::from(quote) && (!is_triple || rest.starts_with(triple)) {
                self.position += if is_triple { 3 } else { 1 };
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                self.position += c.len_utf8();
                continue;
            }
            self.position += 1;
            let Some(escaped) = self.rest().chars().next() else {
                return self.error();
            };
            self.position += escaped.len_utf8();
            match escaped {
                '"' | '\\' | '/' | '\'' => out.push(escaped),
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => match self.unicode_escape() {
                    Some(c) => out.push(c),
                    // Not a valid escape after all: keep the text as written.
                    None => out.push_str("\\u"),
                },
                // Invalid in JSON (`\d`, `\W`, `\.`, a backslash before a newline): the model
                // meant the backslash itself, as in a Python raw string.
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        }
    }

    /// The four hex digits after `\u` (and a low surrogate's, for a pair), consumed only when
    /// they make a character.
    fn unicode_escape(&mut self) -> Option<char> {
        let hex = |text: &str| -> Option<u32> {
            let digits = text.get(..4)?;
            digits
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
                .then(|| u32::from_str_radix(digits, 16).ok())
                .flatten()
        };
        let high = hex(self.rest())?;
        if (0xD800..0xDC00).contains(&high) {
            let after = self.rest().get(4..)?;
            let low = after.strip_prefix("\\u").and_then(hex)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?;
            self.position += 10;
            return Some(c);
        }
        let c = char::from_u32(high)?;
        self.position += 4;
        Some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_json_reads_as_serde_does() {
        let text =
            r#"{"a": [1, -2.5, 3e2, true, false, null], "b": {"c": "d\n\u00e9\ud83d\ude00"}}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_str::<Json>(text).unwrap()
        );
    }

    #[test]
    fn python_habits_are_read_as_meant() {
        let text = "{'path': 'a.py', \"re\": \"\\w+\\d\", 'flags': [True, False, None,], ok: 1,}";
        assert_eq!(
            parse(text).unwrap(),
            json!({"path": "a.py", "re": "\\w+\\d", "flags": [true, false, null], "ok": 1})
        );
        let text = "{\"content\": \"\"\"line \"one\"\n\tline two\"\"\"}";
        assert_eq!(
            parse(text).unwrap(),
            json!({"content": "line \"one\"\n\tline two"})
        );
        assert_eq!(parse("'it\\'s'").unwrap(), json!("it's"));
    }

    #[test]
    fn prefix_reports_what_it_consumed() {
        let (value, consumed) = parse_prefix("  {\"a\": 1} and then prose").unwrap();
        assert_eq!(value, json!({"a": 1}));
        assert_eq!(consumed, 10);
    }

    #[test]
    fn broken_text_is_an_error() {
        for text in [
            "{\"a\": 1",
            "{\"a\" 1}",
            "{\"a\": 1 \"b\": 2}",
            "[1, 2",
            "\"open",
            "{\"a\": nope}",
            "",
            "{\"a\": 1} trailing",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
    }
}
