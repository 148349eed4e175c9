//! Mutation score of the agents' own tests (`[mutation]` of mission.toml): a seeded sample of
//! mutants of the product's Python source, each judged by the mission's test command in the
//! mission's sandbox. The mutants come from the harness's own operators over a small Python
//! tokenizer (strings, comments and f-string internals are skipped), each chosen so that the
//! mutated file still parses.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use walkdir::WalkDir;

use crate::events::{Event, MissionKey};
use crate::model::millis;
use crate::rng::SplitMix;
use crate::spec::mission::MutationSpec;
use crate::spec::MissionSpec;
use crate::stop::StopSignal;
use crate::tools::{run_shell, CommandEnv, CommandOutput, Notice};

use super::{Ending, GroundTruthError, Measurement};

/// Each mutant's run may take this many times the unmutated run, plus [`TIMEOUT_SLACK`]: a
/// mutant that loops forever is killed, one that is merely slower is not.
const TIMEOUT_FACTOR: u32 = 3;
const TIMEOUT_SLACK: Duration = Duration::from_secs(2);

/// Survivors listed in the event; the counts are exact beyond it.
const MAX_SURVIVORS_LISTED: usize = 50;

// ---------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Name,
    Number,
    /// A whole string literal, prefix and f-string expressions included.
    String,
    Op,
    /// The end of a logical line (a newline outside brackets, or the end of the file).
    Newline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte offsets into the source.
    pub start: usize,
    pub end: usize,
    /// 1-based line of `start`.
    pub line: u32,
    /// Open brackets around the token.
    pub depth: u32,
}

/// Operators, longest first so that the first match is the longest.
const OPERATORS: [&str; 48] = [
    "**=", "//=", ">>=", "<<=", "...", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=",
    ":=", "<<", "<=", "==", ">=", ">>", "@=", "^=", "|=", "!", "%", "&", "(", ")", "*", "+", ",",
    "-", ".", "/", ":", ";", "<", "=", ">", "@", "[", "]", "^", "{", "|", "}", "~",
];

const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80
}

fn is_name_byte(byte: u8) -> bool {
    is_name_start(byte) || byte.is_ascii_digit()
}

/// Whether `prefix` (any case) may precede a string literal; the second value says whether the
/// literal is an f-string.
fn string_prefix(prefix: &[u8]) -> Option<bool> {
    let lower: Vec<u8> = prefix.iter().map(u8::to_ascii_lowercase).collect();
    match lower.as_slice() {
        b"" | b"r" | b"u" | b"b" | b"br" | b"rb" => Some(false),
        b"f" | b"fr" | b"rf" => Some(true),
        _ => None,
    }
}

/// Why a source is not Python this tokenizer can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizeError {
    #[error("a string that starts on line {line} never ends")]
    UnterminatedString { line: u32 },
    #[error("a string on line {line} never ends")]
    StringAcrossLines { line: u32 },
    #[error("unexpected character on line {line}: {character}")]
    UnexpectedCharacter { line: u32, character: char },
    #[error("an unmatched `{bracket}` on line {line}")]
    UnmatchedBracket { bracket: &'static str, line: u32 },
    #[error("a bracket is never closed")]
    UnclosedBracket,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u32,
}

impl Scanner<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) {
        if self.peek(0) == Some(b'\n') {
            self.line += 1;
        }
        self.pos += 1;
    }

    /// Scans a string literal whose opening quote is at `pos`, to just past its closing quote.
    /// Inside an f-string's braces, nested strings are scanned whole, so their quotes never
    /// end the outer one.
    fn string(&mut self, is_f: bool) -> Result<(), TokenizeError> {
        let start_line = self.line;
        let quote = self.peek(0).unwrap_or(b'"');
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        let width = if triple { 3 } else { 1 };
        self.pos += width;
        let mut braces = 0u32;
        loop {
            let Some(byte) = self.peek(0) else {
                return Err(TokenizeError::UnterminatedString { line: start_line });
            };
            if braces > 0 {
                match byte {
                    b'\'' | b'"' => {
                        let prefix_start = (0..self.pos)
                            .rev()
                            .take_while(|&i| self.bytes[i].is_ascii_alphabetic())
                            .last()
                            .unwrap_or(self.pos);
                        let nested_f =
                            string_prefix(&self.bytes[prefix_start..self.pos]).unwrap_or(false);
                        self.string(nested_f)?;
                        continue;
                    }
                    b'{' => braces += 1,
                    b'}' => braces -= 1,
                    _ => {}
                }
                self.bump();
                continue;
            }
            match byte {
                b'\\' => {
                    self.bump();
                    if self.peek(0).is_some() {
                        self.bump();
                    }
                }
                b'\n' if !triple => {
                    return Err(TokenizeError::StringAcrossLines { line: start_line });
                }
                b'{' if is_f => {
                    if self.peek(1) == Some(b'{') {
                        self.pos += 2;
                    } else {
                        braces = 1;
                        self.bump();
                    }
                }
                _ if byte == quote
                    && (!triple
                        || (self.peek(1) == Some(quote) && self.peek(2) == Some(quote))) =>
                {
                    self.pos += width;
                    return Ok(());
                }
                _ => self.bump(),
            }
        }
    }

    /// Whether a backslash at `pos` joins this line to the next.
    fn at_line_continuation(&self) -> bool {
        self.peek(1) == Some(b'\n') || (self.peek(1) == Some(b'\r') && self.peek(2) == Some(b'\n'))
    }

    /// Skips a comment, up to its newline.
    fn skip_comment(&mut self) {
        while self.peek(0).is_some_and(|b| b != b'\n') {
            self.bump();
        }
    }

    /// Skips a line continuation, its newline included.
    fn skip_line_continuation(&mut self) {
        self.bump();
        while self.peek(0) != Some(b'\n') {
            self.bump();
        }
        self.bump();
    }

    /// Scans a name that starts at `start`, or the string literal it is the prefix of.
    fn name_or_string(&mut self, start: usize) -> Result<TokenKind, TokenizeError> {
        while self.peek(0).is_some_and(is_name_byte) {
            self.bump();
        }
        match (self.peek(0), string_prefix(&self.bytes[start..self.pos])) {
            (Some(b'\'' | b'"'), Some(is_f)) => {
                self.string(is_f)?;
                Ok(TokenKind::String)
            }
            _ => Ok(TokenKind::Name),
        }
    }

    /// Whether a number starts at `pos` (a digit, or a point before one).
    fn at_number(&self, byte: u8) -> bool {
        byte.is_ascii_digit() || (byte == b'.' && self.peek(1).is_some_and(|b| b.is_ascii_digit()))
    }

    /// Scans a number that starts at `pos`: digits, letters (bases, exponents, suffixes),
    /// underscores and points, and an exponent's sign.
    fn number(&mut self, first: u8) {
        let hex = first == b'0' && matches!(self.peek(1), Some(b'x' | b'X'));
        self.bump();
        while let Some(next) = self.peek(0) {
            let exponent = !hex
                && matches!(next, b'+' | b'-')
                && matches!(self.bytes[self.pos - 1], b'e' | b'E');
            if next.is_ascii_alphanumeric() || next == b'_' || next == b'.' || exponent {
                self.bump();
            } else {
                break;
            }
        }
    }
}

