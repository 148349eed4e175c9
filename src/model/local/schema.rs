//! The JSON-schema subset tool calls are held to: compiling a tool's parameter schema, accepting
//! JSON text against it one character at a time (for constrained decoding), writing the shortest
//! text that completes a valid value (the length bound), and validating a parsed value.
//!
//! Supported keywords: `type` (one or a list), `enum`, `const`, `properties`, `required`,
//! `additionalProperties` (`false` or a schema), `items`, `minItems`, `maxItems`, `minLength`,
//! `maxLength`, and `minimum` when it is 0 or 1 (what tools use for counts and line numbers: it
//! is enforced by the first character); annotations (`description`, `title`, `default`, `examples`, `format`, `$schema`)
//! are ignored. A subschema using any other keyword (`anyOf`, `$ref`, `minimum`, `pattern`, ...)
//! accepts any JSON value, so a constraint is never stricter than the schema it stands for. A
//! subschema without `type` is an object when it has object keywords and an array when it has
//! `items`, since that is what tool schemas mean by it.
//!
//! The accepted text is compact JSON: at most one space after `:` and `,`, no other
//! whitespace, since free whitespace lets small models loop on newlines.

use std::sync::Arc;

use serde_json::Value;

const OBJECT: u8 = 1;
const STRING: u8 = 2;
const INTEGER: u8 = 4;
const NUMBER: u8 = 8;
const BOOLEAN: u8 = 16;
const ARRAY: u8 = 32;
const NULL: u8 = 64;
const ANY_TYPE: u8 = 127;

/// The node every unsupported subschema compiles to.
const ANY: usize = 0;

const KNOWN_KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "description",
    "title",
    "default",
    "examples",
    "format",
    "$schema",
];

#[derive(Debug, Clone)]
struct Node {
    types: u8,
    /// `enum` or `const`: the compact text of every allowed value.
    choices: Option<Vec<String>>,
    properties: Vec<(String, usize)>,
    required: Vec<String>,
    /// The schema of keys not in `properties`; `None` when none may be written.
    additional: Option<usize>,
    items: usize,
    min_items: usize,
    max_items: Option<usize>,
    min_length: usize,
    max_length: Option<usize>,
    /// 0 or 1: numbers may not be negative (or zero).
    minimum: Option<u8>,
}

impl Node {
    fn any() -> Node {
        Node {
            types: ANY_TYPE,
            choices: None,
            properties: Vec::new(),
            required: Vec::new(),
            additional: Some(ANY),
            items: ANY,
            min_items: 0,
            max_items: None,
            min_length: 0,
            max_length: None,
            minimum: None,
        }
    }

    fn property(&self, key: &str) -> Option<usize> {
        self.properties
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, node)| *node)
            .or(self.additional)
    }
}

/// A compiled schema; node 0 accepts anything, the root is node 1.
#[derive(Debug, Clone)]
pub struct Schema {
    nodes: Vec<Node>,
    root: usize,
}

/// Why a value does not fit its schema.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{path}` {message}")]
pub struct SchemaViolation {
    /// Where, as a JSON pointer (`/files/0/path`).
    pub path: String,
    pub message: String,
}

fn as_count(value: Option<&Value>) -> Option<usize> {
    value.and_then(Value::as_u64).map(|n| n as usize)
}

fn is_plain_key(key: &str) -> bool {
    !key.chars()
        .any(|c| c == '"' || c == '\\' || (c as u32) < 0x20)
}

impl Schema {
    /// Compiles `schema`; nothing in it can fail, unsupported parts accept any value.
    pub fn compile(schema: &Value) -> Schema {
        let mut compiled = Schema {
            nodes: vec![Node::any()],
            root: ANY,
        };
        compiled.root = compiled.add(schema);
        compiled
    }

