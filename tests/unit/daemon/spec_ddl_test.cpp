// The DDL generated from pipeline specs (sink/postgres/spec_ddl.h), without a database: each
// table kind's CREATE TABLE and keys, ADD COLUMN, names PostgreSQL reserves, and the grouping
// per spec. Applying it to a real PostgreSQL is tests/integration/test_spec_migrations.py.
#include "sink/postgres/scd2_dimensions.h"
#include "sink/postgres/spec_ddl.h"
#include "spec/spec_reader.h"
#include "spec/table_schema.h"

#include <gtest/gtest.h>

#include <algorithm>

using namespace starstream::daemon;
using namespace starstream::daemon::postgres;

namespace {

const std::string kShop = R"(pipeline: shop
source: {topics: [shop], format: json}
fields:
  event_id: {pointer: /id, type: uuid, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  store_id: {pointer: /store, type: text, required: true}
  sku: {pointer: /sku, type: text}
  price: {pointer: /price, type: numeric}
  order: {pointer: /order, type: integer}
  device: {pointer: /device, type: text}
event: {id: event_id, time: at}
enrichers:
  calendar: {function: calendar, input: at}
dimensions:
  dim_date: {key: [calendar.date_key]}
  dim_store: {key: [store_id]}
  dim_item: {key: [store_id, sku], attributes: [price], policy: scd2}
facts:
  fact_sale: {grain: event, dimensions: [dim_date, dim_item], columns: [{sale_id: event_id}, order, price]}
  fact_order: {grain: [store_id, order], columns: [store_id, order, price]}
windows:
  win_sales: {tumbling: 1h, group_by: [dim_store, sku], aggregates: {revenue: sum(price)}}
  win_running: {cumulative: {size: 1d, step: 1h}, aggregates: {orders: count}}
  win_visits: {session: {gap: 30m, key: device}, bounds: [visit_start, visit_end], group_by: [dim_store], aggregates: {events: count}}
  win_baskets:
    session: {gap: 10m, key: store_id}
    aggregates: {first_sku: first(sku), last_big: {function: last, of: sku, where: {price: 100}}, spent: sum(price), ordered: any}
)";

/// The statements creating `table` of the spec `yaml` (by default the shop spec), joined by ";\n".
std::string created(const std::string& table, const std::string& yaml = kShop) {
    const spec::PipelineSpec s = spec::parse_pipeline_spec(yaml, "shop.yaml");
    for (const auto& t : spec::table_schemas(s))
        if (t.table == table) {
            std::string out;
            for (const auto& statement : create_table(t)) out += statement.sql + ";\n";
            return out;
        }
    ADD_FAILURE() << "no table " << table;
    return "";
}

}  // namespace

TEST(SpecDdl, DimensionWithASurrogateKey) {
    EXPECT_EQ(created("dim_store"),
              "CREATE TABLE dim_store (\n"
              "    store_key bigint NOT NULL,\n"
              "    store_id text NOT NULL,\n"
              "    CONSTRAINT dim_store_pkey PRIMARY KEY (store_key),\n"
              "    CONSTRAINT dim_store_natural_key UNIQUE (store_id)\n"
              ");\n");
}

TEST(SpecDdl, ScdType1DimensionKeepsTheEventTimeOfItsAttributesAndType0Nothing) {
    std::string yaml = kShop;
    const std::string store = "dim_store: {key: [store_id]}";
    yaml.replace(yaml.find(store), store.size(), "dim_store: {key: [store_id], attributes: [device]}");
    EXPECT_EQ(created("dim_store", yaml),
              "CREATE TABLE dim_store (\n"
              "    store_key bigint NOT NULL,\n"
              "    store_id text NOT NULL,\n"
              "    device text,\n"
              "    attributes_event_time timestamp with time zone,\n"
              "    CONSTRAINT dim_store_pkey PRIMARY KEY (store_key),\n"
              "    CONSTRAINT dim_store_natural_key UNIQUE (store_id)\n"
              ");\n");
    yaml.replace(yaml.find("attributes: [device]}"), 21, "attributes: [device], policy: scd0}");
    EXPECT_EQ(created("dim_store", yaml).find("attributes_event_time"), std::string::npos) << created("dim_store", yaml);
}

