//! Errors about input files: every one names the file, the line and the field it is about.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// One problem in one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The mission the file belongs to, when it is part of one.
    pub mission: Option<String>,
    pub path: PathBuf,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// Dotted field path, e.g. `assertion.milestone` or `environment.setup`.
    pub field: Option<String>,
    pub message: String,
}

impl SpecError {
    pub fn new(path: &Path, message: impl Into<String>) -> SpecError {
        SpecError {
            mission: None,
            path: path.to_path_buf(),
            line: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn at(
        path: &Path,
        source: &str,
        span: Option<Range<usize>>,
        field: &str,
        message: impl Into<String>,
    ) -> SpecError {
        SpecError {
            mission: None,
            path: path.to_path_buf(),
            line: span.map(|span| line_of(source, span.start)),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(mission) = &self.mission {
            write!(f, "mission `{mission}`: ")?;
        }
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        // serde's own messages name their field ("missing field `id`"): said once.
        if let Some(field) = self
            .field
            .as_deref()
            .filter(|field| !names_field(&self.message, field))
        {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SpecError {}

/// Whether `message` already names `field` (its last dotted part) as serde does.
fn names_field(message: &str, field: &str) -> bool {
    let leaf = field.rsplit('.').next().unwrap_or(field);
    message.contains(&format!("field `{leaf}`"))
}

/// Several problems found at once (validation reports all it finds, not just the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

impl From<SpecError> for SpecErrors {
    fn from(error: SpecError) -> SpecErrors {
        SpecErrors(vec![error])
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(source: &str, offset: usize) -> usize {
    let offset = offset.min(source.len());
    source.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

pub(crate) fn read_file(path: &Path) -> Result<String, SpecError> {
    std::fs::read_to_string(path)
        .map_err(|e| SpecError::new(path, format!("cannot read file: {e}")))
}

/// Parses TOML into `T`, turning serde's message and span into a [`SpecError`] with line and field.
pub(crate) fn parse_toml<T: DeserializeOwned>(path: &Path, source: &str) -> Result<T, SpecError> {
    toml::from_str(source).map_err(|error| {
        let message = plain_serde_message(error.message().trim());
        let span = error.span();
        let field = match field_from_message(&message) {
            // A missing field belongs in the table the error points at.
            Some(name) if message.starts_with("missing field") => Some(
                span.clone()
                    .and_then(|s| table_on_line(source, s.start))
                    .map_or(name.clone(), |table| format!("{table}.{name}")),
            ),
            Some(name) => Some(name),
            None => span.clone().and_then(|s| key_on_line(source, s.start)),
        };
        SpecError {
            mission: None,
            path: path.to_path_buf(),
            // Without a span the error concerns the file as a whole: its first line.
            line: Some(span.map_or(1, |s| line_of(source, s.start))),
            field,
            message,
        }
    })
}

/// serde's message with the strings it quotes as Rust's `{:?}` does (`string "a\"b"`) said as
/// a person reads them: in backticks when they hold no quote, backslash, backtick or control
/// character (`` string `abc` ``, as serde quotes numbers), else `a string`.
pub fn plain_serde_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("string \"") {
        out.push_str(&rest[..at]);
        let literal = &rest[at + "string ".len()..];
        match debug_literal_end(literal) {
            Some(end) => {
                let inner = &literal[1..end - 1];
                let plain = !inner
                    .chars()
                    .any(|c| matches!(c, '"' | '\\' | '`') || c.is_control());
                if plain {
                    out.push_str(&format!("string `{inner}`"));
                } else {
                    out.push_str("a string");
                }
                rest = &literal[end..];
            }
            None => {
                out.push_str("string \"");
                rest = &literal[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The byte just past the closing quote of the Debug string literal `text` starts with.
fn debug_literal_end(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(index + 1),
            _ => {}
        }
    }
    None
}

/// serde names the field in messages such as "unknown field `x`" and "missing field `x`".
fn field_from_message(message: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            return rest.find('`').map(|end| rest[..end].to_string());
        }
    }
    None
}

/// The line holding byte `offset`.
fn line_at(source: &str, offset: usize) -> &str {
    let offset = offset.min(source.len());
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = source[offset..]
        .find('\n')
        .map_or(source.len(), |i| offset + i);
    &source[start..end]
}

/// The table a `[table]` or `[[table]]` header at `offset` opens.
fn table_on_line(source: &str, offset: usize) -> Option<String> {
    let trimmed = line_at(source, offset).trim_start();
    if !trimmed.starts_with('[') {
        return None;
    }
    // Only a header's name: a damaged line that opens with `[` names no table.
    trimmed
        .trim_matches(|c| c == '[' || c == ']' || c == ' ')
        .split(']')
        .next()
        .map(|table| table.trim().to_string())
        .filter(|table| {
            !table.is_empty()
                && table
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
        })
}

/// The key of a `key = value` line, for errors whose span points at a value.
fn key_on_line(source: &str, offset: usize) -> Option<String> {
    if let Some(table) = table_on_line(source, offset) {
        return Some(table);
    }
    let line = line_at(source, offset);
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_string())
}

/// Finds `key` inside the table `table` (`[models.a]` then `key = ...`), or written as a
/// dotted key (`a.key = ...` under `[models]`, `models.a.key = ...` at the top). Falls back to
/// the table's own header.
pub(crate) fn find_key_in_table(
    source: &str,
    table: &str,
    key: &str,
) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    let mut current = String::new();
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let start = offset + (line.len() - trimmed.len());
        offset += line.len();
        if trimmed.starts_with('[') {
            current = trimmed
                .split('#')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            continue;
        }
        let Some((name, _)) = trimmed.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let full = if current.is_empty() {
            name.to_string()
        } else {
            format!("{current}.{name}")
        };
        if full == format!("{table}.{key}") {
            return Some(start..start + name.len());
        }
    }
    find_key(source, table)
}

/// Span of the first line that sets `key` (for errors found after parsing).
pub(crate) fn find_key(source: &str, key: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let is_key = trimmed.strip_prefix(key).is_some_and(|rest| {
            rest.trim_start().starts_with('=') || rest.trim_start().starts_with('.')
        });
        let is_table = trimmed.starts_with('[')
            && trimmed
                .trim_matches(|c| c == '[' || c == ']' || c == ' ' || c == '\n')
                .ends_with(key);
        if is_key || is_table {
            let start = offset + (line.len() - trimmed.len());
            return Some(start..start + key.len());
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }

    #[test]
    fn unknown_key_names_line_and_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: u32,
        }
        let error = parse_toml::<S>(Path::new("x.toml"), "a = 1\nbee = 2\n").unwrap_err();
        assert_eq!(error.line, Some(2));
        assert_eq!(error.field.as_deref(), Some("bee"));
        assert!(
            error
                .to_string()
                .starts_with("x.toml:2: unknown field `bee`"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_field_is_named_once_at_its_table() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Item {
            id: String,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct S {
            a: u32,
            #[serde(default)]
            item: Vec<Item>,
        }
        let error = parse_toml::<S>(Path::new("x.toml"), "b = 1\n").unwrap_err();
        assert_eq!(error.to_string(), "x.toml:1: missing field `a`");
        assert_eq!(error.field.as_deref(), Some("a"));
        let source = "a = 1\n\n[[item]]\nid = \"x\"\n\n[[item]]\nname = \"y\"\n";
        let error = parse_toml::<S>(Path::new("x.toml"), source).unwrap_err();
        assert_eq!(error.to_string(), "x.toml:6: missing field `id`");
        assert_eq!(error.field.as_deref(), Some("item.id"));
    }

    #[test]
    fn serde_strings_are_said_without_debug_escapes() {
        assert_eq!(
            plain_serde_message("invalid type: string \"abc\", expected u32"),
            "invalid type: string `abc`, expected u32"
        );
        assert_eq!(
            plain_serde_message("invalid type: string \"\\\"\\\\\", expected u32"),
            "invalid type: a string, expected u32"
        );
        assert_eq!(
            plain_serde_message("invalid value: string \"a\\nb\", expected x and string \"c\""),
            "invalid value: a string, expected x and string `c`"
        );
        assert_eq!(plain_serde_message("cut string \"ab"), "cut string \"ab");
        assert_eq!(
            plain_serde_message("missing field `id`"),
            "missing field `id`"
        );
    }

    #[test]
    fn wrong_type_names_the_key() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: u32,
            b: String,
        }
        let error = parse_toml::<S>(Path::new("x.toml"), "b = \"x\"\na = \"one\"\n").unwrap_err();
        assert_eq!(error.line, Some(2));
        assert_eq!(error.field.as_deref(), Some("a"));
    }
}
