//! `storage.entities`: the entity storage a plugin declares (ONES 6.31).
//! Each entity is a set of records under string keys whose attributes have
//! declared types, and indexes a query can use.
//!
//! The section stays an ONES-owned value in [`super::Manifest::storage`];
//! this pass reads the entities out of the YAML tree and checks them, so
//! that each error names `storage.entities[N]...` and its line.

use std::collections::HashMap;

use super::yaml::{Kind, Node};
use super::{Diagnostic, Notice, NoticeKind};
pub use op_storage_rules::{
    Attribute, AttributeType, Entity, Index, MAX_PARTITION, MAX_STRING_BYTES, MAX_TEXT_BYTES,
    valid_name,
};

/// The entities of `storage.entities` in `root`, every problem with them,
/// and warnings about what op reads differently from how it is written.
pub fn read(root: &Node) -> (Vec<Entity>, Vec<Diagnostic>, Vec<Notice>) {
    let mut out = Reading::default();
    let Some(storage) = root.get("storage").filter(|s| !s.is_null()) else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    if !matches!(storage.kind, Kind::Map(_)) {
        out.error(
            storage,
            "storage",
            format!(
                "expected a mapping with `entities`, found {}",
                storage.describe()
            ),
        );
        return out.done();
    }
    if let Kind::Map(entries) = &storage.kind {
        for (key, _) in entries {
            match key.scalar() {
                Some("entities") | None => {}
                Some(other) => out.notices.push(Notice {
                    kind: NoticeKind::Note,
                    pos: key.pos,
                    path: format!("storage.{other}"),
                    message: "kept, not acted on by op".into(),
                }),
            }
        }
    }
    let Some((key, list)) = storage.get_entry("entities").filter(|(_, l)| !l.is_null()) else {
        return out.done();
    };
    let Kind::Seq(items) = &list.kind else {
        out.error(
            list,
            "storage.entities",
            format!("expected a list of entities, found {}", list.describe()),
        );
        return out.done();
    };
    let mut names: HashMap<String, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let path = format!("storage.entities[{index}]");
        let entity = out.entity(item, &path);
        if let Some(name_node) = item.get("name")
            && let Some(name) = name_node.scalar().filter(|_| !name_node.is_null())
            && let Some(first) = names.insert(name.to_string(), index)
        {
            out.error(
                name_node,
                &format!("{path}.name"),
                format!("the entity `{name}` is also declared at storage.entities[{first}]"),
            );
            continue;
        }
        if let Some(entity) = entity {
            out.entities.push(entity);
        }
    }
    if !out.entities.is_empty() {
        let names: Vec<String> = out
            .entities
            .iter()
            .map(|e| format!("`{}`", e.name))
            .collect();
        out.notices.push(Notice {
            kind: NoticeKind::Note,
            pos: key.pos,
            path: "storage.entities".into(),
            message: format!(
                "{} entit{} kept by op ({})",
                names.len(),
                if names.len() == 1 { "y" } else { "ies" },
                names.join(", ")
            ),
        });
    }
    out.done()
}

#[derive(Default)]
struct Reading {
    entities: Vec<Entity>,
    diagnostics: Vec<Diagnostic>,
    notices: Vec<Notice>,
}

impl Reading {
    fn done(self) -> (Vec<Entity>, Vec<Diagnostic>, Vec<Notice>) {
        (self.entities, self.diagnostics, self.notices)
    }

    fn error(&mut self, at: &Node, path: &str, message: String) {
        self.diagnostics.push(Diagnostic {
            pos: at.pos,
            path: path.to_string(),
            message,
        });
    }

    fn warn(&mut self, at: &Node, path: &str, message: String) {
        self.notices.push(Notice {
            kind: NoticeKind::Warning,
            pos: at.pos,
            path: path.to_string(),
            message,
        });
    }

    /// A name under `key` of `item`, checked.
    fn name(&mut self, item: &Node, path: &str, what: &str) -> Option<String> {
        let Some(node) = item.get("name").filter(|n| !n.is_null()) else {
            self.error(item, path, format!("{what} needs a `name`"));
            return None;
        };
        match node.scalar() {
            Some(name) if valid_name(name) => Some(name.to_string()),
            Some(name) => {
                self.error(
                    node,
                    &format!("{path}.name"),
                    format!(
                        "`{name}` is not a name op accepts: a letter or `_`, then letters, \
                         digits, `_` or `-`, at most 64 characters"
                    ),
                );
                None
            }
            None => {
                self.error(
                    node,
                    &format!("{path}.name"),
                    format!("expected a name, found {}", node.describe()),
                );
                None
            }
        }
    }

