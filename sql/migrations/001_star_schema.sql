-- The product_view star schema and starstream's bookkeeping tables.
-- Grain of fact_event: one row per tracked event, keyed by the event id (the dedupe key).
-- Surrogate keys are deterministic 64-bit hashes (XXH3) of the natural key, computed by the
-- daemon; every natural key is UNIQUE so that a hash collision fails loudly instead of merging.

CREATE SCHEMA IF NOT EXISTS starstream;

-- Dimensions -------------------------------------------------------------------------------

CREATE TABLE dim_date (
    date_key      integer PRIMARY KEY,          -- YYYYMMDD
    date          date NOT NULL UNIQUE,
    iso_year      smallint NOT NULL,
    iso_week      smallint NOT NULL,
    weekday       smallint NOT NULL,            -- ISO: 1 = Monday .. 7 = Sunday
    weekday_name  text NOT NULL,
    is_weekend    boolean NOT NULL,
    month         smallint NOT NULL,
    month_name    text NOT NULL,
    quarter       smallint NOT NULL,
    year          smallint NOT NULL
);

CREATE TABLE dim_store (
    store_key     bigint PRIMARY KEY,
    store_id      text NOT NULL UNIQUE,         -- natural key, as sent ("6")
    domain        text,                         -- host of the first URL seen for the store
    country_code  text,                         -- from the domain's TLD (enrichment)
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL
);

CREATE TABLE dim_product (
    product_key   bigint PRIMARY KEY,
    product_id    text NOT NULL UNIQUE,
    product_url   text,                         -- first URL the product was seen on
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL
);

CREATE TABLE dim_location (
    location_key  bigint PRIMARY KEY,
    country_code  text NOT NULL,                -- ISO 3166 alpha-2; 'ZZ' = unknown
    country_name  text NOT NULL,
    region        text NOT NULL DEFAULT '',
    city          text NOT NULL DEFAULT '',
    UNIQUE (country_code, region, city)
);

CREATE TABLE dim_user_agent (
    user_agent_key   bigint PRIMARY KEY,
    user_agent       text NOT NULL,             -- the raw header; natural key (unique by md5 below)
    browser_family   text,
    browser_version  text,
    os_family        text,
    os_version       text,
    device_family    text,
    device_brand     text,
    device_model     text,
    device_type      text,
    is_bot           boolean
);
CREATE UNIQUE INDEX dim_user_agent_natural_key ON dim_user_agent (md5(user_agent));

CREATE TABLE dim_referrer (
    referrer_key  bigint PRIMARY KEY,
    domain        text NOT NULL UNIQUE,         -- '' = no referrer (direct traffic)
    channel       text                          -- search, social, email, internal, direct, other
);

CREATE TABLE dim_collection (
    collection_key bigint PRIMARY KEY,
    collection     text NOT NULL UNIQUE,        -- the event type
    funnel_stage   text
);

-- Fact -------------------------------------------------------------------------------------
-- No FOREIGN KEY constraints: each would cost an index probe per inserted row. The daemon
-- merges every dimension member in the same transaction before the facts that use it, and the
-- integration tests check that no fact has an orphan key.

CREATE TABLE fact_event (
    event_id        uuid PRIMARY KEY,
    event_time      timestamptz NOT NULL,
    date_key        integer NOT NULL,
    hour            smallint NOT NULL,          -- 0..23 in the reporting time zone (UTC)
    store_key       bigint NOT NULL,
    product_key     bigint,   -- NULL on non-product pages
    location_key    bigint NOT NULL,
    user_agent_key  bigint NOT NULL,
    referrer_key    bigint NOT NULL,
    collection_key  bigint NOT NULL,
    device_id       text NOT NULL,
    customer_id     text,
    ip              inet,
    resolution      text,
    current_url     text,
    options         jsonb,
    kafka_topic     text NOT NULL,              -- lineage
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL
);
CREATE INDEX fact_event_date_key ON fact_event USING brin (date_key);

-- Bookkeeping ------------------------------------------------------------------------------

-- Where each partition stands: its next offset commits in the same transaction as the
-- effects of the messages before it (exactly once). epoch fences concurrent owners.
CREATE TABLE starstream.progress (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint,                        -- NULL: claimed, nothing committed yet
    batch_id     bigint,
    epoch        bigint NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

CREATE TABLE starstream.batch (
    batch_id       bigint PRIMARY KEY,
    records        integer NOT NULL,            -- messages consumed into this batch
    facts_inserted integer NOT NULL,
    duplicates     integer NOT NULL,            -- ids seen before (in this batch or earlier)
    dead_letters   integer NOT NULL,
    min_event_time timestamptz,
    max_event_time timestamptz,
    committed_at   timestamptz NOT NULL DEFAULT clock_timestamp()  -- written just before COMMIT
);

-- Messages that could not be decoded, kept whole with the reason.
CREATE TABLE starstream.dead_letter (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    reason       text NOT NULL,
    payload      bytea NOT NULL,
    kafka_timestamp timestamptz,
    batch_id     bigint NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
