//! API keys: held in a [`Secret`] that never prints itself, and a [`Redactor`] that removes every
//! known key from text before it is written anywhere (events, transcripts, errors, reports).
//!
//! Keys come from environment variables, which only the CLI reads; the library receives them as
//! [`Secrets`], keyed by the variable's name.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// What a key is replaced with wherever it would have appeared.
pub const REDACTED: &str = "[redacted]";

/// A key that does not show itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The key itself, for the one place that needs it: a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Keys by the name of the environment variable they came from.
pub type Secrets = BTreeMap<String, Secret>;

/// Replaces every known key in text. Cheap to clone; the default redacts nothing.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<Vec<String>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} keys)", self.secrets.len())
    }
}

impl Redactor {
    /// Keys shorter than 4 characters are ignored: replacing them would mangle ordinary text
    /// without protecting anything.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Redactor {
        let mut values: Vec<String> = secrets
            .into_iter()
            .map(|s| s.0.clone())
            .filter(|s| s.chars().count() >= 4)
            .collect();
        // Longer keys first, so a key containing another is replaced whole.
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Redactor {
            secrets: Arc::new(values),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// Redacts every string inside a JSON value (keys and values).
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(clean) = self.redact(s) {
                    *s = clean;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => {
                let dirty = map.keys().any(|k| matches!(self.redact(k), Cow::Owned(_)));
                if dirty {
                    let old = std::mem::take(map);
                    for (k, mut v) in old {
                        self.redact_json(&mut v);
                        map.insert(self.redact(&k).into_owned(), v);
                    }
                } else {
                    map.values_mut().for_each(|v| self.redact_json(v));
                }
            }
            _ => {}
        }
    }

    /// Redacts serialized bytes (a JSON line). Keys are redacted as they appear in JSON text,
    /// so a key with characters JSON escapes is matched in its escaped form too.
    pub fn redact_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        if self.is_empty() {
            return bytes;
        }
        match String::from_utf8(bytes) {
            Ok(text) => {
                let mut text = match self.redact(&text) {
                    Cow::Borrowed(_) => text,
                    Cow::Owned(clean) => clean,
                };
                for secret in self.secrets.iter() {
                    let escaped = serde_json::to_string(secret).unwrap_or_default();
                    let escaped = escaped.trim_matches('"');
                    if escaped != secret && text.contains(escaped) {
                        text = text.replace(escaped, REDACTED);
                    }
                }
                text.into_bytes()
            }
            Err(e) => e.into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_show() {
        let key = Secret::new("sk-test-1234567890");
        assert_eq!(format!("{key:?} {key}"), "[redacted] [redacted]");
        let redactor = Redactor::new([&key, &Secret::new("ab")]);
        assert_eq!(
            redactor.redact("bad key sk-test-1234567890!"),
            "bad key [redacted]!"
        );
        assert_eq!(redactor.redact("ab stays"), "ab stays");
        let mut value = serde_json::json!({"a": ["x sk-test-1234567890"], "sk-test-1234567890": 1});
        redactor.redact_json(&mut value);
        assert_eq!(
            value,
            serde_json::json!({"a": ["x [redacted]"], "[redacted]": 1})
        );
        let quoted = Redactor::new([&Secret::new("k\"ey-1")]);
        let line = serde_json::to_vec(&serde_json::json!({"m": "k\"ey-1"})).unwrap();
        assert_eq!(
            String::from_utf8(quoted.redact_bytes(line)).unwrap(),
            "{\"m\":\"[redacted]\"}"
        );
    }
}
