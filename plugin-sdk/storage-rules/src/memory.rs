//! The rules run on records kept in memory: the store of the SDK's test
//! mock, so that a plugin's unit tests see what the host's databases do.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::query::{Page, Query, plan};
use crate::value::{Record, check_batch, check_key, merge, with_defaults};
use crate::{Entity, StorageError};

/// Every record of one plugin instance, by entity and key.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    entities: Vec<Entity>,
    records: BTreeMap<String, BTreeMap<String, Record>>,
}

impl MemoryStore {
    /// An empty store of `entities`.
    pub fn new(entities: Vec<Entity>) -> Self {
        MemoryStore {
            entities,
            records: BTreeMap::new(),
        }
    }

    /// Declares one more entity.
    pub fn declare(&mut self, entity: Entity) {
        self.entities.retain(|e| e.name != entity.name);
        self.entities.push(entity);
    }

    fn entity(&self, name: &str) -> Result<&Entity, StorageError> {
        find(&self.entities, name)
    }

    /// The record under `key`, if any.
    pub fn get(&self, entity: &str, key: &str) -> Result<Option<Record>, StorageError> {
        let declared = self.entity(entity)?;
        check_key(key)?;
        Ok(self
            .records
            .get(entity)
            .and_then(|records| records.get(key))
            .map(|record| with_defaults(declared, record.clone())))
    }

    /// Creates or updates the record under `key`.
    pub fn set(&mut self, entity: &str, key: &str, value: &Value) -> Result<(), StorageError> {
        self.batch_set(entity, &[(key.to_string(), value.clone())])
    }

    /// Creates or updates every record, or none when one is refused.
    pub fn batch_set(
        &mut self,
        entity: &str,
        entries: &[(String, Value)],
    ) -> Result<(), StorageError> {
        check_batch(entries.len())?;
        let declared = self.entity(entity)?.clone();
        let mut staged = self.records.get(entity).cloned().unwrap_or_default();
        for (key, value) in entries {
            let record = merge(&declared, key, staged.get(key).cloned(), value)?;
            staged.insert(key.clone(), record);
        }
        self.records.insert(entity.to_string(), staged);
        Ok(())
    }

    /// Deletes the record under `key`; whether there was one.
    pub fn delete(&mut self, entity: &str, key: &str) -> Result<bool, StorageError> {
        self.entity(entity)?;
        check_key(key)?;
        Ok(self
            .records
            .get_mut(entity)
            .is_some_and(|records| records.remove(key).is_some()))
    }

    /// Deletes every record under `keys`.
    pub fn batch_delete(&mut self, entity: &str, keys: &[String]) -> Result<(), StorageError> {
        check_batch(keys.len())?;
        self.entity(entity)?;
        for key in keys {
            check_key(key)?;
        }
        if let Some(records) = self.records.get_mut(entity) {
            for key in keys {
                records.remove(key);
            }
        }
        Ok(())
    }

    /// One page of `query`'s answer.
    pub fn query(&self, entity: &str, query: &Query) -> Result<Page, StorageError> {
        let declared = self.entity(entity)?;
        let plan = plan(declared, query)?;
        let mut rows: Vec<(&String, &Record)> = self
            .records
            .get(entity)
            .into_iter()
            .flatten()
            .filter(|(key, record)| plan.selects(key, record))
            .collect();
        rows.sort_by(|(ka, ra), (kb, rb)| {
            let position = crate::query::Position {
                value: plan.range.and_then(|r| rb.get(&r.name).cloned()),
                key: (*kb).clone(),
            };
            plan.order(ka, ra, &position)
        });
        rows.truncate(plan.limit + 1);
        let rows = rows
            .into_iter()
            .map(|(key, record)| (key.clone(), record.clone()))
            .collect();
        Ok(plan.page(rows))
    }
}

