//! A tool's JSON schema, derived from its argument type (`schemars`) and brought to the subset
//! every backend and the local constrained decoder understand: no `$schema`, titles, formats or
//! defaults, `Option<T>` as an optional `T`, sub-schemas inline, enums of strings as `enum`,
//! descriptions only from fields' doc comments, and keys in one fixed order (so the schema a model sees does not change with the library's
//! version).

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// Keys first, in this order; other keys follow in the order they came.
const KEY_ORDER: [&str; 8] = [
    "type",
    "enum",
    "items",
    "minimum",
    "properties",
    "required",
    "additionalProperties",
    "description",
];

/// Keys no tool schema carries.
const DROPPED: [&str; 5] = ["$schema", "title", "format", "default", "$defs"];

/// The JSON schema of `T` as a tool's `parameters`.
pub fn parameters<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        // The type's own doc comment is for readers of the code; the tool has its description.
        map.remove("description");
    }
    normalize(value)
}

fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => normalize_object(map),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

fn normalize_object(mut map: Map<String, Value>) -> Value {
    let unsigned = map
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.starts_with("uint"));
    if unsigned && map.get("minimum").and_then(Value::as_u64) == Some(0) {
        // An unsigned type's implied bound; explicit bounds (`range(min = 1)`) stay.
        map.remove("minimum");
    }
    for key in DROPPED {
        map.remove(key);
    }
    if let Some(Value::Array(types)) = map.get("type") {
        // `Option<T>`: the tool schema offers `T`; leaving the key out is how to say none.
        let named: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if let [only] = named.as_slice() {
            map.insert("type".to_string(), only.clone());
        }
    }
    if let Some(values) = map.get("oneOf").and_then(string_constants) {
        // A unit enum whose variants have doc comments comes as `oneOf` of constants.
        map.remove("oneOf");
        map.insert("type".to_string(), Value::String("string".to_string()));
        map.insert("enum".to_string(), Value::Array(values));
    }
    if map.contains_key("properties") || map.contains_key("enum") {
        // Descriptions come from fields' doc comments: an object's or an enum's own doc
        // comment is for readers of the code.
        map.remove("description");
    }
    let mut ordered = Map::new();
    for key in KEY_ORDER {
        if let Some(value) = map.remove(key) {
            ordered.insert(key.to_string(), normalize_child(key, value));
        }
    }
    for (key, value) in map {
        let value = normalize_child(&key, value);
        ordered.insert(key, value);
    }
    Value::Object(ordered)
}

/// `properties` maps names to schemas; everything else is a schema or a list of values.
fn normalize_child(key: &str, value: Value) -> Value {
    match (key, value) {
        ("properties", Value::Object(properties)) => Value::Object(
            properties
                .into_iter()
                .map(|(name, schema)| (name, normalize(schema)))
                .collect(),
        ),
        ("enum" | "required", value) => value,
        (_, value) => normalize(value),
    }
}

/// The strings of a `oneOf` whose members are each string constants (`const` or `enum`), if it
/// is one.
fn string_constants(one_of: &Value) -> Option<Vec<Value>> {
    let mut values = Vec::new();
    for member in one_of.as_array()? {
        match (member.get("const"), member.get("enum")) {
            (Some(constant), None) if constant.is_string() => values.push(constant.clone()),
            (None, Some(Value::Array(listed))) if listed.iter().all(Value::is_string) => {
                values.extend(listed.iter().cloned());
            }
            _ => return None,
        }
    }
    Some(values)
}
