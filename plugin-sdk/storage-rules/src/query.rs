//! Queries: which records, in which order, one page at a time.
//!
//! A query without an index lists an entity's records by key. A query on
//! an index fixes the values of the index's partition attributes, may put
//! a condition on its range attribute, and lists the matching records by
//! that attribute, then by key; records without the range attribute are
//! not in the index. A page holds at most [`MAX_LIMIT`] records; its
//! `end_cursor` continues after its last one.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::value::{Record, kind_of};
use crate::{Attribute, AttributeType, Entity, StorageError};

/// The most records one page holds; a larger limit is lowered to it.
pub const MAX_LIMIT: u32 = 200;
/// The records of a page when the query sets no limit.
pub const DEFAULT_LIMIT: u32 = 20;
/// The most bytes of a cursor.
pub const MAX_CURSOR_BYTES: usize = 8192;

/// A query as a plugin builds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    /// The index to use; none lists records by key.
    #[serde(default)]
    pub index: Option<String>,
    /// The values of the index's partition attributes, in its order.
    #[serde(default)]
    pub partition: Vec<Value>,
    /// A condition on the index's range attribute.
    #[serde(default)]
    pub condition: Option<Condition>,
    /// Largest first.
    #[serde(default)]
    pub descending: bool,
    /// The most records of the page (capped at [`MAX_LIMIT`]).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Where the previous page ended.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A condition on an index's range attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "op", content = "values")]
pub enum Condition {
    /// Equal to.
    Equal(Value),
    /// Less than.
    LessThan(Value),
    /// Less than or equal to.
    LessOrEqual(Value),
    /// Greater than.
    GreaterThan(Value),
    /// Greater than or equal to.
    GreaterOrEqual(Value),
    /// Between the two values, both included.
    Between(Value, Value),
    /// A string starting with.
    BeginsWith(String),
}

impl Condition {
    /// The values it compares with.
    pub fn values(&self) -> Vec<&Value> {
        match self {
            Condition::Equal(v)
            | Condition::LessThan(v)
            | Condition::LessOrEqual(v)
            | Condition::GreaterThan(v)
            | Condition::GreaterOrEqual(v) => vec![v],
            Condition::Between(a, b) => vec![a, b],
            Condition::BeginsWith(_) => Vec::new(),
        }
    }

    /// Whether `value` meets it, for an attribute of type `kind`.
    pub fn holds(&self, kind: AttributeType, value: &Value) -> bool {
        let cmp = |other: &Value| compare(kind, value, other);
        match self {
            Condition::Equal(v) => cmp(v) == Ordering::Equal,
            Condition::LessThan(v) => cmp(v) == Ordering::Less,
            Condition::LessOrEqual(v) => cmp(v) != Ordering::Greater,
            Condition::GreaterThan(v) => cmp(v) == Ordering::Greater,
            Condition::GreaterOrEqual(v) => cmp(v) != Ordering::Less,
            Condition::Between(a, b) => cmp(a) != Ordering::Less && cmp(b) != Ordering::Greater,
            Condition::BeginsWith(prefix) => value
                .as_str()
                .is_some_and(|s| s.starts_with(prefix.as_str())),
        }
    }
}

/// One page of a query's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The records, in the query's order.
    pub data: Vec<(String, Record)>,
    /// Whether records follow this page.
    pub has_more: bool,
    /// Give it to `cursor` for the next page; set when `has_more`.
    pub end_cursor: Option<String>,
}

/// A checked query, ready to run.
#[derive(Debug, Clone)]
pub struct Plan<'e> {
    /// The entity.
    pub entity: &'e Entity,
    /// The index's name, when one is used.
    pub index: Option<&'e str>,
    /// The partition attributes with their values.
    pub partition: Vec<(&'e Attribute, Value)>,
    /// The range attribute, when an index is used.
    pub range: Option<&'e Attribute>,
    /// The condition on it.
    pub condition: Option<Condition>,
    /// Largest first.
    pub descending: bool,
    /// The most records of the page.
    pub limit: usize,
    /// Where the previous page ended.
    pub after: Option<Position>,
}

