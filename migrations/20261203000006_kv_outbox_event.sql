-- The event each outbox row concerns (the event's own record, or one of its
-- bands, put or deleted), so an event's pages can tell whether the edge has
-- every change to it. A band deletion's op names only the band, so the event
-- is recorded beside it when the row is written. NULL: no event (none known).
ALTER TABLE kv_outbox ADD COLUMN event_id uuid;

-- Rows still waiting when this runs: the event from the op, or for a band
-- deletion from the (soft-deleted) band. Delivered rows no longer matter.
UPDATE kv_outbox o
   SET event_id = coalesce(
           (o.op -> 'put_event' ->> 'event_id')::uuid,
           (o.op -> 'delete_event' ->> 'event_id')::uuid,
           (o.op -> 'put_band' -> 'record' ->> 'event_id')::uuid,
           (SELECT b.event_id FROM bands b WHERE b.band_id = o.op -> 'delete_band' ->> 'band_id'))
 WHERE o.done_at IS NULL;

-- What the dashboard asks on every event page: this event's rows not yet delivered.
CREATE INDEX kv_outbox_pending_event_idx ON kv_outbox (event_id) WHERE done_at IS NULL;
