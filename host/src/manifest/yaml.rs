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

    /// The key node and the value of key `key` when this node is a mapping.
    pub fn get_entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar() == Some(key))
                .map(|(k, v)| (k, v)),
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

/// The largest YAML text read, in bytes: a manifest or a configuration
/// file is a few KiB; anything this big is a mistake or an attack.
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;
/// The most values a document may hold once its aliases are expanded, so
/// that a few hundred bytes of nested aliases (a "billion laughs" file)
/// cannot make the reader build gigabytes.
pub const MAX_VALUES: usize = 100_000;
/// The deepest nesting of lists and mappings read (the readers after this
/// one recurse, so depth must be bounded).
pub const MAX_DEPTH: usize = 64;

/// The error for a file of `bytes` bytes, when that is over
/// [`MAX_TEXT_BYTES`].
pub fn too_large(bytes: u64) -> Option<SyntaxError> {
    (bytes > MAX_TEXT_BYTES as u64).then(|| SyntaxError {
        pos: Pos { line: 1, column: 1 },
        message: format!(
            "the file is {bytes} bytes; op reads YAML files of at most {} KiB",
            MAX_TEXT_BYTES / 1024
        ),
    })
}

/// Parses one YAML document (any later ones are not read). An empty
/// document is `None`. Texts over [`MAX_TEXT_BYTES`], documents that expand
/// to more than [`MAX_VALUES`] values or nest deeper than [`MAX_DEPTH`] are
/// refused with the place where the limit was crossed, before the work they
/// would cost is done.
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    if let Some(err) = too_large(text.len() as u64) {
        return Err(err);
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Events are pulled one by one (the parser's own `load` recurses once
    // per nesting level), and reading stops at the first limit crossed.
    loop {
        let (event, mark) = parser.next_token().map_err(|err| SyntaxError {
            pos: Pos::from_marker(*err.marker()),
            message: err.info().to_string(),
        })?;
        if matches!(event, Event::StreamEnd | Event::DocumentEnd) {
            break;
        }
        builder.on_event(event, mark);
        if let Some(err) = builder.error.take() {
            return Err(err);
        }
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
    /// Anchored nodes and the number of values each holds.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    error: Option<SyntaxError>,
    /// Values built so far, aliases counted at their expanded size.
    values: usize,
    /// For each open list or mapping, `values` when it was opened.
    opened_at: Vec<usize>,
}

impl Builder {
    /// Counts `more` values; false (with the error set) past [`MAX_VALUES`].
    fn count(&mut self, more: usize, pos: Pos) -> bool {
        self.values = self.values.saturating_add(more);
        if self.values > MAX_VALUES && self.error.is_none() {
            self.error = Some(SyntaxError {
                pos,
                message: format!(
                    "the document expands to more than {MAX_VALUES} values (through its aliases); op refuses it"
                ),
            });
        }
        self.error.is_none()
    }

    /// Opens a list or mapping; false (with the error set) past [`MAX_DEPTH`].
    fn open(&mut self, open: Open, pos: Pos) -> bool {
        if self.stack.len() >= MAX_DEPTH {
            self.error = Some(SyntaxError {
                pos,
                message: format!("lists and mappings nest deeper than {MAX_DEPTH} levels"),
            });
            return false;
        }
        self.opened_at.push(self.values);
        self.stack.push(open);
        true
    }

    fn push_value(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size));
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
                if self.count(1, pos) {
                    self.push_value(start(Kind::Scalar { text, plain }), anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) => {
                if self.count(1, pos) {
                    let open = Open::Seq(start(Kind::Seq(Vec::new())), Vec::new(), anchor);
                    self.open(open, pos);
                }
            }
            Event::MappingStart(anchor, _) => {
                if self.count(1, pos) {
                    let open = Open::Map(start(Kind::Map(Vec::new())), Vec::new(), None, anchor);
                    self.open(open, pos);
                }
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
                let size = self.values - self.opened_at.pop().unwrap_or(self.values) + 1;
                self.push_value(node, anchor, size);
            }
            Event::Alias(anchor) => {
                let size = self.anchors.get(&anchor).map_or(1, |(_, size)| *size);
                // Counted before it is copied: the copy is what costs.
                if !self.count(size, pos) {
                    return;
                }
                let node = self.anchors.get(&anchor).map_or(
                    Node {
                        kind: Kind::Scalar {
                            text: String::new(),
                            plain: true,
                        },
                        pos,
                    },
                    |(node, _)| node.clone(),
                );
                self.push_value(node, 0, size);
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

    /// Nine levels of nine aliases: a few hundred bytes that would expand
    /// to 9^9 values.
    fn alias_bomb() -> String {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for level in 1..=9 {
            let prev = format!("*a{}", level - 1);
            let items = [prev.as_str(); 9].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        text
    }

    #[test]
    fn an_alias_bomb_is_refused_where_it_crosses_the_limit() {
        let text = alias_bomb();
        assert!(text.len() < 600, "{}", text.len());
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("expands to more than 100000 values"),
            "{err:?}"
        );
        assert_eq!(err.pos.line, 6, "{err:?}");
        // Aliases within the limit still resolve, counted at their size.
        let root = parse("a: &x [1, 2, 3]\nb: [*x, *x]\n").unwrap().unwrap();
        let Kind::Seq(b) = &root.get("b").unwrap().kind else {
            panic!("b is a list")
        };
        assert!(matches!(&b[1].kind, Kind::Seq(items) if items.len() == 3));
    }

    #[test]
    fn depth_and_size_are_bounded_on_both_sides() {
        let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        let err = parse(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(err.message.contains("deeper than 64"), "{err:?}");
        // Block nesting, which the parser's own loader would recurse on.
        let mut block = String::new();
        for level in 0..200 {
            block.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
        }
        assert!(
            parse(&block)
                .unwrap_err()
                .message
                .contains("deeper than 64")
        );
        let big = format!("a: '{}'\n", "x".repeat(MAX_TEXT_BYTES));
        let err = parse(&big).unwrap_err();
        assert!(err.message.contains("at most 1024 KiB"), "{err:?}");
        let fits = format!("a: '{}'\n", "x".repeat(MAX_TEXT_BYTES - 16));
        assert!(parse(&fits).is_ok());
    }

    #[test]
    fn only_the_first_document_is_read() {
        let root = parse("a: 1\n---\nb: [\n").unwrap().unwrap();
        assert_eq!(root.get("a").unwrap().scalar(), Some("1"));
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