/// A place in a query's order: the range attribute's value (with an
/// index) and the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The range attribute's value.
    #[serde(rename = "v", default)]
    pub value: Option<Value>,
    /// The key.
    #[serde(rename = "k")]
    pub key: String,
}

#[derive(Serialize, Deserialize)]
struct CursorText {
    #[serde(rename = "i", default)]
    index: Option<String>,
    #[serde(rename = "d", default)]
    descending: bool,
    #[serde(flatten)]
    at: Position,
}

/// Checks `query` against `entity`'s declaration.
pub fn plan<'e>(entity: &'e Entity, query: &Query) -> Result<Plan<'e>, StorageError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
    let mut plan = Plan {
        entity,
        index: None,
        partition: Vec::new(),
        range: None,
        condition: None,
        descending: query.descending,
        limit,
        after: None,
    };
    match &query.index {
        None => {
            if !query.partition.is_empty() || query.condition.is_some() {
                return Err(StorageError::Invalid(format!(
                    "a query of `{}` with partition values or a condition must name an index",
                    entity.name
                )));
            }
        }
        Some(name) => {
            let Some(index) = entity.index(name) else {
                let names: Vec<&str> = entity.indexes.iter().map(|i| i.name.as_str()).collect();
                return Err(StorageError::Undeclared(format!(
                    "entity `{}` has no index `{name}` ({})",
                    entity.name,
                    if names.is_empty() {
                        "it declares none".to_string()
                    } else {
                        format!("it declares: {}", names.join(", "))
                    }
                )));
            };
            if query.partition.len() != index.partition.len() {
                return Err(StorageError::Invalid(format!(
                    "index `{name}` of `{}` is partitioned by [{}]: a query gives {} partition \
                     value{}, not {}",
                    entity.name,
                    index.partition.join(", "),
                    index.partition.len(),
                    if index.partition.len() == 1 { "" } else { "s" },
                    query.partition.len()
                )));
            }
            for (attr, value) in index.partition.iter().zip(&query.partition) {
                let attribute = declared(entity, attr)?;
                check_comparable(entity, attribute, value)?;
                plan.partition.push((attribute, value.clone()));
            }
            let range = declared(entity, &index.range_attribute)?;
            if let Some(condition) = &query.condition {
                for value in condition.values() {
                    check_comparable(entity, range, value)?;
                }
                if matches!(condition, Condition::BeginsWith(_))
                    && range.kind != AttributeType::String
                {
                    return Err(StorageError::Invalid(format!(
                        "`beginsWith` applies to string attributes; `{}.{}` is {}",
                        entity.name,
                        range.name,
                        range.kind.as_str()
                    )));
                }
            }
            plan.index = Some(index.name.as_str());
            plan.range = Some(range);
            plan.condition = query.condition.clone();
        }
    }
    if let Some(cursor) = &query.cursor
        && !cursor.is_empty()
    {
        plan.after = Some(read_cursor(&plan, cursor)?);
    }
    Ok(plan)
}