    fn entity(&mut self, item: &Node, path: &str) -> Option<Entity> {
        if !matches!(item.kind, Kind::Map(_)) {
            self.error(
                item,
                path,
                format!("expected an entity (a mapping), found {}", item.describe()),
            );
            return None;
        }
        let before = self.diagnostics.len();
        let name = self.name(item, path, "an entity");
        let attributes = self.attributes(item, path);
        let mut string_bytes = 0u32;
        for attribute in &attributes {
            if attribute.kind == AttributeType::String {
                string_bytes += attribute.length.unwrap_or(0);
            }
        }
        if string_bytes > MAX_STRING_BYTES {
            let at = item.get("attributes").unwrap_or(item);
            self.error(
                at,
                &format!("{path}.attributes"),
                format!(
                    "the `string` attributes of an entity may hold {MAX_STRING_BYTES} bytes \
                     together; these declare {string_bytes} (use `text` for long values)"
                ),
            );
        }
        let indexes = self.indexes(item, path, &attributes);
        (self.diagnostics.len() == before).then(|| Entity {
            name: name.unwrap_or_default(),
            attributes,
            indexes,
        })
    }

    fn attributes(&mut self, item: &Node, path: &str) -> Vec<Attribute> {
        let mut out: Vec<Attribute> = Vec::new();
        let Some(list) = item.get("attributes").filter(|l| !l.is_null()) else {
            self.error(item, path, "an entity needs `attributes`".into());
            return out;
        };
        let Kind::Seq(items) = &list.kind else {
            self.error(
                list,
                &format!("{path}.attributes"),
                format!(
                    "expected a list of `{{name, type}}` attributes, found {}",
                    list.describe()
                ),
            );
            return out;
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, node) in items.iter().enumerate() {
            let at = format!("{path}.attributes[{index}]");
            let attribute = self.attribute(node, &at);
            if let Some(name_node) = node.get("name")
                && let Some(name) = name_node.scalar().filter(|_| !name_node.is_null())
                && let Some(first) = seen.insert(name.to_string(), index)
            {
                self.error(
                    name_node,
                    &format!("{at}.name"),
                    format!(
                        "the attribute `{name}` is also declared at {path}.attributes[{first}]"
                    ),
                );
                continue;
            }
            out.extend(attribute);
        }
        out
    }

    fn attribute(&mut self, node: &Node, path: &str) -> Option<Attribute> {
        if !matches!(node.kind, Kind::Map(_)) {
            self.error(
                node,
                path,
                format!(
                    "expected an attribute (a mapping), found {}",
                    node.describe()
                ),
            );
            return None;
        }
        let before = self.diagnostics.len();
        let name = self.name(node, path, "an attribute");
        let kind = match node.get("type") {
            None => {
                self.error(
                    node,
                    path,
                    "an attribute needs a `type`: boolean, integer, float, string or text".into(),
                );
                None
            }
            Some(ty) => match ty.scalar().and_then(AttributeType::parse) {
                Some(kind) => Some(kind),
                None => {
                    let found = ty
                        .scalar()
                        .filter(|_| !ty.is_null())
                        .map_or(ty.describe().to_string(), |s| format!("`{s}`"));
                    self.error(
                        ty,
                        &format!("{path}.type"),
                        format!("expected boolean, integer, float, string or text, found {found}"),
                    );
                    None
                }
            },
        };
        let length = kind.and_then(|kind| self.length(node, path, kind));
        let required = match node.get("required") {
            None => false,
            Some(value) if value.is_null() => false,
            Some(value) => match value.scalar() {
                Some("true") => true,
                Some("false") => false,
                _ => {
                    self.error(
                        value,
                        &format!("{path}.required"),
                        "expected true or false".into(),
                    );
                    false
                }
            },
        };
        let default = match (kind, node.get("default")) {
            (Some(kind), Some(value)) if !value.is_null() => {
                self.default_value(value, &format!("{path}.default"), kind, length)
            }
            _ => None,
        };
        let kind = kind?;
        (self.diagnostics.len() == before).then(|| Attribute {
            name: name.unwrap_or_default(),
            kind,
            length,
            required,
            default,
        })
    }

