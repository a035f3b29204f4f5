-- Migrations generated from pipeline specs (daemon/sink/postgres/spec_migrator.h): every statement
-- starstreamd applied so that the database holds pipelines/*.yaml, with the spec that asked for it.
-- Written under the migration lock, in the transaction of the statement's spec.
CREATE TABLE starstream.spec_migration (
    id          bigserial PRIMARY KEY,
    pipeline    text NOT NULL,                  -- the spec's pipeline name
    spec_file   text NOT NULL,                  -- the file it was read from (pipelines.dir/...)
    target      text NOT NULL,                  -- the table, or table.column, it changed
    statement   text NOT NULL,                  -- as applied
    applied_at  timestamptz NOT NULL DEFAULT now()
);
