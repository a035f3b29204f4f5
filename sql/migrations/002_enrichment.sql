-- Enrichment (issue 3): inferred members, attributes taken from the earliest event that
-- carries them, referrer channels, and the reporting time zone of date_key and hour.

-- A store's domain is the registrable domain of its pages ("shop.de" for www. and staging
-- hosts); country_code is that domain's ccTLD. A store seen only on events without a URL is
-- an inferred member until one arrives.
ALTER TABLE dim_store
    ADD COLUMN domain_seen timestamptz,             -- time of the event the domain came from
    ADD COLUMN is_inferred boolean GENERATED ALWAYS AS (domain IS NULL) STORED;

-- product_url is the canonical URL (no query string: options and tracking parameters) of the
-- earliest event on the product's own page. A product known only from viewing_product_id is
-- inferred until its page is seen.
ALTER TABLE dim_product
    ADD COLUMN product_url_seen timestamptz,        -- time of the event the URL came from
    ADD COLUMN is_inferred boolean GENERATED ALWAYS AS (product_url IS NULL) STORED;

-- One member per registrable domain and channel: mail.google.com (email) and google.com
-- (search) share a domain.
ALTER TABLE dim_referrer DROP CONSTRAINT dim_referrer_domain_key;
UPDATE dim_referrer SET channel = CASE WHEN domain = '' THEN 'direct' ELSE 'other' END WHERE channel IS NULL;
ALTER TABLE dim_referrer ALTER COLUMN channel SET NOT NULL;
ALTER TABLE dim_referrer ADD CONSTRAINT dim_referrer_natural_key UNIQUE (domain, channel);

-- Settings the stored rows depend on. reporting_time_zone: the IANA zone of fact_event's
-- date_key and hour (configuration key time.reporting_time_zone); the daemon refuses to change
-- it while facts exist, since old and new rows would then disagree.
CREATE TABLE starstream.setting (
    name        text PRIMARY KEY,
    value       text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON COLUMN fact_event.date_key IS 'local date (YYYYMMDD) in starstream.setting reporting_time_zone';
COMMENT ON COLUMN fact_event.hour IS 'local hour 0..23 in starstream.setting reporting_time_zone';