/// The operator that starts at byte `start` of `source`, the longest one.
fn operator_at(source: &str, start: usize, line: u32) -> Result<&'static str, TokenizeError> {
    let rest = &source.as_bytes()[start..];
    OPERATORS
        .iter()
        .find(|op| rest.starts_with(op.as_bytes()))
        .copied()
        .ok_or_else(|| TokenizeError::UnexpectedCharacter {
            line,
            character: source[start..].chars().next().unwrap_or(' '),
        })
}

/// The bracket depth after operator `op`.
fn depth_after(depth: u32, op: &'static str, line: u32) -> Result<u32, TokenizeError> {
    match op {
        "(" | "[" | "{" => Ok(depth + 1),
        ")" | "]" | "}" => depth
            .checked_sub(1)
            .ok_or(TokenizeError::UnmatchedBracket { bracket: op, line }),
        _ => Ok(depth),
    }
}

/// Ends the logical line at `at` unless it is empty (at the start, or after another end).
fn push_newline(tokens: &mut Vec<Token>, at: usize, line: u32) {
    if tokens.last().is_some_and(|t| t.kind != TokenKind::Newline) {
        tokens.push(Token {
            kind: TokenKind::Newline,
            start: at,
            end: at,
            line,
            depth: 0,
        });
    }
}

/// The tokens of a Python source, comments and blank lines left out. `Err` when the source is
/// not Python this tokenizer can read (an unterminated string, unbalanced brackets, a stray
/// character): such a file is not mutated.
pub fn tokenize(source: &str) -> Result<Vec<Token>, TokenizeError> {
    let mut scanner = Scanner {
        bytes: source.as_bytes(),
        pos: 0,
        line: 1,
    };
    let mut tokens: Vec<Token> = Vec::new();
    let mut depth = 0u32;
    while let Some(byte) = scanner.peek(0) {
        let start = scanner.pos;
        let line = scanner.line;
        let kind = match byte {
            b' ' | b'\t' | b'\r' | b'\x0c' => {
                scanner.bump();
                continue;
            }
            b'\n' => {
                if depth == 0 {
                    push_newline(&mut tokens, start, line);
                }
                scanner.bump();
                continue;
            }
            b'#' => {
                scanner.skip_comment();
                continue;
            }
            b'\\' if scanner.at_line_continuation() => {
                scanner.skip_line_continuation();
                continue;
            }
            b'\'' | b'"' => {
                scanner.string(false)?;
                TokenKind::String
            }
            _ if is_name_start(byte) => scanner.name_or_string(start)?,
            _ if scanner.at_number(byte) => {
                scanner.number(byte);
                TokenKind::Number
            }
            _ => {
                let op = operator_at(source, start, line)?;
                depth = depth_after(depth, op, line)?;
                scanner.pos += op.len();
                TokenKind::Op
            }
        };
        let token_depth =
            if kind == TokenKind::Op && matches!(&source[start..scanner.pos], "(" | "[" | "{") {
                depth - 1
            } else {
                depth
            };
        tokens.push(Token {
            kind,
            start,
            end: scanner.pos,
            line,
            depth: token_depth,
        });
    }
    if depth > 0 {
        return Err(TokenizeError::UnclosedBracket);
    }
    push_newline(&mut tokens, source.len(), scanner.line);
    Ok(tokens)
}

// ---------------------------------------------------------------------------------------------
// Operators
// ---------------------------------------------------------------------------------------------

/// One mutant: the text at `start..end` of `file` replaced by `replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutant {
    /// Workspace-relative path.
    pub file: String,
    pub line: u32,
    /// The operator class: `arithmetic`, `comparison`, `boolean`, `constant`, `condition`,
    /// `return`.
    pub operator: &'static str,
    pub start: usize,
    pub end: usize,
    pub replacement: String,
}

