"""product_view from its spec (issue 14): the same generated clickstream through the compiled
pipeline (daemon/pipeline/product_view/) into one database and through pipelines/product_view.yaml
run as a spec (daemon/spec/, spec_batch_writer.h; the default, pipelines.compiled=none) into another, each its
own consumer group on the one topic; every dimension table and fact_event must hold the same
rows, column by column (surrogate keys are XXH3 of the natural key on both paths, so they match
too), and the same messages must be dead letters.

The spec runs from a copy of product_view.yaml in a temporary pipelines.dir without its windows
(the windows' own oracle tests run against the spec, the default, and against the compiled pipeline with STARSTREAM_PIPELINES__COMPILED=product_view). The generator writes unkeyed (random partitions), out of order by
up to ten minutes, with duplicates and malformed messages, and corner messages follow. The
compiled daemon reads in large batches, the spec path in small ones with two instances at once,
then one more run: the earliest-attribute dimensions (dim_store, dim_product) must not depend on
arrival order, batch boundaries or instances. They are also checked against an oracle computed
here from the JSONL: per member, the attributes of the earliest event carrying them (ties to the
smaller value), that event's time, and the first and last event times. A second class runs the
earliest policy on a table the generated migrations make, with ties between different values.
"""
import collections
import json
import os
import random
import re
import shutil
import subprocess
import time
import unittest
import uuid

import expectations as expect
import harness

EVENTS = 6000
PARTITIONS = 6
KNOBS = {"seed": 14, "partitioning": "random", "span_seconds": 3600, "out_of_order_seconds": 600,
         "duplicate_share": 0.02, "malformed_share": 0.01}
COMMON = {"source.stop_when_caught_up": "true", "time.allowed_out_of_orderness_ms": 3600 * 1000}
DIMENSIONS = {  # table: natural key columns
    "dim_date": ["date_key"], "dim_store": ["store_id"], "dim_product": ["product_id"],
    "dim_location": ["country_code", "region", "city"], "dim_user_agent": ["user_agent"],
    "dim_referrer": ["domain", "channel"], "dim_collection": ["collection"],
}
TLD_COUNTRY = {"uk": "GB"}


def corner_events(start):
    """Messages the generator does not make, each a rule of the compiled pipeline the spec must
    follow: viewing_product_id on events other than a recommendation click (not their product),
    a click that names its product in product_id, an unknown event type (no funnel stage), no
    page URL, no or no valid IP address, a generic TLD, an upper-case id, options as an object,
    no device id or user agent (a fact with device_id '' and a user agent member ''), two
    events of one store at the same second on different domains (the smaller domain wins), a
    product page read before a click naming the product earlier, and a product only a click names."""
    base = {"time_stamp": start + 60, "ip": "93.184.12.40", "device_id": "d0000000-0000-4000-8000-000000000001",
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", "store_id": "6",
            "current_url": "https://www.shop.de/listing.html", "collection": "view_listing_page"}
    corners = [
        {"collection": "product_detail_recommendation_visible", "product_id": "", "viewing_product_id": "900001",
         "current_url": "https://www.shop.de/ring-900001.html"},
        {"collection": "product_view_all_recommend_clicked", "product_id": "900002", "current_url": "https://www.shop.de/ring-900002.html?x=1"},
        {"collection": "mystery_action"},
        {"current_url": None, "store_id": "9001"},
        {"ip": None, "referrer_url": "", "resolution": ""},
        {"store_id": "9002", "current_url": "https://shop.example.com/a.html", "option": {"alloy": "white"}},
        {"store_id": "9003", "current_url": "https://www.b-shop.de/", "time_stamp": start + 120},
        {"store_id": "9003", "current_url": "https://www.a-shop.fr/", "time_stamp": start + 120},
        {"store_id": "9003", "current_url": "https://www.0-shop.it/", "time_stamp": start + 121},
        {"device_id": None, "user_agent": None, "ip": "not an address"},
        {"device_id": "", "user_agent": "", "ip": "2001:db8::1"},
        {"ip": 7},  # not a string: a dead letter on both paths
        # A product page read before a click that names the product earlier (first_seen widens,
        # the URL stays), and a product only ever named by a click (inferred: no URL).
        {"collection": "view_product_detail", "product_id": "900003", "current_url": "https://www.shop.de/ring-900003.html",
         "time_stamp": start + 90},
        {"collection": "product_view_all_recommend_clicked", "product_id": "", "viewing_product_id": "900003", "time_stamp": start + 30},
        {"collection": "product_view_all_recommend_clicked", "viewing_product_id": "900004"},
    ]
    out = []
    for n, corner in enumerate(corners):
        e = {**base, "id": f"C0FFEE00-0000-4000-8000-{n:012d}", **corner}
        out.append({k: v for k, v in e.items() if v is not None})
    return out


