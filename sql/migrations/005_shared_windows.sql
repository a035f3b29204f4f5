-- Windowed tables shared by every instance (replaces 003's per-partition rows and state blobs).
--
-- One row per window and key for the whole topic, merged additively by each batch from its
-- partial aggregates under one advisory lock (pg_advisory_xact_lock(hashtext('starstream.windows')),
-- daemon/sink/postgres/window_lock.h), whatever partition or instance the events came from.
-- Finality is no longer stored: it is derived from the topic's window watermark (the view
-- starstream.window_watermark), so a window turns final without being rewritten.
--
-- Upgrade: the new tables are rebuilt from fact_event by starstream.rebuild_windows() at the end
-- of this migration, with the default visit gap (30 min). With another windows.visit_gap_ms run
-- `starstreamd rebuild-windows` afterwards. starstream.late_event is kept: the events listed
-- there for a table stay out of it, as they were. Records that policy `drop` discarded are not
-- listed anywhere, so a rebuild counts them.
--
-- Every bucket is computed on Unix epoch arithmetic and intervals in hours, minutes and seconds:
-- nothing here depends on the session's TimeZone.

DROP VIEW trending_products;
DROP VIEW hourly_product_views;
DROP TABLE win_hourly_product_views, win_product_view_panes, win_visits, starstream.window_state;

-- Hourly product detail views per product, store and visitor country: tumbling 1 h.
CREATE TABLE win_hourly_product_views (
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    product_key     bigint NOT NULL,
    store_key       bigint NOT NULL,
    location_key    bigint NOT NULL,
    views           bigint NOT NULL,
    visitors        bigint NOT NULL,            -- distinct device ids (exact: see the next table)
    PRIMARY KEY (window_start, product_key, store_key, location_key)
);

-- Exact distinct visitors: one row per (hour cell, device). A batch adds to `visitors` only the
-- devices it inserts here for the first time. Rows of windows past allowed lateness are pruned
-- by the writer (no late record can reach them any more).
CREATE TABLE starstream.win_hourly_product_visitor (
    window_start    timestamptz NOT NULL,
    product_key     bigint NOT NULL,
    store_key       bigint NOT NULL,
    location_key    bigint NOT NULL,
    device_id       text NOT NULL,
    PRIMARY KEY (window_start, product_key, store_key, location_key, device_id)
);

-- Trending products: 5-minute panes of product detail views per product, summed into the 12
-- hopping 1 h windows containing each pane by the view trending_products (1/12 of the rows of
-- storing every window: "No pane, no gain", Li et al., SIGMOD Record 2005).
CREATE TABLE win_product_view_panes (
    window_start    timestamptz NOT NULL,       -- the pane
    window_end      timestamptz NOT NULL,
    product_key     bigint NOT NULL,
    views           bigint NOT NULL,
    PRIMARY KEY (window_start, product_key)
);

-- Visits: session windows per device (gap windows.visit_gap_ms, default 30 min). A late event
-- that joins two visits merges them into one row.
CREATE TABLE win_visits (
    device_id        text NOT NULL,
    visit_start      timestamptz NOT NULL,      -- first event
    visit_end        timestamptz NOT NULL,      -- last event + gap (the session window's end)
    last_event_time  timestamptz NOT NULL,
    events           bigint NOT NULL,
    product_views    bigint NOT NULL,           -- view_product_detail events with a product
    first_url        text NOT NULL,             -- smallest current_url ('' for none) at the first event time
    last_url         text NOT NULL,             -- largest current_url at the last event time
    reached_checkout boolean NOT NULL,          -- a checkout_success event in the visit
    PRIMARY KEY (device_id, visit_start)
);

-- Until now a batch recorded its own instance's watermark, which ran to the wall clock when that
-- instance's partitions were idle while another instance still had backlog: as the floor of the
-- window watermark below, it would make that backlog late. From now on the column records the
-- window watermark a batch judged lateness against.
UPDATE starstream.batch SET watermark = NULL WHERE watermark IS NOT NULL;

-- max(watermark) below reads the index's end instead of every batch.
CREATE INDEX ON starstream.batch (watermark);

-- The window watermark: the minimum over every partition's committed watermark (NULL while any
-- claimed partition has none: nothing is final, nothing late), never below the highest watermark
-- a batch has judged lateness against (starstream.batch.watermark), so it never goes back.
CREATE VIEW starstream.window_watermark AS SELECT greatest(
    (SELECT CASE WHEN count(*) = count(watermark) THEN min(watermark) END FROM starstream.progress),
    (SELECT max(watermark) FROM starstream.batch)) AS watermark;

