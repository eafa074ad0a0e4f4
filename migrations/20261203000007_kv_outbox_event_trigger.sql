-- During a rolling deploy, replicas still running the code from before
-- 20261203000006 write outbox rows without `event_id`; their changes would
-- not count as "still propagating" on the event's pages. Fill it in from the
-- op, as that migration's backfill did. Current code always sets it.
CREATE FUNCTION kv_outbox_event_of(op jsonb) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (op -> 'put_event' ->> 'event_id')::uuid,
        (op -> 'delete_event' ->> 'event_id')::uuid,
        (op -> 'put_band' -> 'record' ->> 'event_id')::uuid,
        (SELECT b.event_id FROM bands b WHERE b.band_id = op -> 'delete_band' ->> 'band_id'))
$$;

CREATE FUNCTION kv_outbox_fill_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.event_id := kv_outbox_event_of(NEW.op);
    RETURN NEW;
END
$$;

CREATE TRIGGER kv_outbox_fill_event BEFORE INSERT ON kv_outbox
    FOR EACH ROW WHEN (NEW.event_id IS NULL) EXECUTE FUNCTION kv_outbox_fill_event();
