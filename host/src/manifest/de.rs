//! A serde `Deserializer` over [`Node`]s that keeps going after an error.
//!
//! serde stops at the first error; a manifest author wants all of them. So:
//! * keys a struct does not know are recorded (with a "did you mean") and
//!   skipped instead of failing it;
//! * a value wrapped by [`recover`] or [`recover_list`] that fails is recorded
//!   and replaced (by its default, or dropped from the list), so that the rest
//!   of the file is still read;
//! * [`Located`] gives a value its position and path for the second pass.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::{Deserialize, Serialize};

use super::suggest::did_you_mean;
use super::yaml::{Kind, Node, Pos};
use super::{Diagnostic, Notice, NoticeKind};

/// A value together with where it was written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where the value starts.
    #[serde(skip)]
    pub pos: Pos,
    /// Its path in the document, e.g. `apis[2].url`.
    #[serde(skip)]
    pub path: String,
}

impl<T> Located<T> {
    /// A value with a position, for manifests built in code.
    pub fn new(value: T, pos: Pos, path: impl Into<String>) -> Self {
        Located {
            value,
            pos,
            path: path.into(),
        }
    }
}

/// In the JSON Schema a located value is just its value.
impl<T: schemars::JsonSchema> schemars::JsonSchema for Located<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

impl<T> std::ops::Deref for Located<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

const LOCATED: &str = "$op::Located";
const LOCATED_FIELDS: &[&str] = &["line", "column", "path", "value"];
const RECOVER: &str = "$op::Recover";
/// The message of an error that was already recorded; [`recover`] turns it
/// into a default value.
const RECORDED: &str = "$op::recorded";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LocatedVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for LocatedVisitor<T> {
            type Value = Located<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a located value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pos = Pos::default();
                let mut path = String::new();
                let mut value = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "line" => pos.line = map.next_value()?,
                        "column" => pos.column = map.next_value()?,
                        "path" => path = map.next_value()?,
                        _ => value = Some(map.next_value()?),
                    }
                }
                let value = value.ok_or_else(|| de::Error::missing_field("value"))?;
                Ok(Located { value, pos, path })
            }
        }
        deserializer.deserialize_struct(LOCATED, LOCATED_FIELDS, LocatedVisitor(PhantomData))
    }
}

/// `deserialize_with` helper: a value that fails is recorded and replaced by
/// its default.
pub fn recover<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Recover::<T>::deserialize(deserializer)?
        .0
        .unwrap_or_default())
}

/// `deserialize_with` helper: list items that fail are recorded and dropped.
pub fn recover_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let items = Vec::<Recover<T>>::deserialize(deserializer)?;
    Ok(items.into_iter().filter_map(|item| item.0).collect())
}

struct Recover<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Recover<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RecoverVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for RecoverVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
                T::deserialize(d)
            }
        }
        match deserializer.deserialize_newtype_struct(RECOVER, RecoverVisitor(PhantomData)) {
            Ok(value) => Ok(Recover(Some(value))),
            Err(err) if err.to_string() == RECORDED => Ok(Recover(None)),
            Err(err) => Err(err),
        }
    }
}

/// What an unknown key of a typed section is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownKeys {
    /// Always an error (files op owns: serve.yaml, local.yaml).
    #[default]
    Refuse,
    /// An error when it is close to a known key (a likely typo, with "did
    /// you mean"), a warning otherwise (plugin.yaml, whose format ONES owns
    /// and keeps extending).
    WarnUnlessClose,
}

/// Collects the errors and notices of one document.
#[derive(Default)]
pub struct Sink {
    unknown_keys: UnknownKeys,
    diagnostics: RefCell<Vec<Diagnostic>>,
    notices: RefCell<Vec<Notice>>,
}

impl Sink {
    /// A sink that treats unknown keys as `unknown_keys` says.
    pub fn new(unknown_keys: UnknownKeys) -> Self {
        Sink {
            unknown_keys,
            ..Sink::default()
        }
    }

    fn push(&self, diagnostic: Diagnostic) {
        self.diagnostics.borrow_mut().push(diagnostic);
    }