    /// Compiles the schema of a call's arguments, which are always a JSON object.
    pub fn compile_arguments(schema: &Value) -> Schema {
        let mut compiled = Schema::compile(schema);
        if compiled.root == ANY || compiled.nodes[compiled.root].types & OBJECT == 0 {
            let mut object = Node::any();
            object.types = OBJECT;
            compiled.nodes.push(object);
            compiled.root = compiled.nodes.len() - 1;
        } else if compiled.nodes[compiled.root].choices.is_none() {
            compiled.nodes[compiled.root].types = OBJECT;
        }
        compiled
    }

    fn add(&mut self, schema: &Value) -> usize {
        let Some(map) = schema.as_object() else {
            return ANY;
        };
        if map.keys().any(|k| !KNOWN_KEYWORDS.contains(&k.as_str())) {
            return ANY;
        }
        let mut node = Node::any();
        let type_bit = |name: &str| match name {
            "object" => OBJECT,
            "string" => STRING,
            "integer" => INTEGER,
            "number" => NUMBER | INTEGER,
            "boolean" => BOOLEAN,
            "array" => ARRAY,
            "null" => NULL,
            _ => 0,
        };
        node.types = match map.get("type") {
            Some(Value::String(name)) => type_bit(name),
            Some(Value::Array(names)) => names
                .iter()
                .filter_map(Value::as_str)
                .fold(0, |bits, name| bits | type_bit(name)),
            Some(_) => 0,
            None if ["properties", "required", "additionalProperties"]
                .iter()
                .any(|k| map.contains_key(*k)) =>
            {
                OBJECT
            }
            None if map.contains_key("items") => ARRAY,
            None => ANY_TYPE,
        };
        if node.types == 0 {
            return ANY;
        }
        let compact = |value: &Value| serde_json::to_string(value).unwrap_or_default();
        node.choices = match (map.get("const"), map.get("enum")) {
            (Some(value), _) => Some(vec![compact(value)]),
            (None, Some(Value::Array(values))) if !values.is_empty() => {
                Some(values.iter().map(compact).collect())
            }
            _ => None,
        };
        if let Some(Value::Object(properties)) = map.get("properties") {
            for (name, subschema) in properties {
                if is_plain_key(name) {
                    let index = self.add(subschema);
                    node.properties.push((name.clone(), index));
                }
            }
        }
        if let Some(Value::Array(required)) = map.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !is_plain_key(name) {
                    continue;
                }
                if !node.properties.iter().any(|(n, _)| n == name) {
                    node.properties.push((name.to_string(), ANY));
                }
                node.required.push(name.to_string());
            }
        }
        node.additional = match map.get("additionalProperties") {
            Some(Value::Bool(false)) => None,
            Some(subschema) => Some(self.add(subschema)),
            None => Some(ANY),
        };
        if let Some(items) = map.get("items") {
            node.items = self.add(items);
        }
        node.min_items = as_count(map.get("minItems")).unwrap_or(0);
        node.max_items = as_count(map.get("maxItems"));
        node.min_length = as_count(map.get("minLength")).unwrap_or(0);
        node.max_length = as_count(map.get("maxLength"));
        node.minimum = match map.get("minimum").and_then(Value::as_f64) {
            None => None,
            Some(0.0) => Some(0),
            Some(m) if m == 1.0 && node.types & NUMBER == 0 => Some(1),
            // Other bounds cannot be held by the first character.
            Some(_) => return ANY,
        };
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Checks `value` against the schema, with the same subset as the acceptor.
    pub fn validate(&self, value: &Value) -> Result<(), SchemaViolation> {
        self.check(self.root, value, &mut String::new())
    }

    fn check(&self, index: usize, value: &Value, path: &mut String) -> Result<(), SchemaViolation> {
        let node = &self.nodes[index];
        let fail = |path: &str, message: String| {
            Err(SchemaViolation {
                path: if path.is_empty() {
                    "/".to_string()
                } else {
                    path.to_string()
                },
                message,
            })
        };
        if let Some(choices) = &node.choices {
            let text = serde_json::to_string(value).unwrap_or_default();
            if !choices.contains(&text) {
                return fail(path, format!("is not one of {}", choices.join(", ")));
            }
            return Ok(());
        }
        let kind = match value {
            Value::Object(_) => OBJECT,
            Value::String(_) => STRING,
            Value::Number(n) if n.is_i64() || n.is_u64() => INTEGER,
            Value::Number(_) => NUMBER,
            Value::Bool(_) => BOOLEAN,
            Value::Array(_) => ARRAY,
            Value::Null => NULL,
        };
        if node.types & kind == 0 {
            return fail(path, "has the wrong type".to_string());
        }
        match value {
            Value::String(text) => {
                let length = text.chars().count();
                if length < node.min_length || node.max_length.is_some_and(|max| length > max) {
                    return fail(path, format!("has a length of {length}, out of bounds"));
                }
            }
            Value::Number(n) => {
                let low = n
                    .as_f64()
                    .is_some_and(|n| n < f64::from(node.minimum.unwrap_or(0)));
                if node.minimum.is_some() && low {
                    return fail(path, "is below its minimum".to_string());
                }
            }
            Value::Array(items) => {
                if items.len() < node.min_items || node.max_items.is_some_and(|m| items.len() > m) {
                    return fail(path, format!("has {} items, out of bounds", items.len()));
                }
                for (at, item) in items.iter().enumerate() {
                    let length = path.len();
                    path.push_str(&format!("/{at}"));
                    self.check(node.items, item, path)?;
                    path.truncate(length);
                }
            }
            Value::Object(map) => {
                if let Some(missing) = node.required.iter().find(|k| !map.contains_key(*k)) {
                    return fail(path, format!("lacks the required key `{missing}`"));
                }
                for (key, item) in map {
                    let Some(property) = node.property(key) else {
                        return fail(path, format!("has the undeclared key `{key}`"));
                    };
                    let length = path.len();
                    path.push('/');
                    path.push_str(key);
                    self.check(property, item, path)?;
                    path.truncate(length);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The longest minimal completion of a value started anywhere in this schema: how much one
    /// character can add to what is left to write.
    pub fn largest_minimal_value(&self) -> usize {
        (0..self.nodes.len())
            .map(|index| {
                let longest_key = self.nodes[index]
                    .properties
                    .iter()
                    .map(|(name, _)| name.len())
                    .max()
                    .unwrap_or(1);
                JsonAcceptor::at(Arc::new(self.clone()), index)
                    .completion()
                    .len()
                    + longest_key
                    + 4
            })
            .max()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Escape {
    None,
    Backslash,
    Unicode(u8),
}

/// The most characters a number may have. Schemas rarely bound numbers, but the tools read
/// them into machine integers and floats: a small model left alone writes digits until its
/// budget runs out (`1000000…`), which no tool can take. Nine characters fit every integer a
/// tool reads (u32 included); seventeen characters carry an f64's precision.
fn max_number_length(integer: bool) -> usize {
    if integer {
        9
    } else {
        17
    }
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

    fn next(self, c: char, integer: bool) -> Option<Number> {
        match (self, c) {
            (Number::Minus, '0') => Some(Number::Zero),
            (Number::Minus, '1'..='9') => Some(Number::Integer),
            (Number::Zero | Number::Integer, '.') if !integer => Some(Number::Dot),
            (Number::Zero | Number::Integer | Number::Fraction, 'e' | 'E') if !integer => {
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum ObjectState {
    KeyOrEnd,
    Key,
    Colon,
    AfterValue,
}

#[derive(Debug, Clone, PartialEq)]
enum Frame {
    /// A value of this node starts here.
    Value(usize),
    Object {
        node: usize,
        state: ObjectState,
        seen: Vec<String>,
        /// The schema of the value after the key just written.
        property: usize,
    },
    Key {
        object: usize,
        text: String,
        escape: Escape,
    },
    Array {
        node: usize,
        count: usize,
        after_value: bool,
    },
    String {
        node: usize,
        length: usize,
        escape: Escape,
    },
    Number {
        state: Number,
        integer: bool,
        /// Characters written so far, sign included.
        length: usize,
    },
    Literal(&'static str),
    Choice {
        node: usize,
        text: String,
    },
}

/// An incremental acceptor of one JSON value against a [`Schema`]: cloning it is cheap (the
/// schema is shared), so a candidate token is tried on a clone.
#[derive(Debug, Clone)]
pub struct JsonAcceptor {
    schema: Arc<Schema>,
    stack: Vec<Frame>,
    done: bool,
    may_space: bool,
}

impl JsonAcceptor {
    pub fn new(schema: Arc<Schema>) -> JsonAcceptor {
        let root = schema.root;
        JsonAcceptor::at(schema, root)
    }

    fn at(schema: Arc<Schema>, node: usize) -> JsonAcceptor {
        JsonAcceptor {
            schema,
            stack: vec![Frame::Value(node)],
            done: false,
            may_space: false,
        }
    }

    /// Whether the value is complete.
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

    fn node(&self, index: usize) -> &Node {
        &self.schema.nodes[index]
    }

    fn end_value(&mut self) {
        self.stack.pop();
        if self.stack.is_empty() {
            self.done = true;
        }
    }

    fn start_value(&mut self, index: usize, c: char) -> bool {
        let node = self.node(index);
        if let Some(choices) = &node.choices {
            if !choices.iter().any(|choice| choice.starts_with(c)) {
                return false;
            }
            self.replace_top(Frame::Choice {
                node: index,
                text: c.to_string(),
            });
            return true;
        }
        let types = node.types;
        let frame = match c {
            '{' if types & OBJECT != 0 => Frame::Object {
                node: index,
                state: ObjectState::KeyOrEnd,
                seen: Vec::new(),
                property: ANY,
            },
            '[' if types & ARRAY != 0 => Frame::Array {
                node: index,
                count: 0,
                after_value: false,
            },
            '"' if types & STRING != 0 => Frame::String {
                node: index,
                length: 0,
                escape: Escape::None,
            },
            '-' | '0'..='9'
                if types & (INTEGER | NUMBER) != 0
                    && !(c == '-' && node.minimum.is_some())
                    && !(c == '0' && node.minimum == Some(1)) =>
            {
                Frame::Number {
                    state: match c {
                        '-' => Number::Minus,
                        '0' => Number::Zero,
                        _ => Number::Integer,
                    },
                    integer: types & NUMBER == 0,
                    length: 1,
                }
            }
            't' if types & BOOLEAN != 0 => Frame::Literal("rue"),
            'f' if types & BOOLEAN != 0 => Frame::Literal("alse"),
            'n' if types & NULL != 0 => Frame::Literal("ull"),
            _ => return false,
        };
        self.replace_top(frame);
        true
    }

    fn replace_top(&mut self, frame: Frame) {
        if let Some(top) = self.stack.last_mut() {
            *top = frame;
        }
    }

    fn feed_char(&mut self, c: char) -> bool {
        if self.done {
            return false;
        }
        let may_space = std::mem::take(&mut self.may_space);
        // The schema is shared; holding a second handle lets the stack change while it is read.
        let schema = Arc::clone(&self.schema);
        let nodes = &schema.nodes;
        let Some(top) = self.stack.last_mut() else {
            return false;
        };
        if c == ' '
            && may_space
            && matches!(
                top,
                Frame::Value(_)
                    | Frame::Object {
                        state: ObjectState::Key,
                        ..
                    }
            )
        {
            return true;
        }
        match top {
            Frame::Value(index) => {
                let index = *index;
                self.start_value(index, c)
            }
            Frame::Object {
                node,
                state,
                seen,
                property,
            } => {
                let object = &nodes[*node];
                match (*state, c) {
                    (ObjectState::KeyOrEnd | ObjectState::Key, '"') => {
                        let object = *node;
                        self.stack.push(Frame::Key {
                            object,
                            text: String::new(),
                            escape: Escape::None,
                        });
                        true
                    }
                    (ObjectState::Colon, ':') => {
                        *state = ObjectState::AfterValue;
                        let property = *property;
                        self.stack.push(Frame::Value(property));
                        self.may_space = true;
                        true
                    }
                    (ObjectState::AfterValue, ',') if more_keys(object, seen) => {
                        *state = ObjectState::Key;
                        self.may_space = true;
                        true
                    }
                    (ObjectState::KeyOrEnd | ObjectState::AfterValue, '}')
                        if object_complete(object, seen) =>
                    {
                        self.end_value();
                        true
                    }
                    _ => false,
                }
            }
            Frame::Key {
                object,
                text,
                escape,
            } => {
                let object = &nodes[*object];
                let (mut text, escape) = (std::mem::take(text), *escape);
                let depth = self.stack.len();
                let Some(Frame::Object {
                    state,
                    seen,
                    property: slot,
                    ..
                }) = self.stack.get_mut(depth.wrapping_sub(2))
                else {
                    return false;
                };
                if escape == Escape::None && c == '"' {
                    if !key_accepts(object, seen, &text, c) {
                        return false;
                    }
                    let Some(property) = object.property(&text) else {
                        return false;
                    };
                    *state = ObjectState::Colon;
                    *slot = property;
                    seen.push(text);
                    self.stack.pop();
                    return true;
                }
                let escape = if object.additional.is_none() {
                    if !key_accepts(object, seen, &text, c) {
                        return false;
                    }
                    Escape::None
                } else {
                    match string_char(escape, c) {
                        Some(next) => next,
                        None => return false,
                    }
                };
                text.push(c);
                if let Some(Frame::Key {
                    text: slot,
                    escape: escape_slot,
                    ..
                }) = self.stack.last_mut()
                {
                    *slot = text;
                    *escape_slot = escape;
                }
                true
            }
            Frame::Array {
                node,
                count,
                after_value,
            } => {
                let array = &nodes[*node];
                let starts_item = match (*after_value, c) {
                    (_, ']') => {
                        if *count < array.min_items {
                            return false;
                        }
                        self.end_value();
                        return true;
                    }
                    (true, ',') => false,
                    (false, _) => true,
                    (true, _) => return false,
                };
                if array.max_items.is_some_and(|max| *count >= max) {
                    return false;
                }
                *count += 1;
                *after_value = true;
                self.stack.push(Frame::Value(array.items));
                if starts_item {
                    self.feed_char(c)
                } else {
                    self.may_space = true;
                    true
                }
            }
            Frame::String {
                node,
                length,
                escape,
            } => {
                let string = &nodes[*node];
                if *escape == Escape::None && c == '"' {
                    if *length < string.min_length {
                        return false;
                    }
                    self.end_value();
                    return true;
                }
                // An escape counts as its one character, from its backslash.
                if *escape == Escape::None && string.max_length.is_some_and(|max| *length >= max) {
                    return false;
                }
                let Some(next) = string_char(*escape, c) else {
                    return false;
                };
                if *escape == Escape::None {
                    *length += 1;
                }
                *escape = next;
                true
            }
            Frame::Number {
                state,
                integer,
                length,
            } => match state
                .next(c, *integer)
                .filter(|_| *length < max_number_length(*integer))
            {
                Some(next) => {
                    *state = next;
                    *length += 1;
                    true
                }
                None if state.complete() => {
                    self.end_value();
                    self.feed_char(c)
                }
                None => false,
            },
            Frame::Literal(rest) => {
                let mut chars = rest.chars();
                if chars.next() != Some(c) {
                    return false;
                }
                let rest = chars.as_str();
                if rest.is_empty() {
                    self.end_value();
                } else {
                    self.replace_top(Frame::Literal(rest));
                }
                true
            }
            Frame::Choice { node, text } => {
                let choices = nodes[*node].choices.as_deref().unwrap_or_default();
                text.push(c);
                if choices
                    .iter()
                    .any(|choice| choice.starts_with(text.as_str()))
                {
                    return true;
                }
                text.pop();
                if choices.contains(text) {
                    self.end_value();
                    self.feed_char(c)
                } else {
                    false
                }
            }
        }
    }

    /// The first character of the shortest value of `index`.
    fn value_start(&self, index: usize) -> char {
        let node = self.node(index);
        if let Some(choices) = &node.choices {
            return choices
                .iter()
                .min_by_key(|c| c.len())
                .and_then(|c| c.chars().next())
                .unwrap_or('0');
        }
        let digit = if node.minimum == Some(1) { '1' } else { '0' };
        [
            (INTEGER | NUMBER, digit),
            (STRING, '"'),
            (ARRAY, '['),
            (OBJECT, '{'),
            (NULL, 'n'),
            (BOOLEAN, 'f'),
        ]
        .iter()
        .find(|(bits, _)| node.types & bits != 0)
        .map_or('0', |(_, c)| *c)
    }

    /// The next character of the shortest way to complete the value; `None` once it is done.
    fn minimal_char(&self) -> Option<char> {
        let after_end = || {
            let mut ended = self.clone();
            ended.end_value();
            ended.minimal_char()
        };
        Some(match self.stack.last()? {
            Frame::Value(index) => self.value_start(*index),
            Frame::Object {
                node, state, seen, ..
            } => {
                let missing = !object_complete(self.node(*node), seen);
                match state {
                    ObjectState::KeyOrEnd if missing => '"',
                    ObjectState::KeyOrEnd => '}',
                    ObjectState::Key => '"',
                    ObjectState::Colon => ':',
                    ObjectState::AfterValue if missing => ',',
                    ObjectState::AfterValue => '}',
                }
            }
            Frame::Key {
                object,
                text,
                escape,
            } => {
                match escape {
                    Escape::Backslash => return Some('n'),
                    Escape::Unicode(_) => return Some('0'),
                    Escape::None => {}
                }
                let seen: &[String] = match self.stack.iter().rev().nth(1) {
                    Some(Frame::Object { seen, .. }) => seen,
                    _ => &[],
                };
                let node = self.node(*object);
                let unseen_with_prefix =
                    |name: &&String| !seen.contains(name) && name.starts_with(text.as_str());
                let target = node.required.iter().find(unseen_with_prefix).or_else(|| {
                    node.properties
                        .iter()
                        .map(|(n, _)| n)
                        .find(unseen_with_prefix)
                });
                match target {
                    Some(name) if name.len() > text.len() => {
                        name[text.len()..].chars().next().unwrap_or('"')
                    }
                    Some(_) => '"',
                    None if seen.contains(text) => 'x',
                    None => '"',
                }
            }
            Frame::Array {
                node,
                count,
                after_value,
            } => {
                let node = self.node(*node);
                match (*count < node.min_items, after_value) {
                    (true, true) => ',',
                    (true, false) => self.value_start(node.items),
                    (false, _) => ']',
                }
            }
            Frame::String {
                node,
                length,
                escape,
            } => match escape {
                Escape::Backslash => 'n',
                Escape::Unicode(_) => '0',
                Escape::None if *length < self.node(*node).min_length => 'a',
                Escape::None => '"',
            },
            Frame::Number { state, .. } if state.complete() => return after_end(),
            Frame::Number { .. } => '0',
            Frame::Literal(rest) => rest.chars().next()?,
            Frame::Choice { node, text } => {
                let choices = self.node(*node).choices.as_deref().unwrap_or_default();
                if choices.contains(text) {
                    return after_end();
                }
                choices
                    .iter()
                    .filter(|choice| choice.starts_with(text.as_str()))
                    .min_by_key(|choice| choice.len())
                    .and_then(|choice| choice[text.len()..].chars().next())?
            }
        })
    }

    /// The shortest text that completes the value from here, valid against the schema: the
    /// open string closed, missing required keys added with minimal values (`""`, `0`,
    /// `false`, `[]`, an enum's shortest value, objects with their required keys), containers
    /// closed.
    pub fn completion(&self) -> String {
        // Bounded: every step moves toward the end of a finite schema; the cap only guards
        // against a bug turning into a hang.
        const CAP: usize = 1 << 16;
        let mut acceptor = self.clone();
        let mut text = String::new();
        while !acceptor.done && text.len() < CAP {
            let Some(c) = acceptor.minimal_char() else {
                break;
            };
            if !acceptor.feed_char(c) {
                break;
            }
            text.push(c);
        }
        text
    }
}

/// The escape state after `c` inside a JSON string; `None` when `c` cannot be there.
fn string_char(escape: Escape, c: char) -> Option<Escape> {
    match (escape, c) {
        (Escape::None, '\\') => Some(Escape::Backslash),
        (Escape::None, c) if (c as u32) < 0x20 => None,
        (Escape::None, _) => Some(Escape::None),
        (Escape::Backslash, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't') => Some(Escape::None),
        (Escape::Backslash, 'u') => Some(Escape::Unicode(4)),
        (Escape::Unicode(n), c) if c.is_ascii_hexdigit() => Some(if n == 1 {
            Escape::None
        } else {
            Escape::Unicode(n - 1)
        }),
        _ => None,
    }
}

/// Whether an object may end: every required key is written.
fn object_complete(node: &Node, seen: &[String]) -> bool {
    node.required.iter().all(|k| seen.contains(k))
}

/// Whether another key may follow in an object.
fn more_keys(node: &Node, seen: &[String]) -> bool {
    node.additional.is_some() || node.properties.iter().any(|(k, _)| !seen.contains(k))
}

/// Whether the key `text` can be continued with `c` (or closed, when `c` is `"`).
fn key_accepts(node: &Node, seen: &[String], text: &str, c: char) -> bool {
    if node.additional.is_some() {
        return c != '"' || !seen.iter().any(|k| k == text);
    }
    node.properties.iter().any(|(name, _)| {
        !seen.contains(name)
            && if c == '"' {
                name == text
            } else {
                name.strip_prefix(text).is_some_and(|r| r.starts_with(c))
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn acceptor(schema: &Value) -> JsonAcceptor {
        JsonAcceptor::new(Arc::new(Schema::compile(schema)))
    }

    fn whole(schema: &Value, text: &str) -> bool {
        let mut json = acceptor(schema);
        json.feed(text) && json.is_done()
    }

    /// Every text the acceptor takes whole parses and validates, so the two agree.
    fn assert_accepted(schema: &Value, text: &str) {
        assert!(whole(schema, text), "rejected {text}");
        let value: Value = serde_json::from_str(text).unwrap();
        Schema::compile(schema).validate(&value).unwrap();
    }

    fn edit_schema() -> Value {
        json!({"type": "object", "properties": {
            "path": {"type": "string", "minLength": 1},
            "mode": {"type": "string", "enum": ["replace", "append"]},
            "count": {"type": "integer", "minimum": 1},
            "dry_run": {"type": "boolean"},
            "note": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
            "edits": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                "required": ["old", "new"],
                "additionalProperties": false
            }},
            "level": {"const": 3},
            "extra": {"anyOf": [{"type": "string"}, {"type": "integer"}]}
        }, "required": ["path", "edits"], "additionalProperties": false})
    }

    #[test]
    fn valid_arguments_are_accepted_in_any_key_order() {
        let schema = edit_schema();
        for text in [
            r#"{"path": "a.py", "edits": [{"old": "x", "new": "y"}]}"#,
            r#"{"edits":[{"new":"\\W+","old":"\"q\"\n\u00e9"}],"path":"é"}"#,
            r#"{"path": "a", "mode": "append", "count": 999999999, "dry_run": false, "note": null, "tags": ["a", "b"], "edits": [{"old": "", "new": ""}], "level": 3}"#,
            r#"{"path": "a", "note": "n", "extra": {"any": [1.5e3, null, true]}, "edits": [{"old": "", "new": ""}]}"#,
        ] {
            assert_accepted(&schema, text);
        }
    }

    #[test]
    fn invalid_arguments_are_rejected_at_the_first_wrong_character() {
        let schema = edit_schema();
        for (text, why) in [
            (r#"{"path": "a", "path""#, "a key twice"),
            (r#"{"paths"#, "an undeclared key"),
            (r#"{"path": "a"}"#, "a missing required key"),
            (r#"{"path": """#, "shorter than minLength"),
            (r#"{"mode": "rep""#, "not an enum value"),
            (r#"{"count": 0"#, "below the minimum"),
            (r#"{"count": -"#, "below the minimum"),
            (r#"{"count": 1."#, "a fraction for an integer"),
            (r#"{"count": 1000000000"#, "an integer no tool can read"),
            (
                r#"{"extra": 1234567890123456789"#,
                "an integer past nine characters",
            ),
            (r#"{"dry_run": ""#, "a string for a boolean"),
            (r#"{"note": 1"#, "a number for a string or null"),
            (r#"{"tags": ["a", "b", "#, "more than maxItems"),
            (r#"{"edits": []"#, "fewer than minItems"),
            (r#"{"edits": [{"old": "x", "x"#, "an undeclared nested key"),
            (r#"{"path": "\W"#, "an invalid escape"),
            ("{\"path\": \"a\nb", "a raw newline in a string"),
            (r#"{"path":  "#, "two spaces"),
            ("{\n", "a newline"),
            (r#"{"level": 4"#, "not the const"),
        ] {
            assert!(!acceptor(&schema).feed(text), "{why}: {text}");
        }
    }

    #[test]
    fn a_completion_from_anywhere_is_valid() {
        let schema = edit_schema();
        let full = r#"{"mode": "append", "tags": ["a\u00e9\\"], "count": 12, "path": "a.py", "edits": [{"new": "y", "old": "x"}], "note": null}"#;
        let compiled = Arc::new(Schema::compile(&schema));
        let mut json = JsonAcceptor::new(compiled.clone());
        for (at, c) in full.char_indices() {
            let completion = json.completion();
            let text = format!("{}{completion}", &full[..at]);
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            compiled
                .validate(&value)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(json.clone().feed(&completion), "{text}");
            assert!(json.feed_char(c));
        }
        assert!(json.is_done());
        assert_eq!(
            JsonAcceptor::new(compiled).completion(),
            r#"{"path":"a","edits":[{"old":"","new":""}]}"#
        );
    }

    #[test]
    fn unsupported_keywords_accept_any_value_and_type_lists_combine() {
        let schema = json!({"type": "object", "properties": {
            "pattern": {"type": "string", "pattern": "^a"},
            "either": {"type": ["integer", "boolean"]}
        }, "additionalProperties": false});
        assert_accepted(&schema, r#"{"pattern": [1, {"b": "c"}], "either": true}"#);
        assert_accepted(&schema, r#"{"either": -5}"#);
        assert!(!whole(&schema, r#"{"either": "5"}"#));
        // The validator agrees on what the acceptor rejects.
        let compiled = Schema::compile(&schema);
        let violation = compiled.validate(&json!({"either": "5"})).unwrap_err();
        assert_eq!(violation.path, "/either");
        assert!(compiled.validate(&json!({"other": 1})).is_err());
    }

    #[test]
    fn arguments_are_always_an_object() {
        let schema = Arc::new(Schema::compile_arguments(&json!({"anyOf": []})));
        assert!(!JsonAcceptor::new(schema.clone()).feed("["));
        let mut json = JsonAcceptor::new(schema);
        assert!(json.feed(r#"{"free": [1]}"#) && json.is_done());
    }
}
