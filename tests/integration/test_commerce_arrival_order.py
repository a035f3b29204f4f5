"""The commerce pipeline does not depend on arrival order: the adversarial review's SCD type 1
case (test_commerce_review.py on branch review-commerce) and its report case, checked both ways.

Two loads of hand-written rows (starstream-load, unkeyed) go to two mock clusters in opposite
orders, each consumed into its own database by a daemon run after each load: in one the latest
event of product 601 (13:00, brand "nova") commits first and an older one (09:00, "orbit": a
backfill, a replayed file) last; in the other the reverse. Expectations come from the rows
themselves (tests/support/commerce_oracle.py reads them), never from the tables:
  - dim_commerce_product (SCD type 1): each product's attributes are those of its latest event
    by event time, a tie going to the greater values (none the least), in both databases;
  - dim_category (derived): the taxonomy levels of each code;
  - commerce_top_categories_brands.sql credits each purchase to its own brand and category,
    whatever the product's brand became later (acme keeps its 500 when a later view of the
    product carries no brand; orbit keeps its 300 though the product is "nova" now).
"""
import csv
import os
import subprocess
import sys
import tempfile
import unittest
from decimal import Decimal

import expectations as expect
import harness

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "support"))
import commerce_oracle  # noqa: E402

LOADER = os.path.join(harness.BUILD_DIR, "bench", "starstream-load")
REPORTS = os.path.join(harness.SOURCE_DIR, "sql", "reports", "commerce")
TOPIC = "commerce_events"
FIELDS = ["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id", "user_session"]


def row(time, event_type, product, category, brand, price, user, category_id="2053013555631882655"):
    return {"event_time": f"2020-09-24 {time} UTC", "event_type": event_type, "product_id": product, "category_id": category_id,
            "category_code": category, "brand": brand, "price": price, "user_id": user, "user_session": "SESSION0001"}


LATEST = [
    # Product 101 bought as "acme" for 500; a later view of it carries no brand.
    row("10:00:00", "purchase", "101", "electronics.smartphone", "acme", "500.00", "9001"),
    row("11:00:00", "view", "101", "electronics.smartphone", "", "500.00", "9002"),
    # Product 601's latest event says "nova".
    row("13:00:00", "view", "601", "electronics.tablet", "nova", "300.00", "9009"),
    # Product 701: two events at one time, the greater values win whichever commits last.
    row("12:00:00", "view", "701", "appliances.kitchen", "beta", "10.00", "9011"),
]
OLDER = [
    row("09:00:00", "purchase", "601", "electronics.tablet", "orbit", "300.00", "9010"),
    row("12:00:00", "view", "701", "appliances.kitchen", "alpha", "10.00", "9012", category_id="2053013555631882656"),
    row("08:00:00", "purchase", "701", "appliances.kitchen", "", "25.00", "9013"),
]


class CommerceArrivalOrder(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-arrival-")
        files = {name: cls.write_csv(name, rows) for name, rows in (("latest", LATEST), ("older", OLDER))}
        cls.events = commerce_oracle.read_events(files["latest"])[0] + commerce_oracle.read_events(files["older"])[0]
        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)
        cls.dsns = {}
        for order in (("latest", "older"), ("older", "latest")):
            kafka = harness.MockKafka(brokers=1, partitions=2, topics=(TOPIC,))
            cls.addClassCleanup(kafka.stop)
            name = "_then_".join(order)
            cls.dsns[name] = cls.pg.create_database(name)
            for load in order:
                out = subprocess.run([LOADER, "--brokers", kafka.bootstrap, "--topic", TOPIC, "--key", "none",
                                      "--rejects", os.path.join(cls.tmp, f"{name}.{load}.rejects.jsonl"), files[load]],
                                     capture_output=True, text=True, timeout=120)
                assert out.returncode == 0, out.stderr[-2000:]
                run = harness.run_daemon(cls.dsns[name], kafka.bootstrap, timeout=300, **{
                    "pipelines.run": "commerce_events", "time.reporting_time_zone": "UTC", "source.stop_when_caught_up": "true",
                    "batch.trigger_interval_ms": 200})
                assert run.returncode == 0, run.stderr[-3000:]

    @classmethod
    def write_csv(cls, name, rows):
        path = os.path.join(cls.tmp, name + ".csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return path

    def test_every_event_is_a_fact(self):
        for name, dsn in self.dsns.items():
            facts = harness.query(dsn, "SELECT product_id, event_type, category_code, brand FROM fact_commerce_event")
            expected = [(e["product_id"], e["event_type"], e["category_code"] or None, e["brand"] or None) for e in self.events]
            self.assertEqual(sorted(facts), sorted(expected), name)

    def test_products_hold_their_latest_events_attributes_whatever_the_order(self):
        expected = commerce_oracle.product_attributes(self.events)
        self.assertEqual(expected["601"][0][2], "nova")
        for name, dsn in self.dsns.items():
            rows = harness.query(dsn, "SELECT product_id, category_id, category_code, brand, attributes_event_time FROM dim_commerce_product")
            self.assertEqual({p: (tuple(values), time) for p, *values, time in rows}, expected, name)

    def test_categories_hold_their_taxonomy_levels(self):
        for name, dsn in self.dsns.items():
            rows = harness.query(dsn, "SELECT category_code, level1, level2, level3 FROM dim_category")
            expected = {}
            for e in self.events:
                parts = e["category_code"].split(".", 2) if e["category_code"] else []
                expected[e["category_code"]] = tuple(parts + [None] * (3 - len(parts)))
            self.assertEqual({code: tuple(levels) for code, *levels in rows}, expected, name)

    def test_reports_credit_each_purchases_own_brand_and_category(self):
        for name in self.dsns:
            got = [tuple(r) for r in expect.run_report({"port": self.pg.port, "dbname": name},
                                                       os.path.join(REPORTS, "commerce_top_categories_brands.sql"),
                                                       **{"from": "2000-01-01", "to": "2100-01-01"})]
            for kind, field in (("category", "category_code"), ("brand", "brand")):
                ranked = [(n, Decimal(revenue), int(count)) for k, n, revenue, count in got if k == kind]
                self.assertEqual(ranked, commerce_oracle.top_revenue(self.events, field), f"{name}: {kind}")
            brands = {n: (Decimal(revenue), int(count)) for k, n, revenue, count in got if k == "brand"}
            self.assertEqual((brands.get("acme"), brands.get("orbit")), ((Decimal(500), 1), (Decimal(300), 1)), name)


if __name__ == "__main__":
    unittest.main()