    fn notice(&self, notice: Notice) {
        self.notices.borrow_mut().push(notice);
    }

    /// The errors and the notices recorded so far.
    pub fn finish(self) -> (Vec<Diagnostic>, Vec<Notice>) {
        (self.diagnostics.into_inner(), self.notices.into_inner())
    }
}

/// An error while reading one value; located by the innermost node.
#[derive(Debug)]
pub struct Error {
    message: String,
    at: Option<(Pos, String)>,
}

impl Error {
    fn recorded() -> Self {
        Error {
            message: RECORDED.to_string(),
            at: None,
        }
    }

    fn at(mut self, node: &Node, path: &str) -> Self {
        if self.at.is_none() {
            self.at = Some((node.pos, path.to_string()));
        }
        self
    }

    /// Converts into a diagnostic (at `fallback` if no node claimed it).
    pub fn into_diagnostic(self, fallback: Pos) -> Diagnostic {
        let (pos, path) = self.at.unwrap_or((fallback, String::new()));
        Diagnostic {
            pos,
            path,
            message: self.message,
        }
    }

    fn is_recorded(&self) -> bool {
        self.message == RECORDED
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            message: msg.to_string(),
            at: None,
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format_args!("expected {exp}, found {unexp}"))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format_args!("expected {exp}, found {unexp}"))
    }

    fn missing_field(field: &'static str) -> Self {
        de::Error::custom(format_args!("missing key `{field}`"))
    }
}

/// Reads a [`Node`] as any `Deserialize` type.
pub struct NodeDeserializer<'a> {
    node: &'a Node,
    path: String,
    sink: &'a Sink,
}

impl<'a> NodeDeserializer<'a> {
    /// A deserializer for the document's root.
    pub fn new(node: &'a Node, sink: &'a Sink) -> Self {
        NodeDeserializer {
            node,
            path: String::new(),
            sink,
        }
    }

    fn child(&self, node: &'a Node, path: String) -> Self {
        NodeDeserializer {
            node,
            path,
            sink: self.sink,
        }
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn wrong_type(&self, expected: &str) -> Error {
        de::Error::custom(format_args!(
            "expected {expected}, found {}",
            self.node.describe()
        ))
    }

    fn scalar(&self, expected: &str) -> Result<&'a str, Error> {
        match &self.node.kind {
            Kind::Scalar { text, .. } if !self.node.is_null() => Ok(text),
            _ => Err(self.wrong_type(expected)),
        }
    }

    fn plain(&self) -> Option<&'a str> {
        match &self.node.kind {
            Kind::Scalar { text, plain: true } => Some(text),
            _ => None,
        }
    }

    /// Records the unknown key `name` of a struct with `fields`: an error
    /// when it looks like a typo of a field or the sink refuses unknown
    /// keys, a warning otherwise.
    fn unknown_key(&self, key: &Node, name: &str, fields: &[&str]) {
        let within = if self.path.is_empty() {
            String::new()
        } else {
            format!(" in `{}`", self.path)
        };
        let close = did_you_mean(name, fields.iter().copied());
        let path = self.key_path(name);
        match (close, self.sink.unknown_keys) {
            (Some(known), _) => self.sink.push(Diagnostic {
                pos: key.pos,
                path,
                message: format!("unknown key `{name}`{within}; did you mean `{known}`?"),
            }),
            (None, UnknownKeys::Refuse) => self.sink.push(Diagnostic {
                pos: key.pos,
                path,
                message: format!(
                    "unknown key `{name}`{within}; known keys: {}",
                    fields.join(", ")
                ),
            }),
            (None, UnknownKeys::WarnUnlessClose) => self.sink.notice(Notice {
                kind: NoticeKind::Warning,
                pos: key.pos,
                path,
                message: format!(
                    "unknown key `{name}`{within}, ignored by op; known keys: {}",
                    fields.join(", ")
                ),
            }),
        }
    }

    fn locate<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|err| err.at(self.node, &self.path))
    }

    fn parse_number<T: std::str::FromStr>(&self, expected: &str) -> Result<T, Error> {
        let text = self.plain().filter(|_| !self.node.is_null());
        match text.and_then(|t| t.replace('_', "").parse().ok()) {
            Some(value) => Ok(value),
            None => Err(match &self.node.kind {
                Kind::Scalar { text, .. } if !self.node.is_null() => {
                    de::Error::custom(format_args!("expected {expected}, found `{text}`"))
                }
                _ => self.wrong_type(expected),
            }),
        }
    }
}

