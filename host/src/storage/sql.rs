//! The SQL of entity storage for SQLite and PostgreSQL: how an attribute
//! is read out of a stored value, how a query's plan becomes a `SELECT`,
//! and how an index becomes a database index.
//!
//! Attribute names are part of the SQL text; plugin.yaml allows only
//! letters, digits, `_` and `-` in them ([`op_storage_rules::valid_name`]),
//! and [`quoted`] escapes quotes anyway. Keys, values, entity names and
//! everything a plugin passes at run time are bound parameters.

use op_storage_rules::query::Position;
use op_storage_rules::upgrade::Change;
use op_storage_rules::{Attribute, AttributeType, Condition, Entity, Index, Plan};
use serde_json::Value;

/// Which database the SQL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// One file per instance: table `records (entity, key, value)`.
    Sqlite,
    /// One shared table `op_entity_records (instance, entity, key, value)`.
    Postgres,
}

/// A parameter's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Float(f64),
    /// JSON text, compared as `jsonb` (PostgreSQL).
    Json(String),
}

/// `text` as an SQL string literal.
pub fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Dialect {
    /// The table, and the condition that scopes it to one instance's
    /// entity (parameters 1 and 2 on PostgreSQL, 1 on SQLite).
    fn scope(self) -> (&'static str, &'static str, usize) {
        match self {
            Dialect::Sqlite => ("records", "entity = ?1", 1),
            Dialect::Postgres => ("op_entity_records", "instance = $1 AND entity = $2", 2),
        }
    }

    fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// How `attribute` is read out of a stored value, as its type orders:
    /// numbers by value, strings by their bytes, `false` before `true`.
    pub fn expr(self, attribute: &Attribute) -> String {
        let name = &attribute.name;
        match (self, attribute.kind) {
            (Dialect::Sqlite, _) => {
                format!("json_extract(value, {})", quoted(&format!("$.\"{name}\"")))
            }
            (Dialect::Postgres, AttributeType::String | AttributeType::Text) => {
                format!("((value->>{}) COLLATE \"C\")", quoted(name))
            }
            (Dialect::Postgres, _) => format!("(value->{})", quoted(name)),
        }
    }

    /// Whether a stored value holds `attribute`.
    fn holds(self, attribute: &str) -> String {
        match self {
            Dialect::Sqlite => format!(
                "json_type(value, {}) IS NOT NULL",
                quoted(&format!("$.\"{attribute}\""))
            ),
            Dialect::Postgres => format!("value ? {}", quoted(attribute)),
        }
    }

    /// A value compared with `expr(attribute)`.
    fn value(self, attribute: &Attribute, value: &Value) -> Bind {
        match (self, attribute.kind) {
            (Dialect::Sqlite, AttributeType::Boolean) => {
                Bind::Int(i64::from(value.as_bool() == Some(true)))
            }
            (Dialect::Sqlite, AttributeType::Integer | AttributeType::Float) => {
                match value.as_i64() {
                    Some(i) => Bind::Int(i),
                    None => Bind::Float(value.as_f64().unwrap_or(0.0)),
                }
            }
            (_, AttributeType::String | AttributeType::Text) => {
                Bind::Text(value.as_str().unwrap_or_default().to_string())
            }
            (Dialect::Postgres, _) => Bind::Json(value.to_string()),
        }
    }

    /// The placeholder of parameter `n` holding `bind`.
    fn placeholder(self, n: usize, bind: &Bind) -> String {
        match (self, bind) {
            (Dialect::Postgres, Bind::Json(_)) => format!("${n}::jsonb"),
            (Dialect::Postgres, Bind::Text(_)) => format!("(${n} COLLATE \"C\")"),
            _ => self.param(n),
        }
    }
}

/// A statement and its parameters after the scope's.
pub struct Statement {
    /// The SQL.
    pub sql: String,
    /// The parameters after the scope's (instance and entity).
    pub binds: Vec<Bind>,
}

struct Builder {
    dialect: Dialect,
    first: usize,
    binds: Vec<Bind>,
}

impl Builder {
    fn new(dialect: Dialect) -> Self {
        Builder {
            dialect,
            first: dialect.scope().2 + 1,
            binds: Vec::new(),
        }
    }

    /// Adds a parameter; its placeholder.
    fn bind(&mut self, bind: Bind) -> String {
        let n = self.first + self.binds.len();
        let text = self.dialect.placeholder(n, &bind);
        self.binds.push(bind);
        text
    }

    fn value(&mut self, attribute: &Attribute, value: &Value) -> String {
        let bind = self.dialect.value(attribute, value);
        self.bind(bind)
    }
}

/// The `SELECT key, value` of a plan: its records in its order, one more
/// than its limit (to tell whether more follow).
pub fn select(dialect: Dialect, plan: &Plan<'_>) -> Statement {
    let (table, scope, _) = dialect.scope();
    let mut b = Builder::new(dialect);
    let mut conditions: Vec<String> = vec![scope.to_string()];
    for (attribute, value) in &plan.partition {
        let expr = dialect.expr(attribute);
        let p = b.value(attribute, value);
        conditions.push(format!("{expr} = {p}"));
    }
    let range = plan
        .range
        .map(|attribute| (attribute, dialect.expr(attribute)));
    if let Some((attribute, expr)) = &range {
        conditions.push(format!("{expr} IS NOT NULL"));
        if let Some(condition) = &plan.condition {
            conditions.push(condition_sql(&mut b, attribute, expr, condition));
        }
    }
    if let Some(after) = &plan.after {
        conditions.push(after_sql(&mut b, plan, range.as_ref(), after));
    }
    let direction = if plan.descending { "DESC" } else { "ASC" };
    let key = match dialect {
        Dialect::Sqlite => "key",
        Dialect::Postgres => "(key COLLATE \"C\")",
    };
    let order = match &range {
        Some((_, expr)) => format!("{expr} {direction}, {key} {direction}"),
        None => format!("{key} {direction}"),
    };
    let value = match dialect {
        Dialect::Sqlite => "value",
        Dialect::Postgres => "value::text",
    };
    let limit = plan.limit + 1;
    Statement {
        sql: format!(
            "SELECT key, {value} FROM {table} WHERE {} ORDER BY {order} LIMIT {limit}",
            conditions.join(" AND ")
        ),
        binds: b.binds,
    }
}

