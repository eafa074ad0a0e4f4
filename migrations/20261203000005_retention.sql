-- Retention: raw taps live 90 days (configurable), then survive only as
-- hourly summaries; every run leaves evidence in job_runs and the audit log;
-- audit rows leave the database only after 13 months and an export.

-- One row per run of a scheduled job (start, end, outcome, counts per step).
CREATE TABLE job_runs (
    id          uuid PRIMARY KEY,
    job         text NOT NULL,
    as_of       timestamptz NOT NULL,
    dry_run     boolean NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    status      text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
    counts      jsonb NOT NULL DEFAULT '{}',
    error       text
);
CREATE INDEX job_runs_job_started_idx ON job_runs (job, started_at DESC);

-- Per event and hour, what the raw taps said before they were dropped.
-- Definitions are those of the analytics module (a tap: a human GET; a
-- repeat: same band within 10 s on the same UTC day).
CREATE TABLE analytics_summary (
    event_id     uuid NOT NULL,
    org_id       uuid,
    hour         timestamptz NOT NULL,
    taps         bigint NOT NULL,
    unique_bands bigint NOT NULL,
    repeats      bigint NOT NULL,
    previewers   bigint NOT NULL,
    bots         bigint NOT NULL,
    head         bigint NOT NULL,
    ios          bigint NOT NULL,
    android      bigint NOT NULL,
    other        bigint NOT NULL,
    -- The hour's top countries by taps: {"GB": 120, "FR": 7}.
    countries    jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (event_id, hour)
);

-- Which bands were tapped on a summarised day (no time, device, place or
-- agent): the least that keeps "unique bands" over a date range exact.
CREATE TABLE analytics_daily_bands (
    event_id uuid NOT NULL,
    day      date NOT NULL,
    band_id  text NOT NULL,
    PRIMARY KEY (event_id, day, band_id)
);

-- Days whose taps are in the summary. Written in the roll-up's transaction,
-- so a day is summarised exactly once; reads take summaries for these days
-- and raw taps for the rest, so nothing is counted twice in between.
CREATE TABLE analytics_summarised_days (
    day           date PRIMARY KEY,
    summarised_at timestamptz NOT NULL,
    hits          bigint NOT NULL
);

-- Exports of old audit rows (`origin-api audit export --before`).
CREATE TABLE audit_exports (
    id          uuid PRIMARY KEY,
    before      timestamptz NOT NULL,
    first_seq   bigint NOT NULL,
    through_seq bigint NOT NULL,
    rows        bigint NOT NULL,
    sha256      text NOT NULL,
    exported_at timestamptz NOT NULL,
    exported_by text NOT NULL
);

-- Where the chain starts once exported rows have been purged: the last purged
-- row's seq and hash. `audit verify` starts after it.
CREATE TABLE audit_chain_anchor (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint NOT NULL,
    hash      bytea NOT NULL,
    moved_at  timestamptz NOT NULL
);
CREATE FUNCTION audit_chain_anchor_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.seq > OLD.seq THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_chain_anchor only moves forward: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_chain_anchor_guard BEFORE UPDATE OR DELETE ON audit_chain_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_chain_anchor_forward_only();

-- The audit log stays append-only, with one narrow exception the database
-- itself checks: a row may be deleted by the retention job (which sets
-- sparkmotion.audit_purge for its transaction) only when it is older than
-- 13 months and covered by an export.
CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('sparkmotion.audit_purge', true) = 'on'
       AND OLD.at < now() - interval '13 months'
       AND OLD.seq <= (SELECT coalesce(max(through_seq), 0) FROM audit_exports) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

-- Per-event analytics read only these columns: with them in the index, a
-- week of an event is an index-only scan instead of thousands of random heap
-- reads across day partitions. It replaces the plain (event_id, tapped_at) index.
CREATE INDEX tap_logs_event_time_covering_idx ON tap_logs (event_id, tapped_at) INCLUDE (band_id, agent, head, device);
DROP INDEX tap_logs_event_time_idx;

-- The dashboard's hourly chart, maintained incrementally: ingest marks the
-- (event, hour) pairs it touches as dirty; a background task recomputes
-- them here. Reads trust only clean stored hours (analytics::hourly_rollup).
CREATE TABLE analytics_hourly (
    event_id     uuid NOT NULL,
    hour         timestamptz NOT NULL,
    taps         bigint NOT NULL,
    unique_bands bigint NOT NULL,
    repeats      bigint NOT NULL,
    excluded     bigint NOT NULL,
    ios          bigint NOT NULL,
    android      bigint NOT NULL,
    other        bigint NOT NULL,
    PRIMARY KEY (event_id, hour)
);
CREATE TABLE analytics_dirty_hours (
    event_id uuid NOT NULL,
    hour     timestamptz NOT NULL,
    PRIMARY KEY (event_id, hour)
);

-- Band ids of purged bands, with the organisation that owned them: another
-- organisation can never register them, so a band cannot silently change owner.
CREATE TABLE reserved_band_ids (
    band_id   text PRIMARY KEY,
    org_id    uuid NOT NULL,
    purged_at timestamptz NOT NULL
);
