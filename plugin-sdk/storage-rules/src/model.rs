//! The declarations of `storage.entities` in plugin.yaml, as the host reads
//! them (see op's `docs/storage.md`).

/// The most bytes a `string` attribute may declare, and all `string`
/// attributes of one entity together.
pub const MAX_STRING_BYTES: u32 = 2048;
/// The most bytes a `text` attribute holds.
pub const MAX_TEXT_BYTES: u32 = 32_768;
/// The most attributes of one entity's index partition.
pub const MAX_PARTITION: usize = 4;

/// One declared entity.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entity {
    /// Its `name`, as `storage.entity(NAME)` names it.
    pub name: String,
    /// Its attributes, in declaration order.
    pub attributes: Vec<Attribute>,
    /// Its indexes.
    pub indexes: Vec<Index>,
}

impl Entity {
    /// The attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The index called `name`.
    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

/// One attribute of an entity.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attribute {
    /// Its name, the key in a record's value.
    pub name: String,
    /// Its type.
    pub kind: AttributeType,
    /// The most bytes a `string` or `text` value holds.
    pub length: Option<u32>,
    /// Whether a new record must have it.
    pub required: bool,
    /// The value a new record gets when it leaves the attribute out.
    pub default: Option<serde_json::Value>,
}

/// The type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    /// `true` or `false`.
    Boolean,
    /// A 64-bit signed integer.
    Integer,
    /// A double (about 15 significant digits).
    Float,
    /// A string of at most the declared `length` bytes; indexable.
    String,
    /// A string of at most 32,768 bytes; not indexable.
    Text,
}

impl AttributeType {
    /// The name plugin.yaml uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::Boolean => "boolean",
            AttributeType::Integer => "integer",
            AttributeType::Float => "float",
            AttributeType::String => "string",
            AttributeType::Text => "text",
        }
    }

    /// The type plugin.yaml's `type` names.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "boolean" => AttributeType::Boolean,
            "integer" => AttributeType::Integer,
            "float" => AttributeType::Float,
            "string" => AttributeType::String,
            "text" => AttributeType::Text,
            _ => return None,
        })
    }
}

/// An index: records ordered by `range_attribute` within each combination
/// of the `partition` attributes' values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Index {
    /// Its name, as `query().index(NAME, ...)` names it.
    pub name: String,
    /// The attribute a query's condition and order apply to.
    pub range_attribute: String,
    /// The attributes whose values a query fixes first.
    pub partition: Vec<String>,
}

/// Whether `name` may name an entity, attribute or index: a letter or `_`,
/// then letters, digits, `_` or `-`, at most 64 bytes. Names become parts
/// of database identifiers, so nothing else is let in.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64
}

impl Entity {
    /// An entity called `name` with no attributes yet (for tests: the host
    /// reads its entities from plugin.yaml).
    pub fn new(name: impl Into<String>) -> Self {
        Entity {
            name: name.into(),
            attributes: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// This entity with `attribute` added.
    pub fn with(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// This entity with `index` added.
    pub fn with_index(mut self, index: Index) -> Self {
        self.indexes.push(index);
        self
    }
}

impl Attribute {
    fn of(name: impl Into<String>, kind: AttributeType, length: Option<u32>) -> Self {
        Attribute {
            name: name.into(),
            kind,
            length,
            required: false,
            default: None,
        }
    }

    /// A `boolean` attribute.
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::of(name, AttributeType::Boolean, None)
    }

    /// An `integer` attribute.
    pub fn integer(name: impl Into<String>) -> Self {
        Self::of(name, AttributeType::Integer, None)
    }

    /// A `float` attribute.
    pub fn float(name: impl Into<String>) -> Self {
        Self::of(name, AttributeType::Float, None)
    }

    /// A `string` attribute of at most `length` bytes.
    pub fn string(name: impl Into<String>, length: u32) -> Self {
        Self::of(name, AttributeType::String, Some(length))
    }

    /// A `text` attribute (at most 32,768 bytes).
    pub fn text(name: impl Into<String>) -> Self {
        Self::of(name, AttributeType::Text, Some(MAX_TEXT_BYTES))
    }

    /// This attribute, required on create.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// This attribute with a default applied on create.
    pub fn default_value(mut self, value: serde_json::Value) -> Self {
        self.default = Some(value);
        self
    }
}

impl Index {
    /// An index called `name` ordered by `range_attribute`, with no
    /// partition.
    pub fn new(name: impl Into<String>, range_attribute: impl Into<String>) -> Self {
        Index {
            name: name.into(),
            range_attribute: range_attribute.into(),
            partition: Vec::new(),
        }
    }

    /// This index partitioned by `attributes`.
    pub fn partition<I, S>(mut self, attributes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.partition = attributes.into_iter().map(Into::into).collect();
        self
    }
}