macro_rules! numbers {
    ($($method:ident => $visit:ident: $ty:ty, $what:literal;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let value: $ty = self.locate(self.parse_number($what))?;
            self.locate(visitor.$visit(value))
        })*
    };
}

impl<'de, 'a> Deserializer<'de> for NodeDeserializer<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.node.kind {
            Kind::Seq(items) => visitor.visit_seq(Seq::new(&self, items)),
            Kind::Map(entries) => visitor.visit_map(Map::new(&self, entries)),
            Kind::Scalar { text, plain } => {
                if self.node.is_null() {
                    visitor.visit_unit()
                } else if !plain {
                    visitor.visit_str(text)
                } else if let Some(b) = parse_bool(text) {
                    visitor.visit_bool(b)
                } else if let Ok(i) = text.parse::<i64>() {
                    visitor.visit_i64(i)
                } else if let Ok(u) = text.parse::<u64>() {
                    visitor.visit_u64(u)
                } else if let Some(f) = parse_float(text) {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_str(text)
                }
            }
        };
        self.locate(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = self.plain().and_then(parse_bool);
        match value {
            Some(b) => self.locate(visitor.visit_bool(b)),
            None => Err(match self.plain() {
                Some(text) if !self.node.is_null() => {
                    de::Error::custom(format_args!("expected true or false, found `{text}`"))
                }
                _ => self.wrong_type("true or false"),
            }
            .at(self.node, &self.path)),
        }
    }

    numbers! {
        deserialize_i8 => visit_i8: i8, "a small integer";
        deserialize_i16 => visit_i16: i16, "an integer";
        deserialize_i32 => visit_i32: i32, "an integer";
        deserialize_i64 => visit_i64: i64, "an integer";
        deserialize_u8 => visit_u8: u8, "a small whole number";
        deserialize_u16 => visit_u16: u16, "a whole number";
        deserialize_u32 => visit_u32: u32, "a whole number";
        deserialize_u64 => visit_u64: u64, "a whole number";
        deserialize_f32 => visit_f32: f32, "a number";
        deserialize_f64 => visit_f64: f64, "a number";
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let text = self.locate(self.scalar("a string"))?;
        self.locate(visitor.visit_str(text))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            self.locate(visitor.visit_none())
        } else {
            let (node, path) = (self.node, self.path.clone());
            visitor.visit_some(self).map_err(|err| err.at(node, &path))
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            self.locate(visitor.visit_unit())
        } else {
            Err(self.wrong_type("nothing (null)").at(self.node, &self.path))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (node, path, sink) = (self.node, self.path.clone(), self.sink);
        let result = visitor
            .visit_newtype_struct(self)
            .map_err(|err| err.at(node, &path));
        if name != RECOVER {
            return result;
        }
        result.map_err(|err| {
            if !err.is_recorded() {
                sink.push(err.into_diagnostic(node.pos));
            }
            Error::recorded()
        })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            // `null` where a list is expected is an empty list.
            let result = visitor.visit_seq(Seq::new(&self, &[]));
            return self.locate(result);
        }
        match &self.node.kind {
            Kind::Seq(items) => {
                let result = visitor.visit_seq(Seq::new(&self, items));
                self.locate(result)
            }
            _ => Err(self.wrong_type("a list").at(self.node, &self.path)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.node.is_null() {
            // `null` where a mapping is expected is an empty mapping.
            let result = visitor.visit_map(Map::new(&self, &[]));
            return self.locate(result);
        }
        match &self.node.kind {
            Kind::Map(entries) => {
                let result = visitor.visit_map(Map::new(&self, entries));
                self.locate(result)
            }
            _ => Err(self.wrong_type("a mapping").at(self.node, &self.path)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == LOCATED {
            let result = visitor.visit_map(LocatedAccess {
                de: Some(self),
                step: 0,
            });
            return result;
        }
        let entries: &[(Node, Node)] = match &self.node.kind {
            Kind::Map(entries) => entries,
            // `null` where a mapping is expected is an empty mapping (its
            // required keys are then reported missing).
            _ if self.node.is_null() => &[],
            _ => return Err(self.wrong_type("a mapping").at(self.node, &self.path)),
        };
        let mut known = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            match key.scalar() {
                Some(k) if fields.contains(&k) => known.push((key, value)),
                Some(k) => self.unknown_key(key, k, fields),
                None => self.sink.push(Diagnostic {
                    pos: key.pos,
                    path: self.path.clone(),
                    message: "a key must be a plain string".to_string(),
                }),
            }
        }
        let result = visitor.visit_map(Map::from_refs(&self, known));
        self.locate(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let text = self.locate(self.scalar(&format!("one of {}", quote_list(variants))))?;
        if !variants.contains(&text) {
            let hint = did_you_mean(text, variants.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            let err: Error = de::Error::custom(format_args!(
                "unknown value `{text}`, expected one of {}{hint}",
                quote_list(variants)
            ));
            return Err(err.at(self.node, &self.path));
        }
        let result = visitor.visit_enum(text.into_deserializer());
        self.locate(result)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_float(text: &str) -> Option<f64> {
    let looks_numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    if looks_numeric {
        text.parse().ok()
    } else {
        None
    }
}

struct Seq<'a, 'b> {
    parent: &'b NodeDeserializer<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'a, 'b> Seq<'a, 'b> {
    fn new(parent: &'b NodeDeserializer<'a>, items: &'a [Node]) -> Self {
        Seq {
            parent,
            items: items.iter().enumerate(),
        }
    }
}

impl<'de> SeqAccess<'de> for Seq<'_, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some((index, node)) => {
                let path = format!("{}[{index}]", self.parent.path);
                seed.deserialize(self.parent.child(node, path)).map(Some)
            }
        }
    }
}

struct Map<'a, 'b> {
    parent: &'b NodeDeserializer<'a>,
    entries: std::vec::IntoIter<(&'a Node, &'a Node)>,
    value: Option<(&'a Node, String)>,
}

impl<'a, 'b> Map<'a, 'b> {
    fn new(parent: &'b NodeDeserializer<'a>, entries: &'a [(Node, Node)]) -> Self {
        Self::from_refs(parent, entries.iter().map(|(k, v)| (k, v)).collect())
    }

    fn from_refs(parent: &'b NodeDeserializer<'a>, entries: Vec<(&'a Node, &'a Node)>) -> Self {
        Map {
            parent,
            entries: entries.into_iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Map<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                let name = key.scalar().unwrap_or_default();
                let path = self.parent.key_path(name);
                let parsed = seed.deserialize(self.parent.child(key, path.clone()))?;
                self.value = Some((value, path));
                Ok(Some(parsed))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (node, path) = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("a value was read before its key"))?;
        seed.deserialize(self.parent.child(node, path))
    }
}

/// Feeds a [`Located`] its position, path and value.
struct LocatedAccess<'a> {
    de: Option<NodeDeserializer<'a>>,
    step: usize,
}

impl<'de> MapAccess<'de> for LocatedAccess<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(key) = LOCATED_FIELDS.get(self.step) else {
            return Ok(None);
        };
        seed.deserialize((*key).into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let step = self.step;
        self.step += 1;
        let de = self
            .de
            .as_ref()
            .ok_or_else(|| <Error as de::Error>::custom("located value read twice"))?;
        match step {
            0 => seed.deserialize((de.node.pos.line as u64).into_deserializer()),
            1 => seed.deserialize((de.node.pos.column as u64).into_deserializer()),
            2 => seed.deserialize(de.path.clone().into_deserializer()),
            _ => {
                let de = self
                    .de
                    .take()
                    .ok_or_else(|| <Error as de::Error>::custom("located value read twice"))?;
                seed.deserialize(de)
            }
        }
    }
}