TEST(SpecDdl, DimensionWhoseNaturalKeyIsItsKey) {
    // As 001's dim_date: the natural key is the primary key; no second unique index on it.
    EXPECT_EQ(created("dim_date"),
              "CREATE TABLE dim_date (\n"
              "    date_key integer NOT NULL,\n"
              "    CONSTRAINT dim_date_pkey PRIMARY KEY (date_key)\n"
              ");\n");
}

TEST(SpecDdl, ScdType2DimensionKeysEachVersionAndFindsTheCurrentOne) {
    EXPECT_EQ(created("dim_item"),
              "CREATE TABLE dim_item (\n"
              "    item_key bigint NOT NULL,\n"
              "    store_id text NOT NULL,\n"
              "    sku text NOT NULL,\n"
              "    price numeric,\n"
              "    valid_from timestamp with time zone NOT NULL,\n"
              "    valid_to timestamp with time zone NOT NULL,\n"
              "    is_current boolean NOT NULL,\n"
              "    CONSTRAINT dim_item_pkey PRIMARY KEY (item_key),\n"
              "    CONSTRAINT dim_item_natural_key UNIQUE (store_id, sku, valid_from),\n"
              "    CONSTRAINT dim_item_validity CHECK (valid_from < valid_to),\n"
              "    CONSTRAINT dim_item_current_version CHECK (is_current = (valid_to = 'infinity'))\n"
              ");\n"
              "CREATE UNIQUE INDEX dim_item_current ON dim_item (store_id, sku) WHERE is_current;\n");
}

TEST(SpecDdl, FactKeyedByItsGrain) {
    // grain event: the column holding the event id, whatever the fact calls it.
    EXPECT_EQ(created("fact_sale"),
              "CREATE TABLE fact_sale (\n"
              "    date_key integer,\n"
              "    item_key bigint,\n"
              "    sale_id uuid NOT NULL,\n"
              "    \"order\" bigint,\n"
              "    price numeric,\n"
              "    CONSTRAINT fact_sale_pkey PRIMARY KEY (sale_id)\n"
              ");\n");
    EXPECT_NE(created("fact_order").find("CONSTRAINT fact_order_pkey PRIMARY KEY (store_id, \"order\")"), std::string::npos) << created("fact_order");
}

TEST(SpecDdl, WindowTablesKeyedByWindowAndGroup) {
    EXPECT_EQ(created("win_sales"),
              "CREATE TABLE win_sales (\n"
              "    window_start timestamp with time zone NOT NULL,\n"
              "    window_end timestamp with time zone NOT NULL,\n"
              "    store_key bigint NOT NULL,\n"
              "    sku text NOT NULL,\n"
              "    revenue numeric,\n"
              "    CONSTRAINT win_sales_pkey PRIMARY KEY (window_start, store_key, sku)\n"
              ");\n");
    // Cumulative windows share their start; a session's end moves while it grows (as 005's win_visits).
    EXPECT_NE(created("win_running").find("PRIMARY KEY (window_start, window_end)"), std::string::npos) << created("win_running");
    EXPECT_NE(created("win_visits").find("PRIMARY KEY (device, store_key, visit_start)"), std::string::npos) << created("win_visits");
}

TEST(SpecDdl, SessionTablesKeepTheirMergeState) {
    // last_event_time: what a record within the gap extends; a filtered last(x)'s time: when
    // its value was seen (an unfiltered first(x) is at the session's start).
    EXPECT_EQ(created("win_baskets"),
              "CREATE TABLE win_baskets (\n"
              "    window_start timestamp with time zone NOT NULL,\n"
              "    window_end timestamp with time zone NOT NULL,\n"
              "    last_event_time timestamp with time zone NOT NULL,\n"
              "    store_id text NOT NULL,\n"
              "    first_sku text,\n"
              "    last_big text,\n"
              "    last_big_event_time timestamp with time zone,\n"
              "    spent numeric,\n"
              "    ordered boolean,\n"
              "    CONSTRAINT win_baskets_pkey PRIMARY KEY (store_id, window_start)\n"
              ");\n");
}

