-- The window watermark of each spec pipeline, kept so that it never goes back (DESIGN.md
-- invariant 4). A spec's windows judge lateness and finality against the minimum committed
-- watermark over its topics' partitions (starstream.progress), which is unknown while a partition
-- has none yet: a partition added to a topic, or claimed for the first time, would otherwise make
-- nothing late again until its first batch, letting a record into windows already final. Each
-- batch writing a spec's windows stores the greatest value seen here, under the window merge
-- lock, and judges against the greater of the two. (The compiled product_view pipeline's
-- watermark is floored the same way by starstream.batch.watermark: starstream.window_watermark.)
CREATE TABLE starstream.pipeline_watermark (
    pipeline  text PRIMARY KEY,                -- the spec's `pipeline` name
    watermark timestamptz NOT NULL
);