def spec_copy(folder):
    """pipelines/product_view.yaml without its windows, alone in `folder`."""
    with open(os.path.join(harness.SOURCE_DIR, "pipelines", "product_view.yaml")) as f:
        text = f.read()
    text = re.sub(r"\nwindows:\n(.|\n)*", "\n", text)
    assert "windows:" not in text and "fact_event:" in text
    os.makedirs(folder)
    with open(os.path.join(folder, "product_view.yaml"), "w") as f:
        f.write(text)
    return folder


def rows_by_key(dsn, table, key):
    """{natural key: {column: value}} of every row of `table`."""
    out = {}
    with harness.psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        for row in cur.fetchall():
            r = dict(zip(names, row))
            out[tuple(r[k] for k in key)] = r
    return out


def event_product(e):
    """The compiled pipeline's rule: a recommendation click names the viewed product."""
    if e["collection"] == "product_view_all_recommend_clicked" and e.get("viewing_product_id"):
        return e["viewing_product_id"]
    return e.get("product_id") or None


def earliest_members(events, key, value):
    """Per member: (value, its time, first seen, last seen); value of the earliest event that has
    one (ties: the smaller value), None and None when no event has one."""
    out = {}
    for e in events:
        k = key(e)
        if not k:
            continue
        t, v = e["time_stamp"], value(e)
        best_value, best_time, first, last = out.get(k, (None, None, t, t))
        if v and (best_time is None or (t, v) < (best_time, best_value)):
            best_value, best_time = v, t
        out[k] = (best_value, best_time, min(first, t), max(last, t))
    return out


def seconds(ts):
    return None if ts is None else int(ts.timestamp())