    /// The byte limit of a `string` (required, 1..=2048) or `text` (at
    /// most 32,768; a larger declaration is read as 32,768 with a warning)
    /// attribute; other types have none.
    fn length(&mut self, node: &Node, path: &str, kind: AttributeType) -> Option<u32> {
        let at = format!("{path}.length");
        let value = node.get("length").filter(|v| !v.is_null());
        match kind {
            AttributeType::String => {
                let Some(value) = value else {
                    self.error(
                        node,
                        path,
                        format!(
                            "a `string` attribute needs a `length` in bytes, 1 to \
                             {MAX_STRING_BYTES} (or use `text`)"
                        ),
                    );
                    return None;
                };
                match value.scalar().and_then(|s| s.trim().parse::<u32>().ok()) {
                    Some(n) if (1..=MAX_STRING_BYTES).contains(&n) => Some(n),
                    _ => {
                        let found = value.scalar().unwrap_or(value.describe());
                        self.error(
                            value,
                            &at,
                            format!(
                                "the length of a `string` is a number of bytes from 1 to \
                                 {MAX_STRING_BYTES}, not {found}"
                            ),
                        );
                        None
                    }
                }
            }
            AttributeType::Text => {
                let Some(value) = value else {
                    return Some(MAX_TEXT_BYTES);
                };
                match value.scalar().and_then(|s| s.trim().parse::<u64>().ok()) {
                    Some(n @ 1..) if n <= u64::from(MAX_TEXT_BYTES) => u32::try_from(n).ok(),
                    Some(n) if n > u64::from(MAX_TEXT_BYTES) => {
                        self.warn(
                            value,
                            &at,
                            format!(
                                "a `text` attribute holds at most {MAX_TEXT_BYTES} bytes in \
                                 op (as in ONES); {n} is read as {MAX_TEXT_BYTES}"
                            ),
                        );
                        Some(MAX_TEXT_BYTES)
                    }
                    _ => {
                        let found = value.scalar().unwrap_or(value.describe());
                        self.error(
                            value,
                            &at,
                            format!(
                                "the length of a `text` is a number of bytes from 1 to \
                                 {MAX_TEXT_BYTES}, not {found}"
                            ),
                        );
                        None
                    }
                }
            }
            _ => {
                if let Some(value) = value {
                    self.warn(
                        value,
                        &at,
                        format!(
                            "`length` applies to string and text attributes; it is ignored \
                             for `{}`",
                            kind.as_str()
                        ),
                    );
                }
                None
            }
        }
    }