impl Mutant {
    /// The source with this mutant applied.
    pub fn apply(&self, source: &str) -> String {
        let mut text = String::with_capacity(source.len() + self.replacement.len());
        text.push_str(&source[..self.start]);
        text.push_str(&self.replacement);
        text.push_str(&source[self.end..]);
        text
    }

    /// `file:line operator: `old` -> `new`` (or `` `old` removed``), for people reading a
    /// survivor.
    pub fn describe(&self, source: &str) -> String {
        let shorten = |text: &str| {
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if flat.chars().count() > 40 {
                format!("{}...", flat.chars().take(37).collect::<String>())
            } else {
                flat
            }
        };
        let old = shorten(source.get(self.start..self.end).unwrap_or(""));
        let change = if self.replacement.is_empty() {
            format!("`{old}` removed")
        } else {
            format!("`{old}` -> `{}`", shorten(&self.replacement))
        };
        format!("{}:{} {}: {change}", self.file, self.line, self.operator)
    }
}

/// Whether a token ends an operand, so that an operator after it is binary.
fn ends_operand(source: &str, token: &Token) -> bool {
    let text = &source[token.start..token.end];
    match token.kind {
        TokenKind::Number | TokenKind::String => true,
        TokenKind::Name => !KEYWORDS.contains(&text) || matches!(text, "True" | "False" | "None"),
        TokenKind::Op => matches!(text, ")" | "]" | "}"),
        TokenKind::Newline => false,
    }
}

/// Whether the logical line `tokens` is `if __name__ == "__main__":`. Its condition is left
/// alone: negating it runs the program when the tests import the module, which says nothing
/// about the tests. The block under it is mutated like any code (tests may run the script).
fn is_main_guard(source: &str, tokens: &[Token]) -> bool {
    let texts: Vec<&str> = tokens.iter().map(|t| &source[t.start..t.end]).collect();
    matches!(
        texts.as_slice(),
        ["if", "__name__", "==", main, ":", ..] | ["if", main, "==", "__name__", ":", ..]
            if matches!(*main, "\"__main__\"" | "'__main__'")
    )
}

/// What an arithmetic or comparison operator becomes, with the operator class. `+`, `-`, `*`,
/// `/`, `//` and `%` only where they join two operands (`binary`), never as a sign.
fn swapped_operator(op: &str, binary: bool) -> Option<(&'static str, &'static str)> {
    Some(match op {
        "+" if binary => ("arithmetic", "-"),
        "-" if binary => ("arithmetic", "+"),
        "*" if binary => ("arithmetic", "/"),
        "/" | "//" | "%" if binary => ("arithmetic", "*"),
        "+=" => ("arithmetic", "-="),
        "-=" => ("arithmetic", "+="),
        "*=" => ("arithmetic", "/="),
        "/=" => ("arithmetic", "*="),
        "<" => ("comparison", "<="),
        "<=" => ("comparison", "<"),
        ">" => ("comparison", ">="),
        ">=" => ("comparison", ">"),
        "==" => ("comparison", "!="),
        "!=" => ("comparison", "=="),
        _ => return None,
    })
}

/// Every mutant the operators make of `source` (the file at workspace path `file`), in source
/// order. Strings are never mutated: most are messages or keys, and an emptied message the tests
/// do not assert on would count against them without saying anything about their quality.
pub fn mutants_of(file: &str, source: &str) -> Result<Vec<Mutant>, TokenizeError> {
    let tokens = tokenize(source)?;
    let mut mutants = Vec::new();
    let mut line_start = 0;
    for (index, token) in tokens.iter().enumerate() {
        if token.kind == TokenKind::Newline {
            let line = &tokens[line_start..index];
            if !line.is_empty() && !is_main_guard(source, line) {
                logical_line_mutants(file, source, line, &mut mutants);
            }
            line_start = index + 1;
        }
    }
    Ok(mutants)
}

/// The mutants of one logical line, collected as the operators find them.
struct LineMutants<'a> {
    file: &'a str,
    source: &'a str,
    /// The line's tokens, without the closing newline.
    tokens: &'a [Token],
    out: &'a mut Vec<Mutant>,
}

impl<'a> LineMutants<'a> {
    fn text(&self, token: &Token) -> &'a str {
        &self.source[token.start..token.end]
    }

    fn push(
        &mut self,
        operator: &'static str,
        start: usize,
        end: usize,
        replacement: &str,
        line: u32,
    ) {
        self.out.push(Mutant {
            file: self.file.to_string(),
            line,
            operator,
            start,
            end,
            replacement: replacement.to_string(),
        })
    }

    /// `not x` loses its `not`, up to the operand when only blanks are between, so no
    /// indentation and no doubled blank is left behind. Not the `not` of `not in` or `is not`.
    fn drop_not(&mut self, token: &Token, previous: Option<&Token>, next: Option<&Token>) {
        let part_of_operator = next.is_some_and(|n| self.text(n) == "in")
            || previous.is_some_and(|p| self.text(p) == "is");
        if let (false, Some(n)) = (part_of_operator, next) {
            let gap = &self.source[token.end..n.start];
            let end = if gap.chars().all(|c| c == ' ' || c == '\t') {
                n.start
            } else {
                token.end
            };
            self.push("boolean", token.start, end, "", token.line);
        }
    }

    /// A plain decimal integer becomes another: 1 becomes 0, anything else one more.
    fn change_number(&mut self, token: &Token) {
        if let Some(value) = decimal_integer(self.text(token)) {
            let replacement = match value {
                1 => 0,
                _ => value.saturating_add(1),
            };
            self.push(
                "constant",
                token.start,
                token.end,
                &replacement.to_string(),
                token.line,
            );
        }
    }

    /// The condition of the line's `if`, `elif` or `while` (`token`, the first) is negated.
    fn negate_condition(&mut self, token: &Token) {
        let tokens = self.tokens;
        let colon = tokens
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, t)| t.kind == TokenKind::Op && t.depth == 0 && self.text(t) == ":")
            .map(|(at, _)| at);
        if let Some(colon) = colon.filter(|&c| c > 1) {
            let (first, last) = (&tokens[1], &tokens[colon - 1]);
            let condition = &self.source[first.start..last.end];
            self.push(
                "condition",
                first.start,
                last.end,
                &format!("not ({condition})"),
                token.line,
            );
        }
    }

    /// The value of the `return` at `index` becomes `None`, up to the end of its statement.
    fn return_none(&mut self, index: usize) {
        let token = &self.tokens[index];
        let next = self.tokens.get(index + 1);
        let end = self.tokens[index + 1..]
            .iter()
            .take_while(|t| !(t.depth == 0 && self.text(t) == ";"))
            .last();
        if let (Some(first), Some(last)) = (next, end) {
            let value = &self.source[first.start..last.end];
            if self.text(first) != ";" && value != "None" {
                self.push("return", first.start, last.end, "None", token.line);
            }
        }
    }
}

