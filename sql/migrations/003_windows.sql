-- Windowed aggregate tables (issue 4), the late-event table and the window operators' state.
--
-- Window operators run per Kafka partition (their state moves with the partition on a
-- rebalance), so each table holds one partial row per partition and window; the views sum the
-- partitions. Events are keyed by device_id, so a device's events share a partition and
-- distinct visitors add up exactly. is_final: the operator watermark passed the window's end;
-- revision counts the row's emissions (1, 2, ...: it depends on batch boundaries, the values do not).

-- Per batch: the operator watermark its windows were advanced to, and its late records by
-- policy over all windowed tables (never silent: starstream.late_event has the dead-lettered ones).
ALTER TABLE starstream.batch
    ADD COLUMN watermark timestamptz,
    ADD COLUMN late_dropped integer NOT NULL DEFAULT 0,
    ADD COLUMN late_dead_lettered integer NOT NULL DEFAULT 0,
    ADD COLUMN late_corrected integer NOT NULL DEFAULT 0;

-- Hourly product detail views per product, store and visitor country: tumbling 1 h, update mode.
CREATE TABLE win_hourly_product_views (
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    product_key     bigint NOT NULL,
    store_key       bigint NOT NULL,
    location_key    bigint NOT NULL,
    kafka_topic     text NOT NULL,
    kafka_partition integer NOT NULL,
    views           bigint NOT NULL,
    visitors        bigint NOT NULL,            -- distinct device ids
    is_final        boolean NOT NULL,
    revision        integer NOT NULL,
    PRIMARY KEY (window_start, product_key, store_key, location_key, kafka_topic, kafka_partition)
);

-- Trending products: product detail views per product in hopping windows of 1 h every 5 min,
-- final mode. Stored as 5-minute panes (tumbling 5 min, final mode: a pane is written once,
-- when the watermark passes its end) and summed into the 12 hopping windows that contain each
-- pane by the view trending_products: 1/12 of the rows and state of storing every window
-- ("No pane, no gain", Li et al., SIGMOD Record 2005; bench/results.md, "Windows").
CREATE TABLE win_product_view_panes (
    window_start    timestamptz NOT NULL,       -- the pane
    window_end      timestamptz NOT NULL,
    product_key     bigint NOT NULL,
    kafka_topic     text NOT NULL,
    kafka_partition integer NOT NULL,
    views           bigint NOT NULL,
    is_final        boolean NOT NULL,
    revision        integer NOT NULL,
    PRIMARY KEY (window_start, product_key, kafka_topic, kafka_partition)
);

-- Visits: session windows per device with a 30 min gap, update mode. When a late event joins
-- two visits, the merged-away row is deleted.
CREATE TABLE win_visits (
    device_id        text NOT NULL,
    visit_start      timestamptz NOT NULL,      -- first event
    visit_end        timestamptz NOT NULL,      -- last event + gap (the session window's end)
    kafka_topic      text NOT NULL,
    kafka_partition  integer NOT NULL,
    events           bigint NOT NULL,
    product_views    bigint NOT NULL,           -- view_product_detail events
    first_url        text NOT NULL,
    last_url         text NOT NULL,
    reached_checkout boolean NOT NULL,          -- a checkout_success event in the visit
    is_final         boolean NOT NULL,
    revision         integer NOT NULL,
    PRIMARY KEY (device_id, visit_start, kafka_topic, kafka_partition)
);

CREATE VIEW hourly_product_views AS
SELECT window_start, window_end, product_key, store_key, location_key,
       sum(views)::bigint AS views, sum(visitors)::bigint AS visitors, bool_and(is_final) AS is_final
FROM win_hourly_product_views
GROUP BY window_start, window_end, product_key, store_key, location_key;

-- The hopping windows (1 h every 5 min) whose end the operator watermark of the last batch has
-- passed, i.e. whose 12 panes are all final.
CREATE VIEW trending_products AS
SELECT w.window_start, w.window_start + interval '1 hour' AS window_end, p.product_key, sum(p.views)::bigint AS views
FROM win_product_view_panes p
CROSS JOIN LATERAL generate_series(p.window_start - interval '55 minutes', p.window_start, interval '5 minutes') AS w(window_start)
WHERE w.window_start + interval '1 hour' <= (SELECT watermark FROM starstream.batch WHERE watermark IS NOT NULL ORDER BY batch_id DESC LIMIT 1)
GROUP BY w.window_start, p.product_key;

-- Events that arrived below the operator watermark, per windowed table whose policy is
-- dead-letter: what was not counted there, and why. (They are facts all the same.)
CREATE TABLE starstream.late_event (
    operator        text NOT NULL,              -- the windowed table
    kafka_topic     text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    event_time      timestamptz NOT NULL,
    lateness_ms     bigint NOT NULL,            -- watermark minus event time
    window_start    timestamptz NOT NULL,       -- the (first) window it belonged to
    window_end      timestamptz NOT NULL,
    watermark       timestamptz NOT NULL,       -- the operator watermark at arrival
    batch_id        bigint NOT NULL,
    PRIMARY KEY (operator, kafka_topic, kafka_partition, kafka_offset)
);

-- Window operator state per partition, written in the batch transaction with the offsets.
CREATE TABLE starstream.window_state (
    operator        text NOT NULL,
    kafka_topic     text NOT NULL,
    kafka_partition integer NOT NULL,
    state           bytea NOT NULL,             -- engine encoding (window_state_codec)
    batch_id        bigint NOT NULL,
    PRIMARY KEY (operator, kafka_topic, kafka_partition)
);
-- Rewritten by every batch: compressing it (pglz) cost more than storing it.
ALTER TABLE starstream.window_state ALTER COLUMN state SET STORAGE EXTERNAL;


-- Each partition's event-time watermark commits with its offset, so that a restart (or a new
-- owner) holds the operator watermark where it was instead of starting from nothing.
ALTER TABLE starstream.progress ADD COLUMN watermark timestamptz;