    /// The `default` as a JSON value of the attribute's type.
    fn default_value(
        &mut self,
        value: &Node,
        at: &str,
        kind: AttributeType,
        length: Option<u32>,
    ) -> Option<serde_json::Value> {
        let Kind::Scalar { text, plain } = &value.kind else {
            self.error(
                value,
                at,
                format!(
                    "the default of a `{}` attribute is a single value, not {}",
                    kind.as_str(),
                    value.describe()
                ),
            );
            return None;
        };
        let parsed = match kind {
            AttributeType::Boolean => match (text.as_str(), plain) {
                ("true", true) => Some(serde_json::Value::Bool(true)),
                ("false", true) => Some(serde_json::Value::Bool(false)),
                _ => None,
            },
            AttributeType::Integer => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|_| *plain)
                .map(serde_json::Value::from),
            AttributeType::Float => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| *plain && f.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(serde_json::Value::Number),
            AttributeType::String | AttributeType::Text => {
                let limit = length.unwrap_or(MAX_TEXT_BYTES) as usize;
                if text.len() > limit {
                    self.error(
                        value,
                        at,
                        format!(
                            "the default is {} bytes long; the attribute holds at most {limit}",
                            text.len()
                        ),
                    );
                    return None;
                }
                Some(serde_json::Value::String(text.clone()))
            }
        };
        if parsed.is_none() {
            self.error(
                value,
                at,
                format!(
                    "the default of {} `{}` attribute must be {}, found `{text}`",
                    if kind == AttributeType::Integer {
                        "an"
                    } else {
                        "a"
                    },
                    kind.as_str(),
                    match kind {
                        AttributeType::Boolean => "true or false",
                        AttributeType::Integer => "a whole number (64-bit)",
                        _ => "a number",
                    }
                ),
            );
        }
        parsed
    }

    fn indexes(&mut self, item: &Node, path: &str, attributes: &[Attribute]) -> Vec<Index> {
        let mut out: Vec<Index> = Vec::new();
        let Some(list) = item.get("indexes").filter(|l| !l.is_null()) else {
            return out;
        };
        let Kind::Seq(items) = &list.kind else {
            self.error(
                list,
                &format!("{path}.indexes"),
                format!(
                    "expected a list of `{{name, range_attribute, partition}}` indexes, found {}",
                    list.describe()
                ),
            );
            return out;
        };
        for (index, node) in items.iter().enumerate() {
            let at = format!("{path}.indexes[{index}]");
            if !matches!(node.kind, Kind::Map(_)) {
                self.error(
                    node,
                    &at,
                    format!("expected an index (a mapping), found {}", node.describe()),
                );
                continue;
            }
            let before = self.diagnostics.len();
            let name = self.name(node, &at, "an index");
            if let Some(name) = &name
                && let Some(first) = out.iter().position(|i| &i.name == name)
            {
                self.error(
                    node.get("name").unwrap_or(node),
                    &format!("{at}.name"),
                    format!("the index `{name}` is also declared at {path}.indexes[{first}]"),
                );
            }
            let range = match node.get("range_attribute") {
                Some(value) => self.indexed(value, &format!("{at}.range_attribute"), attributes),
                None => {
                    self.error(
                        node,
                        &at,
                        "an index needs a `range_attribute`, the attribute its queries order by"
                            .into(),
                    );
                    None
                }
            };
            let mut partition: Vec<String> = Vec::new();
            match node.get("partition").map(|p| (p, &p.kind)) {
                None => {}
                Some((p, _)) if p.is_null() => {}
                Some((_, Kind::Seq(values))) => {
                    for (n, value) in values.iter().enumerate() {
                        let place = format!("{at}.partition[{n}]");
                        let Some(attr) = self.indexed(value, &place, attributes) else {
                            continue;
                        };
                        if Some(&attr) == range.as_ref() || partition.contains(&attr) {
                            self.error(
                                value,
                                &place,
                                format!("`{attr}` is already part of this index"),
                            );
                            continue;
                        }
                        partition.push(attr);
                    }
                    if partition.len() > MAX_PARTITION {
                        self.error(
                            node.get("partition").unwrap_or(node),
                            &format!("{at}.partition"),
                            format!(
                                "an index is partitioned by at most {MAX_PARTITION} attributes, \
                                 not {}",
                                partition.len()
                            ),
                        );
                    }
                }
                Some((p, _)) => self.error(
                    p,
                    &format!("{at}.partition"),
                    format!("expected a list of attribute names, found {}", p.describe()),
                ),
            }
            if let (Some(name), Some(range), true) = (name, range, self.diagnostics.len() == before)
            {
                out.push(Index {
                    name,
                    range_attribute: range,
                    partition,
                });
            }
        }
        out
    }

    /// An attribute an index names: declared, and not `text`.
    fn indexed(&mut self, value: &Node, at: &str, attributes: &[Attribute]) -> Option<String> {
        let Some(name) = value.scalar().filter(|_| !value.is_null()) else {
            self.error(
                value,
                at,
                format!("expected an attribute name, found {}", value.describe()),
            );
            return None;
        };
        match attributes.iter().find(|a| a.name == name) {
            Some(a) if a.kind == AttributeType::Text => {
                self.error(
                    value,
                    at,
                    format!(
                        "`{name}` is a `text` attribute, and text is not indexable (use a \
                         `string` with a length)"
                    ),
                );
                None
            }
            Some(_) => Some(name.to_string()),
            None => {
                let names: Vec<&str> = attributes.iter().map(|a| a.name.as_str()).collect();
                let hint = super::did_you_mean(name, names.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                self.error(
                    value,
                    at,
                    format!("the entity has no attribute `{name}`{hint}"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    const SERVICE: &str = "service:\n  app_id: a\n  name: a\n  version: 1.0.0\n";

    fn manifest(storage: &str) -> Result<super::super::Manifest, String> {
        super::super::parse(&format!("{SERVICE}{storage}"), "p.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_declaration_reads_with_types_defaults_and_indexes() {
        let m = manifest(
            "storage:\n  entities:\n    - name: employee\n      attributes:\n\
             \x20       - {name: dept, type: string, length: 64, required: true}\n\
             \x20       - {name: age, type: integer, default: 30}\n\
             \x20       - {name: active, type: boolean, default: true}\n\
             \x20       - {name: score, type: float, default: 1.5}\n\
             \x20       - {name: notes, type: text}\n\
             \x20     indexes:\n        - {name: by_age, range_attribute: age, partition: [dept]}\n",
        )
        .unwrap();
        let entity = &m.entities[0];
        assert_eq!(entity.name, "employee");
        assert_eq!(entity.attributes.len(), 5);
        assert!(entity.attribute("dept").unwrap().required);
        assert_eq!(entity.attribute("dept").unwrap().length, Some(64));
        assert_eq!(
            entity.attribute("age").unwrap().default,
            Some(serde_json::json!(30))
        );
        assert_eq!(
            entity.attribute("active").unwrap().default,
            Some(serde_json::json!(true))
        );
        assert_eq!(
            entity.attribute("score").unwrap().default,
            Some(serde_json::json!(1.5))
        );
        assert_eq!(entity.attribute("notes").unwrap().length, Some(32_768));
        let index = entity.index("by_age").unwrap();
        assert_eq!(index.range_attribute, "age");
        assert_eq!(index.partition, vec!["dept".to_string()]);
    }

    #[test]
    fn every_broken_rule_is_an_error_at_its_place() {
        let err = manifest(
            "storage:\n  entities:\n    - name: e\n      attributes:\n\
             \x20       - {name: s, type: string}\n\
             \x20       - {name: n, type: integer, default: many}\n\
             \x20       - {name: t, type: text}\n\
             \x20       - {name: n, type: boolean}\n\
             \x20       - {name: x, type: date}\n\
             \x20       - {name: 'bad name', type: integer}\n\
             \x20     indexes:\n\
             \x20       - {name: i1, range_attribute: t}\n\
             \x20       - {name: i2, range_attribute: tt}\n\
             \x20       - {name: i3}\n\
             \x20   - name: e\n      attributes: []\n",
        )
        .unwrap_err();
        for expected in [
            "p.yaml:9:12: storage.entities[0].attributes[0]: a `string` attribute needs a `length` in bytes, 1 to 2048 (or use `text`)",
            "p.yaml:10:45: storage.entities[0].attributes[1].default: the default of an `integer` attribute must be a whole number (64-bit), found `many`",
            "p.yaml:12:18: storage.entities[0].attributes[3].name: the attribute `n` is also declared at storage.entities[0].attributes[1]",
            "p.yaml:13:27: storage.entities[0].attributes[4].type: expected boolean, integer, float, string or text, found `date`",
            "p.yaml:14:18: storage.entities[0].attributes[5].name: `bad name` is not a name op accepts",
            "p.yaml:16:39: storage.entities[0].indexes[0].range_attribute: `t` is a `text` attribute, and text is not indexable",
            "p.yaml:17:39: storage.entities[0].indexes[1].range_attribute: the entity has no attribute `tt` (did you mean `t`?)",
            "p.yaml:18:12: storage.entities[0].indexes[2]: an index needs a `range_attribute`",
            "p.yaml:19:13: storage.entities[1].name: the entity `e` is also declared at storage.entities[0]",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
        }
    }

    #[test]
    fn string_lengths_are_bounded_alone_and_together() {
        let ok = "storage:\n  entities:\n    - name: e\n      attributes:\n\
                  \x20       - {name: a, type: string, length: 1024}\n\
                  \x20       - {name: b, type: string, length: 1024}\n";
        assert!(manifest(ok).is_ok());
        let over = ok.replace("length: 1024}\n", "length: 1025}\n");
        let err = manifest(&over).unwrap_err();
        assert!(err.contains("these declare 2050"), "{err}");
        let alone = ok.replace("length: 1024}", "length: 4096}");
        let err = manifest(&alone).unwrap_err();
        assert!(
            err.contains("the length of a `string` is a number of bytes from 1 to 2048, not 4096"),
            "{err}"
        );
    }

    #[test]
    fn a_text_declared_longer_than_op_holds_loads_with_a_warning() {
        let m = manifest(
            "storage:\n  entities:\n    - name: record\n      attributes:\n\
             \x20       - name: body\n          type: text\n          length: 65536\n",
        )
        .unwrap();
        assert_eq!(m.entities[0].attributes[0].length, Some(32_768));
        let warning = m
            .notices
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            warning.contains("storage.entities[0].attributes[0].length: a `text` attribute holds at most 32768 bytes"),
            "{warning}"
        );
    }
}
