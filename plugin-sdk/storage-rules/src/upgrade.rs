//! What a new version may change in the storage of the installed one.
//!
//! Adding entities, attributes and indexes is applied at install. Removing
//! an entity or an attribute, changing an attribute's type, shortening a
//! string and adding a required attribute without a default are allowed
//! only while no record would break: the store checks each such change
//! against its data and refuses the upgrade, naming it, when one would.

use crate::{AttributeType, Entity};

/// A change the data must allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The entity is gone: allowed while it has no records.
    EntityRemoved {
        /// The entity.
        entity: String,
    },
    /// The attribute is gone: allowed while no record holds it.
    AttributeRemoved {
        /// The entity.
        entity: String,
        /// The attribute.
        attribute: String,
    },
    /// The attribute has another type: allowed while no record holds it.
    AttributeRetyped {
        /// The entity.
        entity: String,
        /// The attribute.
        attribute: String,
        /// The type it had.
        from: AttributeType,
        /// The type it gets.
        to: AttributeType,
    },
    /// A string's length is lowered: allowed while no value is longer.
    Shortened {
        /// The entity.
        entity: String,
        /// The attribute.
        attribute: String,
        /// The new length, in bytes.
        length: u32,
    },
    /// A required attribute without a default is added: allowed while the
    /// entity has no records (they would lack it).
    RequiredAdded {
        /// The entity.
        entity: String,
        /// The attribute.
        attribute: String,
    },
}

impl Change {
    /// The entity it is about.
    pub fn entity(&self) -> &str {
        match self {
            Change::EntityRemoved { entity }
            | Change::AttributeRemoved { entity, .. }
            | Change::AttributeRetyped { entity, .. }
            | Change::Shortened { entity, .. }
            | Change::RequiredAdded { entity, .. } => entity,
        }
    }

    /// Why the upgrade is refused, when `records` records break it.
    pub fn refusal(&self, records: u64) -> String {
        let held = format!(
            "{records} record{} of `{}`",
            if records == 1 { "" } else { "s" },
            self.entity()
        );
        match self {
            Change::EntityRemoved { entity } => {
                format!("the new version no longer declares entity `{entity}`, which holds {held}")
            }
            Change::AttributeRemoved { entity, attribute } => {
                format!("the new version drops attribute `{entity}.{attribute}`, which {held} hold")
            }
            Change::AttributeRetyped {
                entity,
                attribute,
                from,
                to,
            } => format!(
                "the new version makes `{entity}.{attribute}` {} instead of {}, and {held} \
                 hold a value of it",
                to.as_str(),
                from.as_str()
            ),
            Change::Shortened {
                entity,
                attribute,
                length,
            } => format!(
                "the new version lowers the length of `{entity}.{attribute}` to {length} bytes, \
                 and {held} hold a longer value"
            ),
            Change::RequiredAdded { entity, attribute } => format!(
                "the new version adds `{entity}.{attribute}` as required with no default, and \
                 {held} lack it"
            ),
        }
    }
}

/// The changes from `old` to `new` that the stored data must allow.
pub fn changes(old: &[Entity], new: &[Entity]) -> Vec<Change> {
    let mut out = Vec::new();
    for before in old {
        let Some(after) = new.iter().find(|e| e.name == before.name) else {
            out.push(Change::EntityRemoved {
                entity: before.name.clone(),
            });
            continue;
        };
        for attribute in &before.attributes {
            let entity = before.name.clone();
            let name = attribute.name.clone();
            match after.attribute(&attribute.name) {
                None => out.push(Change::AttributeRemoved {
                    entity,
                    attribute: name,
                }),
                Some(now) if now.kind != attribute.kind => out.push(Change::AttributeRetyped {
                    entity,
                    attribute: name,
                    from: attribute.kind,
                    to: now.kind,
                }),
                Some(now) => {
                    if let (Some(was), Some(length)) = (attribute.length, now.length)
                        && length < was
                    {
                        out.push(Change::Shortened {
                            entity,
                            attribute: name,
                            length,
                        });
                    }
                }
            }
        }
        for attribute in &after.attributes {
            if attribute.required
                && attribute.default.is_none()
                && before
                    .attribute(&attribute.name)
                    .is_none_or(|a| !a.required)
            {
                out.push(Change::RequiredAdded {
                    entity: before.name.clone(),
                    attribute: attribute.name.clone(),
                });
            }
        }
    }
    out
}