TEST(SpecDdl, AggregatesKeepTheirMergeStateNextToTheirValue) {
    // avg: the sum (typed as sum(x) would be) and the count; first/last: the chosen event's time and id.
    std::string yaml = kShop;
    const std::string running = "aggregates: {orders: count}";
    yaml.replace(yaml.find(running), running.size(),
                 "aggregates: {avg_order: avg(order), first_sku: first(sku), last_price: last(price), returned: {function: any, where: {sku: r1}}}");
    const spec::PipelineSpec s = spec::parse_pipeline_spec(yaml, "shop.yaml");
    std::string sql;
    for (const auto& t : spec::table_schemas(s))
        if (t.table == "win_running") sql = create_table(t).at(0).sql;
    EXPECT_EQ(sql,
              "CREATE TABLE win_running (\n"
              "    window_start timestamp with time zone NOT NULL,\n"
              "    window_end timestamp with time zone NOT NULL,\n"
              "    avg_order numeric,\n"
              "    avg_order_sum bigint,\n"
              "    avg_order_count bigint,\n"
              "    first_sku text,\n"
              "    first_sku_event_time timestamp with time zone,\n"
              "    last_price numeric,\n"
              "    last_price_event_time timestamp with time zone,\n"
              "    returned boolean,\n"
              "    CONSTRAINT win_running_pkey PRIMARY KEY (window_start, window_end)\n"
              ")");
}

TEST(SpecDdl, AddColumnIsNullable) {
    const MissingColumn m{"shop", "shop.yaml", "dim_item", "public.dim_item", {"color", "text", true}};
    const SpecStatement s = add_column(m);
    EXPECT_EQ(s.target, "dim_item.color");
    EXPECT_EQ(s.sql, "ALTER TABLE public.dim_item ADD COLUMN color text");
    EXPECT_EQ(add_column({"shop", "shop.yaml", "win_sales", "shop.win_sales", {"end", "bigint", false}}).sql,
              "ALTER TABLE shop.win_sales ADD COLUMN \"end\" bigint");
}

TEST(SpecDdl, ReservedNamesAreQuotedOthersAreNot) {
    EXPECT_EQ(sql_identifier("order"), "\"order\"");
    EXPECT_EQ(sql_identifier("user"), "\"user\"");
    EXPECT_EQ(sql_identifier("timestamp"), "timestamp");  // a column may be so named (lab_events' is)
    EXPECT_EQ(sql_identifier("dim_store"), "dim_store");
}

TEST(SpecDdl, OneMigrationPerSpecTablesBeforeColumns) {
    const spec::PipelineSpec s = spec::parse_pipeline_spec(kShop, "shop.yaml");
    SchemaDifference d;
    d.columns.push_back({"other", "other.yaml", "dim_x", "public.dim_x", {"a", "text", false}});
    d.tables.push_back({"shop", "shop.yaml", spec::table_schemas(s)[1]});
    d.columns.push_back({"shop", "shop.yaml", "dim_y", "public.dim_y", {"b", "bigint", false}});
    d.tables.push_back({"shop", "shop.yaml", spec::table_schemas(s)[2]});
    const auto migrations = spec_ddl(d);
    ASSERT_EQ(migrations.size(), 2u);
    EXPECT_EQ(migrations[0].pipeline, "shop");
    ASSERT_EQ(migrations[0].statements.size(), 4u);  // dim_store; dim_item and its current index; dim_y.b
    EXPECT_EQ(migrations[0].statements[0].target, "dim_store");
    EXPECT_EQ(migrations[0].statements[2].target, "dim_item");
    EXPECT_EQ(migrations[0].statements[3].target, "dim_y.b");
    EXPECT_EQ(migrations[1].file, "other.yaml");
    EXPECT_TRUE(spec_ddl(SchemaDifference{}).empty());
}