/// The mutants of one logical line (its tokens, without the closing newline).
fn logical_line_mutants(file: &str, source: &str, tokens: &[Token], out: &mut Vec<Mutant>) {
    let mut line = LineMutants {
        file,
        source,
        tokens,
        out,
    };
    // Per bracket depth: a `for` whose `in` has not come yet. That `in` is the loop's, which
    // cannot become `not in`.
    let mut pending_for: Vec<bool> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| &tokens[p]);
        let next = tokens.get(i + 1);
        let current = line.text(token);
        let depth = token.depth as usize;
        if pending_for.len() <= depth {
            pending_for.resize(depth + 1, false);
        }
        let binary = previous.is_some_and(|p| ends_operand(source, p));
        let (start, end, at) = (token.start, token.end, token.line);
        match (token.kind, current) {
            (TokenKind::Op, op) => {
                if let Some((operator, replacement)) = swapped_operator(op, binary) {
                    line.push(operator, start, end, replacement, at);
                }
            }
            (TokenKind::Name, "for") => pending_for[depth] = true,
            (TokenKind::Name, "in") => {
                if pending_for[depth] {
                    pending_for[depth] = false;
                } else if previous.is_some_and(|p| line.text(p) == "not") {
                    let not = previous.map_or(start, |p| p.start);
                    line.push("comparison", not, start, "", at);
                } else {
                    line.push("comparison", start, end, "not in", at);
                }
            }
            (TokenKind::Name, "is") => match next {
                Some(n) if line.text(n) == "not" => line.push("comparison", end, n.end, "", at),
                _ => line.push("comparison", start, end, "is not", at),
            },
            (TokenKind::Name, "and") => line.push("boolean", start, end, "or", at),
            (TokenKind::Name, "or") => line.push("boolean", start, end, "and", at),
            (TokenKind::Name, "not") => line.drop_not(token, previous, next),
            (TokenKind::Name, "True") => line.push("constant", start, end, "False", at),
            (TokenKind::Name, "False") => line.push("constant", start, end, "True", at),
            (TokenKind::Number, _) => line.change_number(token),
            (TokenKind::Name, "if" | "elif" | "while") if i == 0 => line.negate_condition(token),
            (TokenKind::Name, "return") => line.return_none(i),
            _ => {}
        }
    }
}

/// A plain decimal integer literal's value (`0`, `42`, `1_000`); `None` for hex, octal, binary,
/// floats, imaginary numbers and anything too large.
fn decimal_integer(text: &str) -> Option<u64> {
    if !text.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.replace('_', "").parse().ok()
}

/// The seed of a mission's mutant sample: the run's `--seed`, the suite, the mission and the
/// repeat. Not the pairing, so two pairings that wrote the same product are judged on the same
/// mutants.
pub fn sample_seed(run_seed: u64, key: &MissionKey) -> u64 {
    crate::rng::derive_seed(&[
        &run_seed.to_le_bytes(),
        b"mutation",
        key.suite.as_bytes(),
        key.mission.as_str().as_bytes(),
        &key.repeat.to_le_bytes(),
    ])
}

/// `count` of `total` indices drawn without replacement from `seed`, in increasing order: the
/// same seed and sizes give the same sample.
pub fn sample_indices(total: usize, count: usize, seed: u64) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..total).collect();
    let mut generator = SplitMix::new(seed);
    let count = count.min(total);
    for i in 0..count {
        let j = i + generator.below(total - i);
        indices.swap(i, j);
    }
    let mut sample = indices[..count].to_vec();
    sample.sort_unstable();
    sample
}

// ---------------------------------------------------------------------------------------------
// Running the mutants
// ---------------------------------------------------------------------------------------------

/// What the runs add up to, before it becomes the event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MutationTally {
    pub candidates: u64,
    pub sampled: u64,
    pub killed: u64,
    pub survived: u64,
    pub timed_out: u64,
    pub not_viable: u64,
    pub baseline_ms: f64,
    pub survivors: Vec<String>,
}

impl MutationTally {
    /// Killed over viable (killed + survived); `None` when no mutant was viable.
    pub fn score(&self) -> Option<f64> {
        let viable = self.killed + self.survived;
        (viable > 0).then(|| self.killed as f64 / viable as f64)
    }

