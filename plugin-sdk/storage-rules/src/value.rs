//! What a record may hold: keys, and values checked against their
//! entity's declaration.

use serde_json::{Map, Value};

use crate::{AttributeType, Entity, StorageError};

/// The most bytes of a record's key.
pub const MAX_KEY_BYTES: usize = 255;
/// The most records one `batchSet` or `batchDelete` writes.
pub const MAX_BATCH: usize = 1000;

/// A record's value: its attributes by name.
pub type Record = Map<String, Value>;

/// Checks a key: 1 to 255 bytes, no control characters.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::Invalid("a key must not be empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StorageError::TooLarge(format!(
            "a key holds at most {MAX_KEY_BYTES} bytes; this one has {}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(StorageError::Invalid(
            "a key must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// Checks the size of a batch of `count` records.
pub fn check_batch(count: usize) -> Result<(), StorageError> {
    if count > MAX_BATCH {
        return Err(StorageError::TooLarge(format!(
            "a batch writes at most {MAX_BATCH} records; this one has {count}"
        )));
    }
    Ok(())
}

/// The record `set(key, value)` leaves: on create (`existing` is `None`)
/// the defaults apply and the required attributes must be present; on
/// update the attributes `value` leaves out keep their values. A `null`
/// attribute removes it (and is refused for a required one).
pub fn merge(
    entity: &Entity,
    key: &str,
    existing: Option<Record>,
    value: &Value,
) -> Result<Record, StorageError> {
    check_key(key)?;
    let Value::Object(given) = value else {
        return Err(StorageError::Invalid(format!(
            "the value of `{}` record `{key}` must be an object of attributes, not {}",
            entity.name,
            kind_of(value)
        )));
    };
    let creating = existing.is_none();
    let mut record = existing.unwrap_or_default();
    for (name, value) in given {
        let Some(attribute) = entity.attribute(name) else {
            let names: Vec<&str> = entity.attributes.iter().map(|a| a.name.as_str()).collect();
            return Err(StorageError::Invalid(format!(
                "entity `{}` has no attribute `{name}` (it declares: {})",
                entity.name,
                names.join(", ")
            )));
        };
        if value.is_null() {
            if attribute.required {
                return Err(StorageError::Invalid(format!(
                    "`{}.{name}` is required and cannot be null",
                    entity.name
                )));
            }
            record.remove(name);
            continue;
        }
        check_type(entity, attribute, value)?;
        record.insert(name.clone(), normalise(attribute.kind, value));
    }
    if creating {
        for attribute in &entity.attributes {
            if record.contains_key(&attribute.name) {
                continue;
            }
            if let Some(default) = &attribute.default {
                record.insert(attribute.name.clone(), default.clone());
            } else if attribute.required {
                return Err(StorageError::Invalid(format!(
                    "`{}.{}` is required: a new record must have it",
                    entity.name, attribute.name
                )));
            }
        }
    }
    let strings: usize = entity
        .attributes
        .iter()
        .filter(|a| a.kind == AttributeType::String)
        .filter_map(|a| record.get(&a.name)?.as_str().map(str::len))
        .sum();
    if strings > crate::MAX_STRING_BYTES as usize {
        return Err(StorageError::TooLarge(format!(
            "the string attributes of `{}` record `{key}` hold {strings} bytes together; at most \
             {} are allowed",
            entity.name,
            crate::MAX_STRING_BYTES
        )));
    }
    Ok(record)
}

/// A stored record as a plugin reads it: attributes declared after it was
/// written get their defaults.
pub fn with_defaults(entity: &Entity, mut record: Record) -> Record {
    for attribute in &entity.attributes {
        if let Some(default) = &attribute.default
            && !record.contains_key(&attribute.name)
        {
            record.insert(attribute.name.clone(), default.clone());
        }
    }
    record
}

/// Checks that `value` is of `attribute`'s type and length.
pub fn check_type(
    entity: &Entity,
    attribute: &crate::Attribute,
    value: &Value,
) -> Result<(), StorageError> {
    let fits = match attribute.kind {
        AttributeType::Boolean => value.is_boolean(),
        AttributeType::Integer => {
            value.is_i64()
                || value
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
        }
        AttributeType::Float => value.is_number(),
        AttributeType::String | AttributeType::Text => value.is_string(),
    };
    if !fits {
        return Err(StorageError::Invalid(format!(
            "`{}.{}` is {} {}, not {}",
            entity.name,
            attribute.name,
            if attribute.kind == AttributeType::Integer {
                "an"
            } else {
                "a"
            },
            attribute.kind.as_str(),
            kind_of(value)
        )));
    }
    if let (Some(text), Some(limit)) = (value.as_str(), attribute.length)
        && text.len() > limit as usize
    {
        return Err(StorageError::TooLarge(format!(
            "`{}.{}` holds at most {limit} bytes; this value has {}",
            entity.name,
            attribute.name,
            text.len()
        )));
    }
    Ok(())
}

/// The stored form of a checked value: a whole float given for an
/// integer becomes an integer.
fn normalise(kind: AttributeType, value: &Value) -> Value {
    match (kind, value.as_f64()) {
        (AttributeType::Integer, Some(f)) if !value.is_i64() => Value::from(f as i64),
        _ => value.clone(),
    }
}

/// "a string", "an object", ... for messages.
pub fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => format!("the number {n}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}