impl Plan<'_> {
    /// The page of `rows` (the selected records in the plan's order, as
    /// many as were found up to one more than the limit): at most `limit`
    /// of them, declared defaults filled in, and the cursor after the last
    /// when more follow.
    pub fn page(&self, mut rows: Vec<(String, Record)>) -> Page {
        let has_more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let end_cursor = match (has_more, rows.last()) {
            (true, Some((key, record))) => Some(self.cursor_after(key, record)),
            _ => None,
        };
        Page {
            data: rows
                .into_iter()
                .map(|(key, record)| (key, crate::value::with_defaults(self.entity, record)))
                .collect(),
            has_more,
            end_cursor,
        }
    }

    /// The cursor that continues after the record `key` holding `record`.
    pub fn cursor_after(&self, key: &str, record: &Record) -> String {
        let value = self.range.and_then(|r| record.get(&r.name).cloned());
        let text = CursorText {
            index: self.index.map(str::to_string),
            descending: self.descending,
            at: Position {
                value,
                key: key.to_string(),
            },
        };
        let json = serde_json::to_vec(&text).unwrap_or_default();
        let mut out = String::with_capacity(json.len() * 2);
        for byte in json {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    /// Whether the record `key` holding `record` is in the answer (the
    /// partition, the condition and the cursor), for an in-memory store.
    pub fn selects(&self, key: &str, record: &Record) -> bool {
        for (attribute, value) in &self.partition {
            match record.get(&attribute.name) {
                Some(v) if compare(attribute.kind, v, value) == Ordering::Equal => {}
                _ => return false,
            }
        }
        if let Some(range) = self.range {
            let Some(value) = record.get(&range.name) else {
                return false;
            };
            if let Some(condition) = &self.condition
                && !condition.holds(range.kind, value)
            {
                return false;
            }
        }
        match &self.after {
            None => true,
            Some(after) => self.order(key, record, after) == Ordering::Greater,
        }
    }

    /// Where the record stands against `at` in this query's order
    /// (`Greater`: after it).
    pub fn order(&self, key: &str, record: &Record, at: &Position) -> Ordering {
        let by_value = match (self.range, &at.value) {
            (Some(range), Some(value)) => record
                .get(&range.name)
                .map_or(Ordering::Less, |v| compare(range.kind, v, value)),
            _ => Ordering::Equal,
        };
        let ordering = by_value.then_with(|| key.as_bytes().cmp(at.key.as_bytes()));
        if self.descending {
            ordering.reverse()
        } else {
            ordering
        }
    }
}

fn declared<'e>(entity: &'e Entity, name: &str) -> Result<&'e Attribute, StorageError> {
    entity.attribute(name).ok_or_else(|| {
        StorageError::Undeclared(format!(
            "entity `{}` has no attribute `{name}`",
            entity.name
        ))
    })
}

/// Checks that `value` can be compared with `attribute`'s values.
fn check_comparable(
    entity: &Entity,
    attribute: &Attribute,
    value: &Value,
) -> Result<(), StorageError> {
    let fits = match attribute.kind {
        AttributeType::Boolean => value.is_boolean(),
        AttributeType::Integer | AttributeType::Float => value.is_number(),
        AttributeType::String | AttributeType::Text => value.is_string(),
    };
    if fits {
        Ok(())
    } else {
        Err(StorageError::Invalid(format!(
            "`{}.{}` is {}: it cannot be compared with {}",
            entity.name,
            attribute.name,
            attribute.kind.as_str(),
            kind_of(value)
        )))
    }
}

fn read_cursor(plan: &Plan<'_>, cursor: &str) -> Result<Position, StorageError> {
    let foreign = || {
        StorageError::Invalid(format!(
            "the cursor does not belong to this query of `{}` (give the `end_cursor` of the \
             previous page of the same query)",
            plan.entity.name
        ))
    };
    if cursor.len() > MAX_CURSOR_BYTES {
        return Err(StorageError::TooLarge(format!(
            "a cursor holds at most {MAX_CURSOR_BYTES} bytes"
        )));
    }
    if !cursor.len().is_multiple_of(2) {
        return Err(foreign());
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect();
    let text: CursorText = bytes
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(foreign)?;
    if text.index.as_deref() != plan.index || text.descending != plan.descending {
        return Err(foreign());
    }
    match (plan.range, &text.at.value) {
        (None, None) => {}
        (Some(range), Some(value)) if check_comparable(plan.entity, range, value).is_ok() => {}
        _ => return Err(foreign()),
    }
    Ok(text.at)
}

/// How two values of an attribute of type `kind` order: numbers by value,
/// strings by their UTF-8 bytes, `false` before `true`.
pub fn compare(kind: AttributeType, a: &Value, b: &Value) -> Ordering {
    match kind {
        AttributeType::Integer | AttributeType::Float => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => {
                let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                x.partial_cmp(&y).unwrap_or(Ordering::Equal)
            }
        },
        AttributeType::Boolean => a.as_bool().cmp(&b.as_bool()),
        AttributeType::String | AttributeType::Text => a
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .cmp(b.as_str().unwrap_or_default().as_bytes()),
    }
}
