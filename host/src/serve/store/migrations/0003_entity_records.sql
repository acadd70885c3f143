-- Entity storage of plugin instances (docs/storage.md): one table keyed by
-- instance. Keys order by their bytes (collation "C"), as in SQLite; the
-- indexes plugins declare are made by op at install, on expressions of
-- `value`, and shared by every instance that declares the same one.
CREATE TABLE op_entity_records (
    instance TEXT NOT NULL,
    entity TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value JSONB NOT NULL,
    PRIMARY KEY (instance, entity, key)
);

-- The declarations each instance's storage was last prepared for: what an
-- upgrade is checked against.
CREATE TABLE op_entity_declarations (
    instance TEXT PRIMARY KEY,
    entities JSONB NOT NULL
);
