-- Core schema: tenants, people, events and their schedule, bands, taps,
-- the audit trail and the KV-sync outbox. Forward-only.

CREATE EXTENSION IF NOT EXISTS btree_gist; -- exclusion constraint on schedule windows

-- Organisations (tenants). CUSTOMERs belong to exactly one.
CREATE TABLE organizations (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug         text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    mfa_required boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    deleted_by   uuid
);

CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    org_id              uuid REFERENCES organizations (id),
    email               text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role                text NOT NULL CHECK (role IN ('ADMIN', 'CUSTOMER')),
    password_hash       text NOT NULL,
    failed_logins       integer NOT NULL DEFAULT 0,
    locked_until        timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    deactivated_at      timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz,
    deleted_by          uuid,
    -- A CUSTOMER is always inside an organisation.
    CHECK (role = 'ADMIN' OR org_id IS NOT NULL)
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Events. `rev` is bumped by every change that alters routing.
CREATE TABLE events (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES organizations (id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone     text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
    default_url  text CHECK (length(default_url) <= 2048),
    fallback_url text CHECK (length(fallback_url) <= 2048),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'frozen')),
    starts_at    timestamptz,
    ends_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    deleted_by   uuid,
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at),
    -- Lets bands reference (event, org) so a band can never sit in another tenant's event.
    UNIQUE (id, org_id)
);
CREATE INDEX events_org_idx ON events (org_id) WHERE deleted_at IS NULL;

-- Schedule windows (pre-show, live, recap…): never overlapping within an event.
CREATE TABLE event_windows (
    id         uuid PRIMARY KEY,
    event_id   uuid NOT NULL REFERENCES events (id),
    label      text NOT NULL DEFAULT '' CHECK (length(label) <= 100),
    url        text NOT NULL CHECK (length(url) <= 2048),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    EXCLUDE USING gist (event_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
);

-- Bands. The id is the canonical (upper-case) band id and stays reserved forever.
CREATE TABLE bands (
    band_id      text PRIMARY KEY CHECK (band_id ~ '^[A-Z0-9_-]{4,32}$'),
    event_id     uuid NOT NULL,
    org_id       uuid NOT NULL,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'lost')),
    override_url text CHECK (length(override_url) <= 2048),
    label        text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    deleted_by   uuid,
    FOREIGN KEY (event_id, org_id) REFERENCES events (id, org_id)
);
CREATE INDEX bands_event_idx ON bands (event_id, band_id) WHERE deleted_at IS NULL;

-- Raw taps, partitioned by day on tap time so retention drops whole days.
-- The key includes the tap id (minted at the edge): redelivered taps are no-ops.
CREATE TABLE tap_logs (
    id          uuid NOT NULL,
    band_id     text NOT NULL,
    event_id    uuid,
    org_id      uuid,
    tapped_at   timestamptz NOT NULL,
    outcome     text NOT NULL,
    head        boolean NOT NULL DEFAULT false,
    agent       text NOT NULL,
    device      text NOT NULL,
    country     text,
    colo        text,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, tapped_at)
) PARTITION BY RANGE (tapped_at);
-- Catches taps outside every day partition: no tap is ever refused for lack of one.
CREATE TABLE tap_logs_default PARTITION OF tap_logs DEFAULT;
CREATE INDEX tap_logs_event_time_idx ON tap_logs (event_id, tapped_at);

-- Creates the day partitions for [first_day, first_day + days). Rows that
-- already landed in the default partition for such a day are moved into it,
-- so the function never fails on them. Idempotent.
CREATE FUNCTION ensure_tap_partitions(first_day date, days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    name text;
    created integer := 0;
BEGIN
    FOR i IN 0 .. days - 1 LOOP
        d := first_day + i;
        name := format('tap_logs_p%s', to_char(d, 'YYYYMMDD'));
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I (LIKE tap_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        EXECUTE format(
            'WITH moved AS (DELETE FROM tap_logs_default WHERE tapped_at >= %L AND tapped_at < %L RETURNING *) '
            'INSERT INTO %I SELECT * FROM moved',
            d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC', name);
        EXECUTE format(
            'ALTER TABLE tap_logs ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            name, (d::timestamp AT TIME ZONE 'UTC'), ((d + 1)::timestamp AT TIME ZONE 'UTC'));
        created := created + 1;
    END LOOP;
    RETURN created;
END $$;

SELECT ensure_tap_partitions((now() AT TIME ZONE 'UTC')::date - 1, 9);

-- Signed-request nonces seen recently (replay protection for edge → origin calls).
CREATE TABLE signed_nonces (
    nonce   text PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signed_nonces_seen_idx ON signed_nonces (seen_at);

-- Audit trail: append-only and hash-chained. Each row carries an HMAC over
-- the previous row's hash and its own canonical content (computed by the
-- application, which holds the key), so an edit or a deletion is detectable.
CREATE TABLE audit_log (
    seq          bigint PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor_type   text NOT NULL CHECK (actor_type IN ('user', 'cli', 'system', 'edge', 'anonymous')),
    actor_id     uuid,
    actor_label  text NOT NULL,
    org_id       uuid,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text NOT NULL,
    before       jsonb,
    after        jsonb,
    request_id   text,
    ip_hash      text,
    user_agent   text,
    key_id       text NOT NULL,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL
);
CREATE INDEX audit_log_org_at_idx ON audit_log (org_id, at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id);

-- The chain head: locking it serialises audit writers, so the chain is a line.
CREATE TABLE audit_chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint NOT NULL,
    hash      bytea NOT NULL
);
INSERT INTO audit_chain_head (seq, hash) VALUES (0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only, enforced by the database for every role.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- KV-sync outbox: one row per routing change, written in the mutation's
-- transaction, pushed to the edge in `seq` order.
CREATE TABLE kv_outbox (
    seq        bigserial PRIMARY KEY,
    key        text NOT NULL,
    op         jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    done_at    timestamptz
);
CREATE INDEX kv_outbox_pending_idx ON kv_outbox (seq) WHERE done_at IS NULL;