    fn event(&self, tool: &str, started: Instant, error: Option<String>) -> Event {
        Event::MutationMeasured {
            tool: tool.to_string(),
            score: if error.is_none() { self.score() } else { None },
            candidates: self.candidates,
            sampled: self.sampled,
            mutants_total: self.killed + self.survived + self.not_viable,
            killed: self.killed,
            survived: self.survived,
            timed_out: self.timed_out,
            not_viable: self.not_viable,
            baseline_ms: self.baseline_ms,
            duration_ms: millis(started.elapsed()),
            error,
            survivors: self.survivors.clone(),
        }
    }
}

/// A product file, its text and its permissions.
struct SourceFile {
    relative: String,
    path: PathBuf,
    text: String,
    permissions: std::fs::Permissions,
}

impl SourceFile {
    /// Puts `text` in the file's place with the file's permissions (a script stays executable),
    /// by renaming a new file over it: a link the tests left in its place is replaced, never
    /// followed.
    fn replace_with(&self, text: &str) -> std::io::Result<()> {
        let file_name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let temporary = self
            .path
            .with_file_name(format!(".{file_name}.mutant-{}", std::process::id()));
        std::fs::write(&temporary, text)?;
        std::fs::set_permissions(&temporary, self.permissions.clone())?;
        std::fs::rename(&temporary, &self.path)
    }
}

/// The product files `[mutation]` may mutate, in path order. Links are not followed and files
/// that are not UTF-8 are left out: neither is Python the operators can read.
fn source_files(mission: &MissionSpec, root: &Path) -> Vec<SourceFile> {
    let walker = WalkDir::new(root)
        .sort_by_file_name()
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            e.depth() != 1 || !super::NOT_PRODUCT.iter().any(|n| e.file_name() == *n)
        });
    let mut files = Vec::new();
    for entry in walker.flatten().filter(|e| e.file_type().is_file()) {
        let Ok(relative) = entry.path().strip_prefix(root) else {
            continue;
        };
        let is_python = relative.extension().is_some_and(|e| e == "py");
        if !is_python || !mission.is_mutation_path(relative) {
            continue;
        }
        let (Ok(text), Ok(metadata)) = (
            std::fs::read_to_string(entry.path()),
            entry.path().symlink_metadata(),
        ) else {
            continue;
        };
        files.push(SourceFile {
            relative: relative.to_string_lossy().to_string(),
            path: entry.path().to_path_buf(),
            text,
            permissions: metadata.permissions(),
        });
    }
    files
}

/// The last lines of a command's output, for an error a person reads.
fn output_tail(output: &CommandOutput) -> String {
    let text = format!("{}{}", output.stdout, output.stderr);
    let lines: Vec<&str> = text.lines().rev().take(15).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Byte-code caches copied from the workspace could stand in for a mutant of the same size
/// written in the same second; none are kept, and the runs write none
/// (`PYTHONDONTWRITEBYTECODE`).
fn remove_bytecode_caches(root: &Path) {
    let caches: Vec<PathBuf> = WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_dir() && e.file_name() == "__pycache__")
        .map(|e| e.path().to_path_buf())
        .collect();
    for cache in caches {
        let _ = std::fs::remove_dir_all(cache);
    }
}

/// A mutant of one of the product files.
struct Candidate {
    /// Its file's index in [`MutantPool::files`].
    file: usize,
    mutant: Mutant,
}

/// Every mutant the operators make of the product in a scratch copy, with the files they apply
/// to.
struct MutantPool {
    files: Vec<SourceFile>,
    candidates: Vec<Candidate>,
}

impl MutantPool {
    /// Copies `workspace` to `scratch` (cleared first), without bytecode caches, and makes the
    /// mutants of its product files.
    fn gather(
        mission: &MissionSpec,
        workspace: &Path,
        scratch: &Path,
    ) -> Result<MutantPool, GroundTruthError> {
        let _ = std::fs::remove_dir_all(scratch);
        super::copy_workspace(workspace, scratch, &[".git"])?;
        remove_bytecode_caches(scratch);
        let files = source_files(mission, scratch);
        let mut candidates = Vec::new();
        for (index, file) in files.iter().enumerate() {
            // A file the tokenizer cannot read is not Python the operators understand; it is left
            // as it is rather than mutated blindly.
            if let Ok(mutants) = mutants_of(&file.relative, &file.text) {
                candidates.extend(mutants.into_iter().map(|mutant| Candidate {
                    file: index,
                    mutant,
                }));
            }
        }
        Ok(MutantPool { files, candidates })
    }
}

/// Tests a seeded sample of mutants of the product in `scratch`, one copy of `workspace`: each
/// mutant is written over its file, judged by `[mutation] command`, and the file restored
/// before the next (cheaper than a copy per mutant; what the tests leave behind besides the
/// product files stays for the next mutant, as it would between two runs of the tests).
/// `None` when the mission has no `[mutation]`.
pub async fn run_mutation(
    mission: &MissionSpec,
    workspace: &Path,
    scratch: &Path,
    base: &CommandEnv,
    run_seed: u64,
    key: &MissionKey,
    notices: &mut Vec<Notice>,
) -> Option<Event> {
    let spec: &MutationSpec = mission.file.mutation.as_ref()?;
    let started = Instant::now();
    let mut tally = MutationTally::default();
    let measured = async {
        let pool = MutantPool::gather(mission, workspace, scratch)?;
        tally.candidates = pool.candidates.len() as u64;
        if pool.candidates.is_empty() {
            return Err(GroundTruthError::NoMutants);
        }
        let sample = sample_indices(
            pool.candidates.len(),
            spec.max_mutants as usize,
            sample_seed(run_seed, key),
        );
        tally.sampled = sample.len() as u64;
        let env = mutation_env(spec, base);
        let mutant_env = run_baseline(spec, scratch, &env, notices, &mut tally).await?;
        let judge = Judge {
            command: &spec.command,
            scratch,
            env: &mutant_env,
            stop: base.stop.as_deref(),
        };
        judge.sample(&pool, &sample, &mut tally).await
    }
    .await;
    Some(tally.event(&spec.tool, started, measured.err().map(|e| e.to_string())))
}

