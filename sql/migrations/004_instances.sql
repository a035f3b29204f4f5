-- Issue 12: several instances in one consumer group, records Postgres rejects, offset gaps.

-- Batch identity unique across instances and across retries: each batch takes one value from
-- this sequence before its first attempt and keeps it, so a COMMIT whose reply was lost can be
-- recognised afterwards (the batch row exists or it does not). Sequences are not
-- transactional: a rolled-back attempt leaves a gap, which is harmless.
CREATE SEQUENCE starstream.batch_id_seq;
SELECT setval('starstream.batch_id_seq', (SELECT coalesce(max(batch_id), 0) + 1 FROM starstream.batch), false);

-- Which instance (instance.id, default hostname-pid) wrote a batch; NULL before this migration.
ALTER TABLE starstream.batch ADD COLUMN instance_id text;

-- The instance that claimed the partition last (with its epoch). A batch fenced on a partition
-- whose owner is still this instance was fenced by an operator's reset: it is claimed again.
ALTER TABLE starstream.progress
    ADD COLUMN owner_instance text,
    ADD COLUMN claimed_at timestamptz;

-- A record Postgres rejected (data or constraint error), found by bisection: the SQLSTATE
-- that decided it. NULL for records the decoder refused.
ALTER TABLE starstream.dead_letter ADD COLUMN sqlstate text;

-- Every time a checkpoint was outside the partition's log (retention deleted the records, or
-- the topic was recreated), recorded in the transaction of the first batch after it.
CREATE TABLE starstream.offset_gap (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    from_offset  bigint NOT NULL,               -- the checkpoint that was out of range
    to_offset    bigint NOT NULL,               -- where consumption resumed (the policy's choice)
    log_start    bigint,                        -- the partition's log start offset when detected
    log_end      bigint,                        -- its high watermark when detected
    policy       text NOT NULL,                 -- source.offset_out_of_range: earliest | latest
    instance_id  text NOT NULL,
    detected_at  timestamptz NOT NULL,
    batch_id     bigint NOT NULL,
    PRIMARY KEY (topic, partition, from_offset, detected_at)
);
