"""product_view from its spec (issue 14): the same generated clickstream through the compiled
pipeline (daemon/pipeline/product_view/) into one database and through pipelines/product_view.yaml
run as a spec (daemon/spec/, spec_batch_writer.h) into another; every dimension table and
fact_event must hold the same rows, column by column (surrogate keys are XXH3 of the natural key
on both paths, so they match too).

The spec runs under another pipeline name and topic (a copy of product_view.yaml in a temporary
pipelines.dir; its windows stripped, which are others' work): the compiled pipeline owns the
name product_view. The generator writes the same bytes to both topics, unkeyed (random
partitions), out of order by up to ten minutes, with duplicates and malformed messages. The
compiled daemon reads in large batches, the spec path in small ones with two instances at once,
then one more run: the earliest-attribute dimensions (dim_store, dim_product) must not depend on
arrival order, batch boundaries or instances. They are also checked against an oracle computed
here from the JSONL: per member, the attributes of the earliest event carrying them (ties to the
smaller value), that event's time, and the first and last event times.
"""
import collections
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import expectations as expect
import harness

EVENTS = 6000
PARTITIONS = 6
SPEC_TOPIC = "product_view_spec_copy"
SPEC_PIPELINE = "product_view_spec_copy"
KNOBS = {"seed": 14, "partitioning": "random", "span_seconds": 3600, "out_of_order_seconds": 600,
         "duplicate_share": 0.02, "malformed_share": 0.01}
COMMON = {"source.stop_when_caught_up": "true", "time.allowed_out_of_orderness_ms": 3600 * 1000}
DIMENSIONS = {  # table: natural key columns
    "dim_date": ["date_key"], "dim_store": ["store_id"], "dim_product": ["product_id"],
    "dim_location": ["country_code", "region", "city"], "dim_user_agent": ["user_agent"],
    "dim_referrer": ["domain", "channel"], "dim_collection": ["collection"],
}
TLD_COUNTRY = {"uk": "GB"}


def spec_copy(folder):
    """pipelines/product_view.yaml as another pipeline on another topic, without its windows."""
    with open(os.path.join(harness.SOURCE_DIR, "pipelines", "product_view.yaml")) as f:
        text = f.read()
    text = text.replace("pipeline: product_view\n", f"pipeline: {SPEC_PIPELINE}\n", 1)
    text = text.replace("source: {topics: [product_view], format: json}", f"source: {{topics: [{SPEC_TOPIC}], format: json}}", 1)
    text = re.sub(r"\nwindows:\n(.|\n)*", "\n", text)
    assert SPEC_PIPELINE in text and SPEC_TOPIC in text and "windows:" not in text
    os.makedirs(folder)
    with open(os.path.join(folder, SPEC_PIPELINE + ".yaml"), "w") as f:
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
        harness.local_stack(cls, "starstream-specpv-", PARTITIONS, topics=("product_view", SPEC_TOPIC))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.jsonl = os.path.join(cls.tmp, "events.jsonl")
        copy = os.path.join(cls.tmp, "copy.jsonl")
        cls.summary = harness.generate(EVENTS, cls.jsonl, brokers=cls.kafka.bootstrap, **KNOBS)
        harness.generate(EVENTS, copy, brokers=cls.kafka.bootstrap, topic=SPEC_TOPIC, **KNOBS)
        with open(cls.jsonl, "rb") as a, open(copy, "rb") as b:
            assert a.read() == b.read(), "the generator must write the same bytes to both topics"
        cls.events, cls.malformed = expect.read_jsonl(cls.jsonl)

        cls.compiled = cls.pg.create_database("compiled")
        run = harness.run_daemon(cls.compiled, cls.kafka.bootstrap, group="compiled", **COMMON, **{
            "pipelines.dir": os.path.join(harness.SOURCE_DIR, "pipelines"), "batch.max_records": 2000})
        assert run.returncode == 0, run.stderr[-3000:]

        cls.spec = cls.pg.create_database("spec")
        folder = spec_copy(os.path.join(cls.tmp, "pipelines"))
        keys = {**COMMON, "pipelines.dir": folder, "pipelines.run": SPEC_PIPELINE, "batch.max_records": 37,
                "batch.trigger_interval_ms": 50, "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000}
        two = [subprocess.Popen(harness.daemon_args(cls.spec, cls.kafka.bootstrap, group="spec", **keys, **{"instance.id": f"spec-{n}"}),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for n in range(2)]
        for proc in two:
            _, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err[-3000:]
        last = harness.run_daemon(cls.spec, cls.kafka.bootstrap, group="spec", **keys)
        assert last.returncode == 0, last.stderr[-3000:]

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
        # Lineage: the topic differs by name only; a message sent twice (to random partitions)
        # keeps the copy that committed first, on either path: its position is order-dependent.
        sent = collections.Counter()
        with open(self.jsonl, "rb") as f:
            for line in f:
                e = expect.parse_event(line.rstrip(b"\n"))
                if e is not None:
                    sent[e["id"].lower()] += 1
        self.assertTrue(any(n > 1 for n in sent.values()))
        for (event_id,), row in compiled.items():
            self.assertEqual(row["kafka_topic"], "product_view")
            row["kafka_topic"] = SPEC_TOPIC
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

    def test_spec_migrations_added_nothing_to_product_views_tables(self):
        added = harness.query(self.spec, "SELECT target, statement FROM starstream.spec_migration")
        self.assertEqual(added, [])


if __name__ == "__main__":
    unittest.main()