/// The mutation command's environment: `[mutation] timeout_s`, and no bytecode written.
fn mutation_env(spec: &MutationSpec, base: &CommandEnv) -> CommandEnv {
    let mut vars = base.vars.clone();
    vars.retain(|(k, _)| k != "PYTHONDONTWRITEBYTECODE");
    vars.push(("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string()));
    CommandEnv {
        vars,
        timeout: Duration::from_secs(spec.timeout_s),
        max_output_bytes: 16 * 1024,
        ..base.clone()
    }
}

/// Runs the mission's tests on the unmutated product, which must pass for a mutant to be
/// judged; the environment each mutant's run gets, its time limit from this run's.
async fn run_baseline(
    spec: &MutationSpec,
    scratch: &Path,
    env: &CommandEnv,
    notices: &mut Vec<Notice>,
    tally: &mut MutationTally,
) -> Result<CommandEnv, GroundTruthError> {
    let mut baseline = run_shell(&spec.command, scratch, env)
        .await
        .map_err(|source| GroundTruthError::Command {
            measurement: Measurement::Mutation,
            command: spec.command.clone(),
            source,
        })?;
    notices.append(&mut baseline.notices);
    tally.baseline_ms = millis(baseline.duration);
    if baseline.interrupted {
        return Err(GroundTruthError::Interrupted);
    }
    if baseline.timed_out {
        return Err(GroundTruthError::BaselineTimedOut {
            timeout_s: spec.timeout_s,
        });
    }
    if baseline.exit_code != Some(0) {
        return Err(GroundTruthError::BaselineFailed {
            ending: Ending::of(&baseline),
            output_tail: output_tail(&baseline),
        });
    }
    Ok(CommandEnv {
        timeout: (baseline.duration * TIMEOUT_FACTOR + TIMEOUT_SLACK).min(env.timeout),
        ..env.clone()
    })
}

/// What judges each mutant: the mission's test command in the scratch copy.
struct Judge<'a> {
    command: &'a str,
    scratch: &'a Path,
    /// The environment with each mutant's time limit.
    env: &'a CommandEnv,
    /// The run's stop signal, checked before each mutant.
    stop: Option<&'a StopSignal>,
}

impl Judge<'_> {
    /// Judges the `sample` of the pool's candidates, one at a time, into `tally`.
    async fn sample(
        &self,
        pool: &MutantPool,
        sample: &[usize],
        tally: &mut MutationTally,
    ) -> Result<(), GroundTruthError> {
        for &index in sample {
            if self.stop.is_some_and(|s| s.is_stopped()) {
                return Err(GroundTruthError::Interrupted);
            }
            let Candidate { file, mutant } = &pool.candidates[index];
            let file = &pool.files[*file];
            let mutated = mutant.apply(&file.text);
            if file.replace_with(&mutated).is_err() {
                tally.not_viable += 1;
                continue;
            }
            let output = run_shell(self.command, self.scratch, self.env).await;
            file.replace_with(&file.text).map_err(|source| {
                GroundTruthError::RestoreAfterMutant {
                    file: file.relative.clone(),
                    source,
                }
            })?;
            // A mutant's own limits (a loop that times out, memory it eats) are the mutant's
            // doing, not the agents': its notices are not the mission's.
            match output {
                Err(_) => tally.not_viable += 1,
                Ok(output) if output.interrupted => return Err(GroundTruthError::Interrupted),
                Ok(output) if output.timed_out => {
                    tally.killed += 1;
                    tally.timed_out += 1;
                }
                Ok(output) if output.exit_code == Some(0) => {
                    tally.survived += 1;
                    if tally.survivors.len() < MAX_SURVIVORS_LISTED {
                        tally.survivors.push(mutant.describe(&file.text));
                    }
                }
                Ok(_) => tally.killed += 1,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<String> {
        tokenize(source)
            .unwrap()
            .iter()
            .map(|t| match t.kind {
                TokenKind::Newline => "NL".to_string(),
                _ => source[t.start..t.end].to_string(),
            })
            .collect()
    }

    /// Each mutant of `source` as the mutated text.
    fn mutated(source: &str) -> Vec<String> {
        mutants_of("m.py", source)
            .unwrap()
            .iter()
            .map(|m| m.apply(source))
            .collect()
    }

    #[test]
    fn tokenizer_skips_strings_comments_and_f_string_internals() {
        assert_eq!(
            texts("x = 'a + b'  # c < d\ny = \"q\\\"+\" + r'\\'' \n"),
            [
                "x",
                "=",
                "'a + b'",
                "NL",
                "y",
                "=",
                "\"q\\\"+\"",
                "+",
                "r'\\''",
                "NL"
            ]
        );
        assert_eq!(
            texts("s = '''a\n' + \"\"\" < b'''\nt = Rb\"\"\"x\"\"\"\n"),
            [
                "s",
                "=",
                "'''a\n' + \"\"\" < b'''",
                "NL",
                "t",
                "=",
                "Rb\"\"\"x\"\"\"",
                "NL"
            ]
        );
        // Braces of an f-string hold expressions whose strings may use the other quote, and
        // in Python 3.12 the same one.
        assert_eq!(
            texts("f = f\"{a['k'] + 1:>{w}} {{x}}\" + F'{b[\"}\"]}'\n"),
            [
                "f",
                "=",
                "f\"{a['k'] + 1:>{w}} {{x}}\"",
                "+",
                "F'{b[\"}\"]}'",
                "NL"
            ]
        );
        assert_eq!(
            texts("g = f'{d[\"a\"]}'"),
            ["g", "=", "f'{d[\"a\"]}'", "NL"]
        );
        // Continuations and brackets join lines into one logical line; blank lines and comment
        // lines add none.
        assert_eq!(
            texts("a = (1 +\n     2)\n\n# note\nb = 1 + \\\n 2\n"),
            ["a", "=", "(", "1", "+", "2", ")", "NL", "b", "=", "1", "+", "2", "NL"]
        );
        assert_eq!(
            texts("x = 1e-5 + 0x1F + 1_000j"),
            ["x", "=", "1e-5", "+", "0x1F", "+", "1_000j", "NL"]
        );
        assert_eq!(
            texts("def f(a) -> int: ..."),
            ["def", "f", "(", "a", ")", "->", "int", ":", "...", "NL"]
        );
    }

    #[test]
    fn tokenizer_refuses_what_is_not_python() {
        assert!(tokenize("x = 'never ends\n").is_err());
        assert!(tokenize("x = '''never ends\n").is_err());
        assert!(tokenize("x = (1, 2\n").is_err());
        assert!(tokenize("x = 1)\n").is_err());
        assert!(tokenize("x = 1 $ 2\n").is_err());
    }

    #[test]
    fn tokenizer_errors_say_where() {
        for (source, message) in [
            ("x = 'never ends\n", "a string on line 1 never ends"),
            (
                "\nx = '''never ends\n",
                "a string that starts on line 2 never ends",
            ),
            ("x = (1, 2\n", "a bracket is never closed"),
            ("x = 1)\n", "an unmatched `)` on line 1"),
            ("x = 1 $ 2\n", "unexpected character on line 1: $"),
        ] {
            let error = tokenize(source).map(|_| ()).unwrap_err();
            assert_eq!(error.to_string(), message, "{source}");
        }
    }

    #[test]
    fn arithmetic_only_on_binary_operators() {
        assert_eq!(
            mutated("x = a + b - c * d / e // f % g\n"),
            [
                "x = a - b - c * d / e // f % g\n",
                "x = a + b + c * d / e // f % g\n",
                "x = a + b - c / d / e // f % g\n",
                "x = a + b - c * d * e // f % g\n",
                "x = a + b - c * d / e * f % g\n",
                "x = a + b - c * d / e // f * g\n",
            ]
        );
        // Unary signs, star-args, keyword-only markers and powers are left alone.
        let source =
            "def f(a, *args, b, **kw):\n    g(*args, -a, **kw)\n    x = a ** 2\n    y = [*a]\n";
        assert_eq!(mutated(source), [source.replace("a ** 2", "a ** 3")]);
        assert_eq!(mutated("x += 1\n")[0], "x -= 1\n");
    }

    #[test]
    fn comparisons_and_membership() {
        assert_eq!(
            mutated("a < b <= c > d >= e == f != g\n"),
            [
                "a <= b <= c > d >= e == f != g\n",
                "a < b < c > d >= e == f != g\n",
                "a < b <= c >= d >= e == f != g\n",
                "a < b <= c > d > e == f != g\n",
                "a < b <= c > d >= e != f != g\n",
                "a < b <= c > d >= e == f == g\n",
            ]
        );
        assert_eq!(
            mutated("x = a is b\ny = a is not b\n"),
            [
                "x = a is not b\ny = a is not b\n",
                "x = a is b\ny = a is b\n"
            ]
        );
        assert_eq!(
            mutated("x = a in b\ny = a not in b\n"),
            [
                "x = a not in b\ny = a not in b\n",
                "x = a in b\ny = a in b\n"
            ]
        );
        // A loop's `in` is not a comparison; a later one in the same comprehension is.
        assert_eq!(
            mutated("for k in d:\n    pass\nz = [k for k in d if k in e]\n"),
            ["for k in d:\n    pass\nz = [k for k in d if k not in e]\n"]
        );
    }

    #[test]
    fn booleans_and_constants() {
        assert_eq!(
            mutated("x = a and not b or c\n"),
            [
                "x = a or not b or c\n",
                "x = a and b or c\n",
                "x = a and not b and c\n",
            ]
        );
        // Dropping a `not` that starts a statement leaves the indentation as it was.
        assert_eq!(mutated("if a:\n    not b\n")[1], "if a:\n    b\n");
        assert_eq!(
            mutated("x = (True, False, 0, 1, 41, 1_000, 0x10, 1.5, 0o7 if False else 2j)\n").len(),
            7
        );
        assert_eq!(
            mutated("x = [0, 1, 41, 1_000]\n"),
            [
                "x = [1, 1, 41, 1_000]\n",
                "x = [0, 0, 41, 1_000]\n",
                "x = [0, 1, 42, 1_000]\n",
                "x = [0, 1, 41, 1001]\n",
            ]
        );
    }

    #[test]
    fn conditions_and_returns() {
        assert_eq!(
            mutated("if a(x, y): return\nwhile b:\n    pass\n"),
            [
                "if not (a(x, y)): return\nwhile b:\n    pass\n",
                "if a(x, y): return\nwhile not (b):\n    pass\n"
            ]
        );
        // The statement's colon, not a lambda's or a slice's inside brackets.
        assert_eq!(
            mutated("if f(lambda v: v[1:]):\n    pass\n")[0],
            "if not (f(lambda v: v[1:])):\n    pass\n"
        );
        // A ternary's `if` is not a statement.
        assert!(mutated("x = a if b else c\n").is_empty());
        assert_eq!(
            mutated("def f():\n    return (a,\n            b)  # why\n"),
            ["def f():\n    return None  # why\n"]
        );
        assert!(mutated("def f():\n    return\n    return None\n").is_empty());
        assert_eq!(
            mutated("def f(): return a; g()\n"),
            ["def f(): return None; g()\n"]
        );
    }

    #[test]
    fn the_main_guard_is_left_alone_but_not_its_block() {
        assert_eq!(
            mutated("if __name__ == '__main__':\n    main(1)\n"),
            ["if __name__ == '__main__':\n    main(0)\n"]
        );
    }

    #[test]
    fn mutants_say_where_and_what() {
        let source = "def f(a):\n    return a < 2 and not a\n";
        let mutants = mutants_of("pkg/m.py", source).unwrap();
        let described: Vec<String> = mutants.iter().map(|m| m.describe(source)).collect();
        assert_eq!(
            described,
            [
                "pkg/m.py:2 return: `a < 2 and not a` -> `None`",
                "pkg/m.py:2 comparison: `<` -> `<=`",
                "pkg/m.py:2 constant: `2` -> `3`",
                "pkg/m.py:2 boolean: `and` -> `or`",
                "pkg/m.py:2 boolean: `not` removed",
            ]
        );
    }

    #[test]
    fn the_same_seed_draws_the_same_sample() {
        let a = sample_indices(100, 10, 7);
        assert_eq!(a, sample_indices(100, 10, 7));
        assert_ne!(a, sample_indices(100, 10, 8));
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&i| i < 100));
        assert_eq!(sample_indices(3, 10, 7), [0, 1, 2]);
        assert!(sample_indices(0, 10, 7).is_empty());
    }

    #[test]
    fn the_sample_seed_follows_the_run_mission_and_repeat_not_the_pairing() {
        let key = |mission: &str, pairing: &str, repeat: u32| MissionKey {
            suite: "core".to_string(),
            mission: crate::spec::MissionId::new(mission),
            pairing: pairing.to_string(),
            repeat,
        };
        let seed = sample_seed(1, &key("wordfreq", "oracle", 0));
        assert_eq!(seed, sample_seed(1, &key("wordfreq", "oracle", 0)));
        assert_eq!(seed, sample_seed(1, &key("wordfreq", "other", 0)));
        assert_ne!(seed, sample_seed(2, &key("wordfreq", "oracle", 0)));
        assert_ne!(seed, sample_seed(1, &key("wordfreq", "oracle", 1)));
        assert_ne!(seed, sample_seed(1, &key("taskstore", "oracle", 0)));
    }

    #[test]
    fn score_is_killed_over_viable() {
        let tally = MutationTally {
            killed: 3,
            survived: 1,
            not_viable: 2,
            ..MutationTally::default()
        };
        assert_eq!(tally.score(), Some(0.75));
        assert_eq!(MutationTally::default().score(), None);
    }

    #[test]
    fn a_mutated_and_restored_script_stays_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tool.py");
        std::fs::write(&path, "x = 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = SourceFile {
            relative: "tool.py".to_string(),
            path: path.clone(),
            text: "x = 1\n".to_string(),
            permissions: path.symlink_metadata().unwrap().permissions(),
        };
        file.replace_with("x = 0\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x = 0\n");
        file.replace_with(&file.text).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x = 1\n");
        let mode = path.metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no file left behind"
        );
    }

    /// Every mutant of the core suite's reference solutions still parses, by Python's own
    /// parser.
    #[test]
    fn every_mutant_of_the_core_suite_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/core");
        let scratch = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        let mut operators = std::collections::BTreeSet::new();
        for entry in WalkDir::new(&root)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            let path = entry.path();
            let in_solution = path.components().any(|c| c.as_os_str() == "solution");
            if !in_solution || path.extension().is_none_or(|e| e != "py") {
                continue;
            }
            let source = std::fs::read_to_string(path).unwrap();
            let mutants = mutants_of("m.py", &source).unwrap();
            for mutant in mutants {
                operators.insert(mutant.operator);
                let file = scratch.path().join(format!("{}.py", paths.len()));
                std::fs::write(&file, mutant.apply(&source)).unwrap();
                paths.push((
                    file,
                    format!("{}: {}", path.display(), mutant.describe(&source)),
                ));
            }
        }
        assert!(paths.len() > 500, "{} mutants", paths.len());
        assert_eq!(operators.len(), 6, "{operators:?}");
        let script = "import ast, sys\nfor p in sys.argv[1:]:\n    try:\n        ast.parse(open(p).read())\n    except SyntaxError as e:\n        print(p, e)\n";
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(paths.iter().map(|(p, _)| p))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let failures = String::from_utf8_lossy(&output.stdout);
        let described: Vec<&String> = paths
            .iter()
            .filter(|(p, _)| failures.contains(&*p.to_string_lossy()))
            .map(|(_, d)| d)
            .collect();
        assert!(failures.is_empty(), "{failures}\n{described:#?}");
    }
}