fn condition_sql(
    b: &mut Builder,
    attribute: &Attribute,
    expr: &str,
    condition: &Condition,
) -> String {
    let mut compare = |op: &str, value: &Value| {
        let p = b.value(attribute, value);
        format!("{expr} {op} {p}")
    };
    match condition {
        Condition::Equal(v) => compare("=", v),
        Condition::LessThan(v) => compare("<", v),
        Condition::LessOrEqual(v) => compare("<=", v),
        Condition::GreaterThan(v) => compare(">", v),
        Condition::GreaterOrEqual(v) => compare(">=", v),
        Condition::Between(low, high) => {
            let low = compare(">=", low);
            let high = compare("<=", high);
            format!("{low} AND {high}")
        }
        Condition::BeginsWith(prefix) => {
            let lower = compare(">=", &Value::String(prefix.clone()));
            let p = b.bind(Bind::Text(prefix.clone()));
            let starts = match b.dialect {
                Dialect::Sqlite => format!("substr({expr}, 1, length({p})) = {p}"),
                Dialect::Postgres => format!("starts_with({expr}, {p})"),
            };
            format!("{lower} AND {starts}")
        }
    }
}

/// The records after `after` in the plan's order.
fn after_sql(
    b: &mut Builder,
    plan: &Plan<'_>,
    range: Option<&(&Attribute, String)>,
    after: &Position,
) -> String {
    let op = if plan.descending { "<" } else { ">" };
    let key_expr = match b.dialect {
        Dialect::Sqlite => "key",
        Dialect::Postgres => "(key COLLATE \"C\")",
    };
    let key_bind = Bind::Text(after.key.clone());
    match (range, &after.value) {
        (Some((attribute, expr)), Some(value)) => {
            let v1 = b.value(attribute, value);
            let v2 = b.value(attribute, value);
            let k = b.bind(key_bind);
            format!("({expr} {op} {v1} OR ({expr} = {v2} AND {key_expr} {op} {k}))")
        }
        _ => {
            let k = b.bind(key_bind);
            format!("{key_expr} {op} {k}")
        }
    }
}

/// The database index of `index`: scope, partition attributes, range
/// attribute, key. Its name depends only on what it indexes, so that
/// equal indexes are one.
pub fn index_columns(dialect: Dialect, entity: &Entity, index: &Index) -> Vec<String> {
    let mut columns: Vec<String> = match dialect {
        Dialect::Sqlite => vec!["entity".into()],
        Dialect::Postgres => vec!["instance".into(), "entity".into()],
    };
    for name in index.partition.iter().chain([&index.range_attribute]) {
        if let Some(attribute) = entity.attribute(name) {
            columns.push(dialect.expr(attribute));
        }
    }
    columns.push(match dialect {
        Dialect::Sqlite => "key".into(),
        Dialect::Postgres => "(key COLLATE \"C\")".into(),
    });
    columns
}

/// `CREATE INDEX IF NOT EXISTS` for `columns`, named by a digest of them.
pub fn create_index(dialect: Dialect, prefix: &str, columns: &[String]) -> (String, String) {
    let joined = columns.join(", ");
    let digest = crate::digest::files_hash([("index", joined.as_bytes())]);
    let name = format!("{prefix}{}", &digest[..16]);
    let table = dialect.scope().0;
    (
        name.clone(),
        format!("CREATE INDEX IF NOT EXISTS \"{name}\" ON {table} ({joined})"),
    )
}

/// The `SELECT count(*)` of the records that `change` would break.
pub fn count_broken(dialect: Dialect, change: &Change) -> Statement {
    let (table, scope, _) = dialect.scope();
    let mut b = Builder::new(dialect);
    let extra = match change {
        Change::EntityRemoved { .. } => None,
        Change::AttributeRemoved { attribute, .. } | Change::AttributeRetyped { attribute, .. } => {
            Some(dialect.holds(attribute))
        }
        Change::RequiredAdded { attribute, .. } => {
            Some(format!("NOT ({})", dialect.holds(attribute)))
        }
        Change::Shortened {
            attribute, length, ..
        } => {
            let n = b.bind(Bind::Int(i64::from(*length)));
            Some(match dialect {
                Dialect::Sqlite => format!(
                    "length(CAST(json_extract(value, {}) AS BLOB)) > {n}",
                    quoted(&format!("$.\"{attribute}\""))
                ),
                Dialect::Postgres => format!("octet_length(value->>{}) > {n}", quoted(attribute)),
            })
        }
    };
    let sql = match extra {
        Some(extra) => format!("SELECT count(*) FROM {table} WHERE {scope} AND {extra}"),
        None => format!("SELECT count(*) FROM {table} WHERE {scope}"),
    };
    Statement {
        sql,
        binds: b.binds,
    }
}