class SpecProductView(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-specpv-", PARTITIONS)
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.jsonl = os.path.join(cls.tmp, "events.jsonl")
        start = int(time.time()) - 2 * 3600
        cls.summary = harness.generate(EVENTS, cls.jsonl, brokers=cls.kafka.bootstrap, start_time=start, **KNOBS)
        corners = os.path.join(cls.tmp, "corners.jsonl")
        with open(corners, "w") as f:
            f.write("".join(json.dumps(e) + "\n" for e in corner_events(start)))
        subprocess.run(["kcat", "-P", "-b", cls.kafka.bootstrap, "-t", "product_view", "-p", "0", "-l", corners],
                       check=True, capture_output=True, timeout=120)
        with open(corners, "rb") as f, open(cls.jsonl, "ab") as all_messages:
            all_messages.write(f.read())
        cls.events, cls.malformed = expect.read_jsonl(cls.jsonl)

        cls.compiled = cls.pg.create_database("compiled")
        run = harness.run_daemon(cls.compiled, cls.kafka.bootstrap, group="compiled", **COMMON, **{
            "pipelines.dir": os.path.join(harness.SOURCE_DIR, "pipelines"), "pipelines.compiled": "product_view", "batch.max_records": 2000})
        assert run.returncode == 0, run.stderr[-3000:]

        cls.spec = cls.pg.create_database("spec")
        folder = spec_copy(os.path.join(cls.tmp, "pipelines"))
        keys = {**COMMON, "pipelines.dir": folder, "pipelines.compiled": "none", "batch.max_records": 37,
                "batch.trigger_interval_ms": 50, "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000}
        harness.scale_out(cls.spec, cls.kafka.bootstrap, "spec", keys, 2, "spec-", timeout=600)

    def test_every_dimension_holds_the_same_rows(self):
        for table, key in DIMENSIONS.items():
            with self.subTest(table=table):
                compiled, spec = rows_by_key(self.compiled, table, key), rows_by_key(self.spec, table, key)
                self.assertGreater(len(compiled), 0)
                self.assertEqual(set(spec), set(compiled))
                differing = [(k, compiled[k], spec[k]) for k in compiled if compiled[k] != spec[k]]
                self.assertEqual(differing[:3], [], f"{len(differing)} of {len(compiled)} members differ")

    def test_fact_event_holds_the_same_rows(self):
        compiled, spec = rows_by_key(self.compiled, "fact_event", ["event_id"]), rows_by_key(self.spec, "fact_event", ["event_id"])
        self.assertEqual(len(compiled), len(self.events))
        self.assertEqual(set(spec), set(compiled))
        # Lineage: a message sent twice (to random partitions) keeps the copy that committed
        # first, on either path: its position is order-dependent.
        sent = collections.Counter()
        with open(self.jsonl, "rb") as f:  # the generator's messages and the corners
            for line in f:
                e = expect.parse_event(line.rstrip(b"\n"))
                if e is not None:
                    sent[e["id"].lower()] += 1
        self.assertTrue(any(n > 1 for n in sent.values()))
        for (event_id,), row in compiled.items():
            self.assertEqual(row["kafka_topic"], "product_view")
            if sent[event_id] > 1:
                for rows in (compiled, spec):
                    rows[(event_id,)]["kafka_partition"] = rows[(event_id,)]["kafka_offset"] = None
        differing = [(k, compiled[k], spec[k]) for k in compiled if compiled[k] != spec[k]]
        self.assertEqual(differing[:3], [], f"{len(differing)} of {len(compiled)} facts differ")

    def test_the_same_messages_are_dead_letters(self):
        def letters(dsn):
            return set(harness.query(dsn, "SELECT partition, \"offset\", payload FROM starstream.dead_letter"))
        compiled = letters(self.compiled)
        self.assertEqual(len(compiled), len(self.malformed))
        self.assertEqual({bytes(p) for _, _, p in compiled}, set(self.malformed))
        self.assertEqual({(p, o) for p, o, _ in letters(self.spec)}, {(p, o) for p, o, _ in compiled})

    def test_earliest_attributes_equal_the_oracle(self):
        # Both paths against the brute force: the spec's dim_store and dim_product, and the
        # compiled pipeline's (which the spec must equal).
        stores = earliest_members(self.events, lambda e: e["store_id"], lambda e: expect.registrable_domain(expect.host(e.get("current_url"))))
        products = earliest_members(self.events, event_product, lambda e: expect.canonical_url(e.get("current_url"))
                                    if e.get("product_id") else None)
        self.assertTrue(any(first < seen for _, seen, first, _ in products.values() if seen is not None),
                        "some products should be named before their own page is seen")
        self.assertEqual(products["900004"][:2], (None, None))
        self.assertNotIn("900001", products)
        self.assertEqual(products["900002"][0], "https://www.shop.de/ring-900002.html")
        self.assertEqual(stores["9003"][0], "a-shop.fr")
        for dsn in (self.spec, self.compiled):
            with self.subTest(database=dsn):
                got = {s: (d, c, seconds(t), seconds(f), seconds(l)) for s, d, c, t, f, l in harness.query(
                    dsn, "SELECT store_id, domain, country_code, domain_seen, first_seen, last_seen FROM dim_store")}
                want = {}
                for store, (domain, seen, first, last) in stores.items():
                    tld = domain.rsplit(".", 1)[-1] if domain else ""
                    country = TLD_COUNTRY.get(tld, tld.upper()) if len(tld) == 2 and tld != "eu" else None
                    want[store] = (domain, country, seen, first, last)
                self.assertEqual(got, want)
                got = {p: (u, seconds(t), seconds(f), seconds(l)) for p, u, t, f, l in harness.query(
                    dsn, "SELECT product_id, product_url, product_url_seen, first_seen, last_seen FROM dim_product")}
                self.assertEqual(got, products)

    def test_the_spec_ran_on_product_views_own_tables(self):
        # The SQL migrations made every table the spec needs: nothing generated.
        self.assertEqual(harness.query(self.spec, "SELECT target, statement FROM starstream.spec_migration"), [])
        # Only the compiled pipeline fills win_visits (the spec's copy has no windows): the spec
        # database's facts came from the spec.
        self.assertGreater(harness.scalar(self.compiled, "SELECT count(*) FROM win_visits"), 0)
        self.assertEqual(harness.scalar(self.spec, "SELECT count(*) FROM win_visits"), 0)


SHOP_SPEC = """pipeline: shop_first
source: {topics: [shop_first], format: json}
fields:
  id: {pointer: /id, type: uuid, required: true}
  at: {pointer: /at, type: timestamp, unit: s, required: true}
  shop: {pointer: /shop, type: text, required: true}
  domain: {pointer: /domain, type: text}
  country: {pointer: /country, type: text}
  rank: {pointer: /rank, type: integer}
  shop_no: {pointer: /shop_no, type: integer, required: true}
event: {id: id, time: at}
dimensions:
  dim_shop: {key: [shop], attributes: [domain, country, rank], policy: earliest}
  dim_shop_no: {key: [{shop_no_key: shop_no}], attributes: [domain], policy: earliest}   # a key that is its own surrogate key
facts:
  fact_shop_event: {grain: event, dimensions: [dim_shop, dim_shop_no], columns: [id, at]}
"""
SHOP_PARTITIONS = 4


def shop_events(seed=5, shops=25, per_shop=40):
    """Events whose times tie often, with attributes that differ on a tie: domains, a country
    present or not, ranks whose text order is not their numeric order (9, 10); some events carry
    no domain (absent or ""), so a shop may stay inferred."""
    rng = random.Random(seed)
    events = []
    for s in range(shops):
        for _ in range(per_shop):
            e = {"id": str(uuid.UUID(int=rng.getrandbits(128))), "at": 1700000000 + rng.randrange(6) * 60, "shop": f"shop-{s}", "shop_no": s}
            for name, values in (("domain", ["b.example", "a.example", "", None]), ("country", ["DE", "AT", None]), ("rank", [9, 10, None])):
                v = rng.choice(values)
                if v is not None or rng.random() < 0.5:
                    e[name] = v
            if s % 5 == 0:
                e.pop("domain", None)  # never a domain: an inferred member
            events.append(e)
    return events


def shop_oracle(events, key="shop", attributes=("domain", "country", "rank")):
    """Per shop: (domain, country, rank, the time they came from, first seen, last seen): those of
    the earliest event carrying a domain, ties to the smaller values (text bytewise, rank by
    number, none last); None for the four when no event carries a domain. With `attributes`
    ("domain",): (domain, its time, first seen, last seen)."""
    times, best = {}, {}
    for e in events:
        shop, t = e[key], e["at"]
        times.setdefault(shop, []).append(t)
        if e.get("domain"):
            country, rank = (e.get("country") or None, e.get("rank")) if "country" in attributes else (None, None)
            order = (t, e["domain"].encode(), country is None, (country or "").encode(), rank is None, rank or 0)
            if shop not in best or order < best[shop][0]:
                best[shop] = (order, (e["domain"], country, rank, t) if "country" in attributes else (e["domain"], t))
    empty = (None,) * (len(attributes) + 1)
    return {shop: (*(best[shop][1] if shop in best else empty), min(ts), max(ts)) for shop, ts in times.items()}


class EarliestOnASpecMadeTable(unittest.TestCase):
    """The earliest-attribute policy on a table the generated migrations make: ties between
    different values settled the same way whatever the order (messages shuffled over unkeyed
    partitions, sent twice), the batch boundaries (7 records) and the instances (two at once),
    against the oracle above."""

    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-earliest-", SHOP_PARTITIONS, topics=("shop_first",))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.events = shop_events()
        messages = [json.dumps(e).encode() for e in cls.events]
        messages += random.Random(6).sample(messages, 60)  # duplicates
        random.Random(7).shuffle(messages)
        per_partition = [messages[p::SHOP_PARTITIONS] for p in range(SHOP_PARTITIONS)]
        for p, part in enumerate(per_partition):
            path = os.path.join(cls.tmp, f"p{p}.jsonl")
            with open(path, "wb") as f:
                f.write(b"\n".join(part) + b"\n")
            subprocess.run(["kcat", "-P", "-b", cls.kafka.bootstrap, "-t", "shop_first", "-p", str(p), "-l", path],
                           check=True, capture_output=True, timeout=120)
        folder = os.path.join(cls.tmp, "pipelines")
        os.makedirs(folder)
        with open(os.path.join(folder, "shop_first.yaml"), "w") as f:
            f.write(SHOP_SPEC)
        cls.dsn = cls.pg.create_database("shop")
        keys = {**COMMON, "pipelines.dir": folder, "pipelines.run": "shop_first", "batch.max_records": 7, "batch.trigger_interval_ms": 20,
"kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000}
        harness.scale_out(cls.dsn, cls.kafka.bootstrap, "shop", keys, 2, "shop-", timeout=600)

    def test_the_generated_table_keeps_the_policys_state(self):
        columns = harness.query(self.dsn, "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                                          " WHERE table_name = 'dim_shop' ORDER BY ordinal_position")
        self.assertEqual(columns[-3:], [("domain_seen", "timestamp with time zone", "YES"), ("first_seen", "timestamp with time zone", "NO"),
                                        ("last_seen", "timestamp with time zone", "NO")])

    def test_members_equal_the_oracle(self):
        want = shop_oracle(self.events)
        self.assertTrue(any(v[0] is None for v in want.values()) and any(v[0] for v in want.values()))
        got = {shop: (d, c, r, seconds(t), seconds(f), seconds(l)) for shop, d, c, r, t, f, l in harness.query(
            self.dsn, "SELECT shop, domain, country, rank, domain_seen, first_seen, last_seen FROM dim_shop")}
        self.assertEqual(got, want)
        got = {n: (d, seconds(t), seconds(f), seconds(l)) for n, d, t, f, l in harness.query(
            self.dsn, "SELECT shop_no_key, domain, domain_seen, first_seen, last_seen FROM dim_shop_no")}
        self.assertEqual(got, shop_oracle(self.events, "shop_no", ("domain",)))

    def test_every_fact_points_at_its_shop(self):
        rows = harness.query(self.dsn, "SELECT f.id::text, s.shop, f.shop_no_key FROM fact_shop_event f LEFT JOIN dim_shop s USING (shop_key)")
        self.assertEqual({i: (s, n) for i, s, n in rows}, {e["id"]: (e["shop"], e["shop_no"]) for e in self.events})


if __name__ == "__main__":
    unittest.main()