TEST(SpecDdl, AGrainNoColumnHoldsIsRefused) {
    std::string yaml = kShop;
    yaml.replace(yaml.find("columns: [store_id, order, price]"), 33, "columns: [store_id, price]");
    try {
        spec::parse_pipeline_spec(yaml, "shop.yaml");
        ADD_FAILURE() << "parsed";
    } catch (const spec::SpecError& e) {
        EXPECT_EQ(e.key(), "facts.fact_order.grain") << e.what();
        EXPECT_NE(std::string(e.what()).find("'order' is in no column"), std::string::npos) << e.what();
    }
}

TEST(SpecDdl, ANewScdType2DimensionGetsItsMergeState) {
    const spec::PipelineSpec s = spec::parse_pipeline_spec(R"(pipeline: lab
source: {topics: [lab], format: json}
fields:
  event_id: {pointer: /event_id, type: uuid, required: true}
  item_id: {pointer: /item_id, type: text, required: true}
  price: {pointer: /price, type: numeric}
  at: {pointer: /at, type: timestamp, required: true}
event: {id: event_id, time: at}
dimensions:
  dim_item: {key: [item_id], attributes: [price], policy: scd2}
facts:
  fact_lab: {grain: event, dimensions: [dim_item], columns: [event_id, {seen_at: at}]}
)",
                                                           "lab.yaml");
    SchemaDifference d;
    for (const auto& t : spec::table_schemas(s)) d.tables.push_back({"lab", "lab.yaml", t});
    const auto migrations = spec_ddl(d, scd2_dimensions({s}));
    ASSERT_EQ(migrations.size(), 1u);
    std::vector<std::string> sql;
    for (const auto& st : migrations[0].statements) sql.push_back(st.sql);
    ASSERT_EQ(sql.size(), 6u);  // dim_item and its current index, fact_lab, then the merge's state
    EXPECT_EQ(sql[3], "CREATE SEQUENCE dim_item_item_key_seq");
    EXPECT_EQ(sql[4],
              "CREATE TABLE dim_item_observation (\n"
              "    item_id text NOT NULL,\n"
              "    observed_at timestamp with time zone NOT NULL,\n"
              "    price numeric NOT NULL,\n"
              "    CONSTRAINT dim_item_observation_pkey PRIMARY KEY (item_id, observed_at, price)\n"
              ")");
    EXPECT_EQ(sql[5], "CREATE INDEX IF NOT EXISTS fact_lab_item_key_time ON fact_lab (item_key, seen_at)");
}

TEST(SpecDdl, EarliestAttributeDimensionKeepsItsState) {
    const spec::PipelineSpec s = spec::parse_pipeline_spec(R"(pipeline: shop
source: {topics: [shop]}
fields:
  id: {pointer: /id, type: uuid, required: true}
  at: {pointer: /at, type: timestamp, required: true}
  store_id: {pointer: /store, type: text, required: true}
  url: {pointer: /url, type: text}
enrichers:
  page: {function: registrable_domain, input: url}
event: {id: id, time: at}
dimensions:
  dim_store: {key: [store_id], attributes: [page.domain, page.country_code], policy: earliest}
  dim_seen: {key: [url], policy: earliest}
facts:
  fact_visit: {grain: event, dimensions: [dim_store, dim_seen], columns: [id]}
)",
                                                           "shop.yaml");
    std::string out;
    for (const auto& t : spec::table_schemas(s))
        if (t.kind == spec::TableKind::dimension)
            for (const auto& statement : create_table(t)) out += statement.sql + ";\n";
    EXPECT_EQ(out,
              "CREATE TABLE dim_store (\n"
              "    store_key bigint NOT NULL,\n"
              "    store_id text NOT NULL,\n"
              "    domain text,\n"
              "    country_code text,\n"
              "    domain_seen timestamp with time zone,\n"
              "    first_seen timestamp with time zone NOT NULL,\n"
              "    last_seen timestamp with time zone NOT NULL,\n"
              "    CONSTRAINT dim_store_pkey PRIMARY KEY (store_key),\n"
              "    CONSTRAINT dim_store_natural_key UNIQUE (store_id)\n"
              ");\n"
              "CREATE TABLE dim_seen (\n"
              "    seen_key bigint NOT NULL,\n"
              "    url text NOT NULL,\n"
              "    first_seen timestamp with time zone NOT NULL,\n"
              "    last_seen timestamp with time zone NOT NULL,\n"
              "    CONSTRAINT dim_seen_pkey PRIMARY KEY (seen_key),\n"
              "    CONSTRAINT dim_seen_natural_key UNIQUE (url)\n"
              ");\n");
}

