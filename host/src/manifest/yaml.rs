//! A YAML document as a tree of nodes that remember where they start, so that
//! every later error can name its line and column.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the source: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Pos {
    fn from_marker(mark: Marker) -> Self {
        Pos {
            line: mark.line(),
            column: mark.col() + 1,
        }
    }
}

/// One YAML node and where it starts.
#[derive(Debug, Clone)]
pub struct Node {
    /// What the node holds.
    pub kind: Kind,
    /// Where it starts.
    pub pos: Pos,
}

/// The shapes a node can have.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A scalar; `plain` is false when it was quoted or a block scalar, which
    /// makes it a string whatever it reads like.
    Scalar {
        /// The scalar's text.
        text: String,
        /// Whether the scalar was written without quotes.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Whether this is a plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The value of key `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar node.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A short description of the node's type for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } if self.is_null() => "nothing (null)",
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// A syntax error of the YAML text itself.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What it found wrong.
    pub message: String,
}

/// Parses one YAML document. An empty document is `None`.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|err| SyntaxError {
            pos: Pos::from_marker(*err.marker()),
            message: err.info().to_string(),
        })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root)
}

enum Open {
    Seq(Node, Vec<Node>, usize),
    Map(Node, Vec<(Node, Node)>, Option<Node>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(_, items, _)) => items.push(node),
            Some(Open::Map(map, entries, key, _)) => match key.take() {
                None => {
                    // A block mapping's start event is marked at its first
                    // `:`; the mapping really starts at its first key.
                    if entries.is_empty() {
                        map.pos = node.pos;
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    if let Some(name) = k.scalar()
                        && entries
                            .iter()
                            .any(|(existing, _)| existing.scalar() == Some(name))
                        && self.error.is_none()
                    {
                        self.error = Some(SyntaxError {
                            pos: k.pos,
                            message: format!("duplicate key `{name}`"),
                        });
                    }
                    entries.push((k, node));
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let pos = Pos::from_marker(mark);
        let start = |kind| Node { kind, pos };
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push_value(start(Kind::Scalar { text, plain }), anchor);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack
                    .push(Open::Seq(start(Kind::Seq(Vec::new())), Vec::new(), anchor));
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(
                    start(Kind::Map(Vec::new())),
                    Vec::new(),
                    None,
                    anchor,
                ));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq(mut node, items, anchor)) => {
                        node.kind = Kind::Seq(items);
                        (node, anchor)
                    }
                    Some(Open::Map(mut node, entries, _, anchor)) => {
                        node.kind = Kind::Map(entries);
                        (node, anchor)
                    }
                    None => return,
                };
                self.push_value(node, anchor);
            }
            Event::Alias(anchor) => {
                let node = self.anchors.get(&anchor).cloned().unwrap_or(Node {
                    kind: Kind::Scalar {
                        text: String::new(),
                        plain: true,
                    },
                    pos,
                });
                self.push_value(node, 0);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_line_and_column() {
        let root = parse("service:\n  name: x\napis:\n  - url: /a\n")
            .unwrap()
            .unwrap();
        let service = root.get("service").unwrap();
        assert_eq!(service.get("name").unwrap().pos, Pos { line: 2, column: 9 });
        let apis = root.get("apis").unwrap();
        let Kind::Seq(items) = &apis.kind else {
            panic!("not a list")
        };
        assert_eq!(
            items[0].get("url").unwrap().pos,
            Pos {
                line: 4,
                column: 10
            }
        );
    }

    #[test]
    fn quoted_scalars_are_not_plain_and_aliases_resolve() {
        let root = parse("a: &x 'null'\nb: *x\n").unwrap().unwrap();
        assert!(!root.get("a").unwrap().is_null());
        assert_eq!(root.get("b").unwrap().scalar(), Some("null"));
    }

    #[test]
    fn duplicate_keys_and_bad_syntax_are_errors() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(
            (err.pos.line, err.message.as_str()),
            (2, "duplicate key `a`")
        );
        let err = parse("a: [1, 2\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
        assert!(parse("").unwrap().is_none());
    }
}