/// The declared entity called `name`.
pub fn find<'e>(entities: &'e [Entity], name: &str) -> Result<&'e Entity, StorageError> {
    entities.iter().find(|e| e.name == name).ok_or_else(|| {
        let names: Vec<&str> = entities.iter().map(|e| e.name.as_str()).collect();
        StorageError::Undeclared(format!(
            "no entity `{name}` is declared in plugin.yaml's storage.entities ({})",
            if names.is_empty() {
                "it declares none".to_string()
            } else {
                format!("it declares: {}", names.join(", "))
            }
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Attribute, Condition, Index};

    fn store() -> MemoryStore {
        MemoryStore::new(vec![
            Entity::new("employee")
                .with(Attribute::string("dept", 8).required())
                .with(Attribute::integer("age").default_value(json!(30)))
                .with_index(Index::new("by_age", "age").partition(["dept"])),
        ])
    }

    #[test]
    fn a_query_pages_through_250_records_in_index_order() {
        let mut store = store();
        let entries: Vec<(String, Value)> = (0..250)
            .map(|i| (format!("k{i:03}"), json!({"dept": "eng", "age": i % 7})))
            .collect();
        store.batch_set("employee", &entries).unwrap();
        let mut query = Query {
            index: Some("by_age".into()),
            partition: vec![json!("eng")],
            condition: Some(Condition::GreaterOrEqual(json!(2))),
            descending: true,
            limit: Some(30),
            cursor: None,
        };
        let mut seen: Vec<(i64, String)> = Vec::new();
        loop {
            let page = store.query("employee", &query).unwrap();
            seen.extend(
                page.data
                    .iter()
                    .map(|(k, v)| (v["age"].as_i64().unwrap(), k.clone())),
            );
            if !page.has_more {
                assert_eq!(page.end_cursor, None);
                break;
            }
            query.cursor = page.end_cursor;
        }
        let mut want: Vec<(i64, String)> = entries
            .iter()
            .map(|(k, v)| (v["age"].as_i64().unwrap(), k.clone()))
            .filter(|(age, _)| *age >= 2)
            .collect();
        want.sort();
        want.reverse();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_refused_item_leaves_the_batch_unwritten_and_limits_hold() {
        let mut store = store();
        let err = store
            .batch_set(
                "employee",
                &[
                    ("a".into(), json!({"dept": "eng"})),
                    ("b".into(), json!({"dept": "engineering"})),
                ],
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`employee.dept` holds at most 8 bytes; this value has 11"
        );
        assert_eq!(store.get("employee", "a").unwrap(), None);
        let many: Vec<(String, Value)> = (0..1001)
            .map(|i| (format!("k{i}"), json!({"dept": "x"})))
            .collect();
        assert!(matches!(
            store.batch_set("employee", &many),
            Err(StorageError::TooLarge(_))
        ));
        assert!(store.batch_set("employee", &many[..1000]).is_ok());
        let page = store
            .query(
                "employee",
                &Query {
                    limit: Some(5000),
                    ..Query::default()
                },
            )
            .unwrap();
        assert_eq!(page.data.len(), 200, "the limit is capped");
        let other = Query {
            index: Some("by_age".into()),
            partition: vec![json!("x")],
            cursor: page.end_cursor,
            ..Query::default()
        };
        let err = store.query("employee", &other).unwrap_err();
        assert!(
            err.to_string()
                .contains("the cursor does not belong to this query"),
            "{err}"
        );
    }

    #[test]
    fn upgrades_name_the_changes_the_data_must_allow() {
        let old = store().entities;
        let mut new = old.clone();
        new[0].attributes.retain(|a| a.name != "age");
        new[0].attributes[0].length = Some(4);
        new[0] = new[0].clone().with(Attribute::integer("level").required());
        let changes = crate::upgrade::changes(&old, &new);
        let said: Vec<String> = changes.iter().map(|c| c.refusal(2)).collect();
        assert_eq!(
            said,
            [
                "the new version lowers the length of `employee.dept` to 4 bytes, and 2 records of `employee` hold a longer value",
                "the new version drops attribute `employee.age`, which 2 records of `employee` hold",
                "the new version adds `employee.level` as required with no default, and 2 records of `employee` lack it",
            ]
        );
        assert!(crate::upgrade::changes(&old, &old).is_empty());
        assert_eq!(
            crate::upgrade::changes(&old, &[]),
            [crate::upgrade::Change::EntityRemoved {
                entity: "employee".into()
            }]
        );
    }
}
