-- Object storage of plugin instances (docs/storage.md): the files each
-- instance keeps by key, with their media type and size.
CREATE TABLE op_objects (
    instance TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    content_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    size BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, key)
);

-- The secret that signs object addresses, the same for every replica so
-- that any of them honours an address another one handed out.
CREATE TABLE op_url_keys (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    secret BYTEA NOT NULL
);
