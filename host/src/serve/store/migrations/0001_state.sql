-- op serve's state: what is installed, in which version, enabled or not,
-- and the generation every committed change bumps.

CREATE TABLE op_generation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL CHECK (generation >= 0)
);
INSERT INTO op_generation (generation) VALUES (0);

-- Packages by content hash: the bytes every replica loads.
CREATE TABLE op_packages (
    content_hash text PRIMARY KEY,
    bytes bytea NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);

-- One row per instance: an app_id installed in a team (scope 1) or in the
-- organization (scope 2, no team).
CREATE TABLE op_instances (
    instance_id text PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    app_id text NOT NULL,
    name text NOT NULL,
    version text NOT NULL,
    scope smallint NOT NULL CHECK (scope IN (1, 2)),
    team_uuid text,
    enabled boolean NOT NULL,
    content_hash text NOT NULL REFERENCES op_packages (content_hash),
    installed_at bigint NOT NULL,
    upgraded_at bigint,
    workspace text NOT NULL,
    CHECK ((scope = 1) = (team_uuid IS NOT NULL))
);
CREATE UNIQUE INDEX op_instances_app_team ON op_instances (app_id, coalesce(team_uuid, ''));