-- is_final: the window watermark passed the window's end; until then the row can grow.
CREATE VIEW hourly_product_views AS
SELECT h.window_start, h.window_end, h.product_key, h.store_key, h.location_key, h.views, h.visitors,
       coalesce(h.window_end <= w.watermark, false) AS is_final
FROM win_hourly_product_views h
CROSS JOIN starstream.window_watermark w;

-- The hopping windows (1 h every 5 min) whose end the window watermark has passed, i.e. whose
-- 12 panes are all final.
CREATE VIEW trending_products AS
SELECT w.window_start, w.window_start + interval '1 hour' AS window_end, p.product_key, sum(p.views)::bigint AS views
FROM win_product_view_panes p
CROSS JOIN LATERAL generate_series(p.window_start - interval '55 minutes', p.window_start, interval '5 minutes') AS w(window_start)
WHERE w.window_start + interval '1 hour' <= (SELECT watermark FROM starstream.window_watermark)
GROUP BY w.window_start, p.product_key;

CREATE VIEW visits AS
SELECT v.device_id, v.visit_start, v.visit_end, v.last_event_time, v.events, v.product_views, v.first_url, v.last_url,
       v.reached_checkout, coalesce(v.visit_end <= w.watermark, false) AS is_final
FROM win_visits v
CROSS JOIN starstream.window_watermark w;

-- Recomputes the four windowed tables from fact_event (every counted event), leaving out, per
-- table, the events starstream.late_event lists for it (the table's late policy dead-lettered
-- them). Takes the window writer's advisory lock, so no batch merges into the tables meanwhile;
-- truncates them, so run it inside one transaction (`starstreamd rebuild-windows` does, and
-- prints the row counts). visit_gap: the session gap, windows.visit_gap_ms of the writer.
-- Call it at READ COMMITTED (the default): each statement then reads fact_event as of after the
-- lock, facts of the batch that held it included; a REPEATABLE READ snapshot could predate them.
CREATE FUNCTION starstream.rebuild_windows(visit_gap interval DEFAULT '30 minutes') RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    -- The gap as plain seconds: '1 day' would otherwise be a calendar day in the session TimeZone.
    gap constant interval := make_interval(secs => extract(epoch FROM visit_gap));
