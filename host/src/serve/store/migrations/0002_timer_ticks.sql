-- Timer task ticks: one row per (instance, ability, due time), written by
-- the replica that claimed it. The primary key makes a tick run once in all
-- replicas; `finished_at IS NULL` with a live lease says a tick still runs,
-- so that the next one is skipped (and counted, by the replica whose row
-- `skipped` landed).
CREATE TABLE op_timer_ticks (
    instance_id text NOT NULL,
    ability_id text NOT NULL,
    due_ms bigint NOT NULL,
    replica text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL,
    finished_at timestamptz,
    outcome text NOT NULL CHECK (outcome IN ('running', 'ok', 'failed', 'skipped')),
    PRIMARY KEY (instance_id, ability_id, due_ms)
);
CREATE INDEX op_timer_ticks_running ON op_timer_ticks (instance_id, ability_id)
    WHERE finished_at IS NULL;