TEST(SpecDdl, AGlobalWindowIsKeyedByItsGroupsAndItsViewDerivesColumnsAndASegment) {
    std::string yaml = kShop + R"yaml(  win_buyer:
    global: true
    group_by: [store_id]
    aggregates: {sales: count, top_sku: mode(sku)}
    view: buyer
    derived: {busy: "sales > 100"}
    segments:
      column: tier
      rules:
        - {name: "Shop's best", when: "busy and top_sku is not null"}
        - {name: Other}
)yaml";
    const spec::PipelineSpec s = spec::parse_pipeline_spec(yaml, "shop.yaml");
    std::string table;
    for (const auto& t : spec::table_schemas(s))
        if (t.table == "win_buyer") table = create_table(t).at(0).sql;
    EXPECT_EQ(table,
              "CREATE TABLE win_buyer (\n"
              "    store_id text NOT NULL,\n"
              "    sales bigint,\n"
              "    top_sku text,\n"
              "    CONSTRAINT win_buyer_pkey PRIMARY KEY (store_id)\n"
              ")");
    // mode's occurrence table: the window's key, the value, how many counted records carried it.
    EXPECT_EQ(create_table(spec::mode_count_tables(s).at(0)).at(0).sql,
              "CREATE TABLE win_buyer_top_sku_counts (\n"
              "    store_id text NOT NULL,\n"
              "    value text NOT NULL,\n"
              "    occurrences bigint NOT NULL,\n"
              "    CONSTRAINT win_buyer_top_sku_counts_pkey PRIMARY KEY (store_id, value)\n"
              ")");
    const auto view = create_view(s, s.windows.back());
    ASSERT_EQ(view.size(), 2u);
    EXPECT_EQ(view[0].sql, "DROP VIEW IF EXISTS buyer");
    EXPECT_EQ(view[1].sql,
              "CREATE VIEW buyer AS\n"
              "SELECT d.*, CASE WHEN (busy and top_sku is not null) THEN 'Shop''s best' ELSE 'Other' END AS tier\n"
              "FROM (SELECT t.store_id, t.sales, t.top_sku, (sales > 100) AS busy FROM win_buyer t) d");
    // Each expression is checked by PostgreSQL first, where the spec gives it.
    ASSERT_EQ(view[1].checks.size(), 2u);
    EXPECT_EQ(view[1].checks[0].sql, "SELECT (sales > 100) FROM win_buyer t LIMIT 0");
    EXPECT_EQ(view[1].checks[0].key, "windows.win_buyer.derived.busy");
    const int shop_lines = static_cast<int>(std::count(kShop.begin(), kShop.end(), '\n'));  // win_buyer starts on the next line
    EXPECT_EQ(view[1].checks[0].line, shop_lines + 6);
    EXPECT_EQ(view[1].checks[1].key, "windows.win_buyer.segments.rules[0].when");
    EXPECT_EQ(view[1].checks[1].line, shop_lines + 10);
    EXPECT_TRUE(create_view(s, s.windows.front()).empty());
}