BEGIN
    IF visit_gap IS NULL OR gap <= interval '0' THEN
        RAISE EXCEPTION 'visit gap must be positive, got %', visit_gap USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('starstream.windows'));
    TRUNCATE win_hourly_product_views, starstream.win_hourly_product_visitor, win_product_view_panes, win_visits;

    -- Product detail views (view_product_detail events with a product), with their hour (UTC:
    -- epoch arithmetic) and 5-minute pane, and whether each table dead-lettered them.
    CREATE TEMP TABLE rebuild_product_view ON COMMIT DROP AS
    SELECT to_timestamp(floor(extract(epoch FROM f.event_time) / 3600) * 3600) AS hour_start,
           to_timestamp(floor(extract(epoch FROM f.event_time) / 300) * 300) AS pane_start,
           f.product_key, f.store_key, f.location_key, f.device_id,
           EXISTS (SELECT 1 FROM starstream.late_event l
                   WHERE l.operator = 'win_hourly_product_views' AND l.kafka_topic = f.kafka_topic
                     AND l.kafka_partition = f.kafka_partition AND l.kafka_offset = f.kafka_offset) AS late_hourly,
           EXISTS (SELECT 1 FROM starstream.late_event l
                   WHERE l.operator = 'win_product_view_panes' AND l.kafka_topic = f.kafka_topic
                     AND l.kafka_partition = f.kafka_partition AND l.kafka_offset = f.kafka_offset) AS late_pane
    FROM fact_event f
    JOIN dim_collection c ON c.collection_key = f.collection_key
    WHERE c.collection = 'view_product_detail' AND f.product_key IS NOT NULL;

    INSERT INTO win_hourly_product_views
    SELECT v.hour_start, v.hour_start + interval '1 hour', v.product_key, v.store_key, v.location_key,
           count(*), count(DISTINCT v.device_id)
    FROM rebuild_product_view v
    WHERE NOT v.late_hourly
    GROUP BY v.hour_start, v.product_key, v.store_key, v.location_key;

    INSERT INTO starstream.win_hourly_product_visitor
    SELECT DISTINCT v.hour_start, v.product_key, v.store_key, v.location_key, v.device_id
    FROM rebuild_product_view v
    WHERE NOT v.late_hourly;

    INSERT INTO win_product_view_panes
    SELECT v.pane_start, v.pane_start + interval '5 minutes', v.product_key, count(*)
    FROM rebuild_product_view v
    WHERE NOT v.late_pane
    GROUP BY v.pane_start, v.product_key;

    DROP TABLE rebuild_product_view;  -- so that a second call in the same transaction works

    -- Visits: every event of a device, one row per distinct event time first (so ties need no
    -- order), then a new visit wherever the previous time plus the gap is not after this one.
    INSERT INTO win_visits
    WITH moment AS (
        SELECT f.device_id, f.event_time, count(*) AS events,
               count(*) FILTER (WHERE c.collection = 'view_product_detail' AND f.product_key IS NOT NULL) AS product_views,
               min(coalesce(f.current_url, '') COLLATE "C") AS min_url, max(coalesce(f.current_url, '') COLLATE "C") AS max_url,
               bool_or(c.collection = 'checkout_success') AS checkout
        FROM fact_event f
        JOIN dim_collection c ON c.collection_key = f.collection_key
        WHERE NOT EXISTS (SELECT 1 FROM starstream.late_event l
                          WHERE l.operator = 'win_visits' AND l.kafka_topic = f.kafka_topic
                            AND l.kafka_partition = f.kafka_partition AND l.kafka_offset = f.kafka_offset)
        GROUP BY f.device_id, f.event_time
    ), starts AS (
        SELECT m.*, CASE WHEN lag(m.event_time) OVER w + gap <= m.event_time THEN 1 ELSE 0 END AS starts_visit
        FROM moment m
        WINDOW w AS (PARTITION BY m.device_id ORDER BY m.event_time)
    ), numbered AS (
        SELECT s.*, sum(s.starts_visit) OVER (PARTITION BY s.device_id ORDER BY s.event_time) AS visit
        FROM starts s
    )
    SELECT n.device_id, min(n.event_time), max(n.event_time) + gap, max(n.event_time), sum(n.events), sum(n.product_views),
           (array_agg(n.min_url ORDER BY n.event_time))[1], (array_agg(n.max_url ORDER BY n.event_time DESC))[1], bool_or(n.checkout)
    FROM numbered n
    GROUP BY n.device_id, n.visit;
END
$$;

COMMENT ON FUNCTION starstream.rebuild_windows(interval) IS
    'Recomputes win_hourly_product_views (+ starstream.win_hourly_product_visitor), win_product_view_panes and win_visits from fact_event, without the events starstream.late_event lists for each; `starstreamd rebuild-windows` runs it with windows.visit_gap_ms';

SELECT starstream.rebuild_windows();
