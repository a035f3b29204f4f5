"""The commerce pipeline of EVENTS.md section 2 through pipelines/commerce_events.yaml, end to end,
against tests/support/commerce_oracle.py's recomputation from the CSV (it reads no table the
daemon writes).

100,000 generated commerce messages (starstream-generate --event-type commerce --csv) with every
hostile part: malformed rows, resent duplicates, same-second view + cart pairs, out-of-order and
late event times; a third of the products change price half-way (reprice). The CSV goes through starstream-load, unkeyed (--key none: a user's events
spread over the partitions), into the mock cluster; the rows it rejects never reach Kafka, so
they are also sent as the producer's JSON by hand (what a producer without the loader's checks
would send), for the daemon to dead-letter. The daemon runs --pipelines.run=commerce_events: one
instance is killed (SIGKILL) once it has committed a few batches, three instances then finish the
topic together, and one more run confirms nothing is left. Checked against the oracle:
  - every message consumed (the partitions' committed offsets are their log ends), by
    instances sharing the topic;
  - the loader's rejects are the oracle's (line and reason);
  - fact_commerce_event: exactly the distinct valid events (a resent row counts once; two rows
    of one user and product in one second are two events), each keyed by its content as the
    loader's event_id, with its own category and brand;
  - dim_commerce_product (SCD type 1 by event time): each product's latest event's values, whatever
    order the crash and the instances committed them in;
  - dead letters: exactly the malformed messages sent by hand, each with a reason;
  - customer_profile (the view over the global window customer_profile_state): every field of
    every customer, and the segment counts; commerce_session: every field of every user_session;
  - win_commerce_category_hour: revenue, purchases and carts per category per hour;
  - dim_commerce_product_price: per product, versions tiling time from -infinity to infinity,
    each holding the price in force, every fact pointing at the version in force at its time;
  - dim_category: the taxonomy levels of every category code;
  - sql/reports/commerce/*.sql over the whole range: the summary (event types, revenue,
    purchases, average customer value, segments with shares), the top categories and brands
    (each purchase credited to its own), the view -> cart -> purchase funnel with cart
    abandonment, revenue by hour.
HandWrittenEvents: EVENTS.md's seed producer's own messages (its "<user>_<product>_<epoch>"
ids) through the daemon are facts keyed by their content, no dead letters; a purchase without
a price tops no ranking.
"""
import collections
import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile
import unittest
import uuid
import zlib
from decimal import ROUND_HALF_UP, Decimal

import expectations as expect
import harness
from kafka import KafkaConsumer, TopicPartition

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "support"))
import commerce_oracle  # noqa: E402

EVENTS = 100000
PARTITIONS = 6
START = 1600905600  # 2020-09-24 00:00:00 UTC, the REES46 sample's period
SPAN = 30 * 86400
KNOBS = {"malformed_share": 0.01, "duplicate_share": 0.01, "same_second_share": 0.005,
         "out_of_order_seconds": 120, "late_share": 0.01, "late_seconds": 7200}
LOADER = os.path.join(harness.BUILD_DIR, "bench", "starstream-load")
REPORTS = os.path.join(harness.SOURCE_DIR, "sql", "reports", "commerce")
WHOLE_RANGE = {"from": "2000-01-01", "to": "2100-01-01"}
TOPIC = "commerce_events"
# The default watermark (5 minutes behind the latest event time): late events (2 h) are corrections
# of their hour, which allows a day.
KEYS = {"pipelines.run": "commerce_events", "batch.max_records": 5000, "batch.trigger_interval_ms": 200,
        "time.reporting_time_zone": "UTC", "kafka.session.timeout.ms": 6000, "kafka.heartbeat.interval.ms": 1000}
def producer_json(row):
    """A CSV row as the seed producer's JSON, without the loader's checks (a malformed row stays
    malformed): text kept as text, a price that reads as a number sent as one."""
    def text(field):
        return row.get(field) or None
    price = row.get("price") or None
    try:
        price = float(price) if price is not None else None
    except ValueError:
        pass
    stamp = row.get("event_time") or None
    try:
        stamp = datetime.datetime.strptime(stamp, commerce_oracle.TIME_FORMAT).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        pass
    return json.dumps({"event_id": str(uuid.uuid4()), "timestamp": stamp, "event_type": text("event_type"), "user_id": text("user_id"),
                       "user_session": text("user_session"),
                       "product": {"id": text("product_id"), "category_id": text("category_id"), "category_code": text("category_code"),
                                   "brand": text("brand"), "price": price}}, separators=(",", ":"))


def reprice(path):
    """The generator keeps each product's price; here every third product costs 10 % more from the
    middle of the span on (rows rewritten in place, malformed ones untouched), so that the price
    dimension gets versions, and out-of-order and late events land inside older ones; and about
    one row in a hundred loses its price (EVENTS.md's validator allows that: the event adds
    nothing to revenue and takes the price in force). Both depend on the row alone, so a resent
    duplicate stays a duplicate."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, middle = rows[0], START + SPAN // 2
    at = {name: header.index(name) for name in ("event_time", "product_id", "price")}
    for row in rows[1:]:
        try:
            t = datetime.datetime.strptime(row[at["event_time"]], commerce_oracle.TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
            price = Decimal(row[at["price"]])
        except (ValueError, IndexError, ArithmeticError):
            continue
        if price > 0 and t.timestamp() >= middle and row[at["product_id"]].isdigit() and int(row[at["product_id"]]) % 3 == 0:
            row[at["price"]] = str((price * Decimal("1.1")).quantize(Decimal("0.01")))
        if price > 0 and zlib.crc32(",".join(row).encode()) % 100 == 0:
            row[at["price"]] = ""
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def price_versions(events):
    """The brute force of the SCD type 2 price: per product, [(valid_from, valid_to, price)] from
    -infinity (None), the price in force at a time being the latest observation's at or before
    it (a tie in time going to the greater price); an event without a price observes nothing, and
    a product never priced has one version without a price."""
    observations = collections.defaultdict(list)
    for e in events:
        observations[e["product_id"]] += [(e["time"], e["price"])] if e["price"] is not None else []
    versions = expect.scd2_versions({product: obs for product, obs in observations.items() if obs})
    for product, obs in observations.items():
        if not obs:
            versions[product] = [(None, None, None)]
    return versions


class CommercePipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-commerce-")
        cls.csv = os.path.join(cls.tmp, "commerce.csv")
        args = [harness.GENERATOR, "--event-type", "commerce", "--events", str(EVENTS), "--seed", "7", "--start-time", str(START),
                "--span-seconds", str(SPAN), "--csv", cls.csv, "--jsonl", os.path.join(cls.tmp, "commerce.jsonl")]
        for key, value in KNOBS.items():
            args += ["--" + key.replace("_", "-"), str(value)]
        subprocess.run(args, check=True, capture_output=True, timeout=300)
        reprice(cls.csv)
        cls.events, cls.rejects = commerce_oracle.read_events(cls.csv)
        cls.profiles = commerce_oracle.profiles(cls.events)

        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)
        cls.kafka = harness.MockKafka(partitions=PARTITIONS, topics=(TOPIC,))
        cls.addClassCleanup(cls.kafka.stop)
        cls.loader_rejects = os.path.join(cls.tmp, "rejects.jsonl")
        # Unkeyed; sticky partitioning off, so that each message goes to a partition of its own
        # drawing: left sticky, a fast loader can put nearly all into one partition, beyond what
        # the mock cluster keeps of a partition (it drops the oldest segments, which the daemon
        # would rightly never see: test_every_message_is_in_the_topic guards against it).
        out = subprocess.run([LOADER, "--brokers", cls.kafka.bootstrap, "--topic", TOPIC, "--key", "none", "--rejects", cls.loader_rejects,
                              "--kafka-property", "sticky.partitioning.linger.ms=0", cls.csv], capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        cls.sent = json.loads(out.stdout)["sent"]
        cls.malformed = cls.send_malformed_by_hand()
        cls.dsn = cls.pg.create_database("commerce")
        cls.run_pipeline()

    @classmethod
    def send_malformed_by_hand(cls):
        """The rows the oracle rejects, as JSON messages straight to the topic; returns their bytes."""
        lines = {line for line, _ in cls.rejects}
        with open(cls.csv, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            messages = [producer_json(row) for row in reader if reader.line_num in lines]
        path = os.path.join(cls.tmp, "malformed.jsonl")
        with open(path, "w") as f:
            f.write("\n".join(messages) + "\n")
        subprocess.run(["kcat", "-P", "-b", cls.kafka.bootstrap, "-t", TOPIC, "-l", path], check=True, capture_output=True, timeout=120)
        return sorted(m.encode() for m in messages)

    @classmethod
    def run_pipeline(cls):
        harness.crash_then_scale_out(cls.dsn, cls.kafka.bootstrap, os.path.join(cls.tmp, "first.log"), "commerce", KEYS, 3, "shop-")

    def test_every_message_is_in_the_topic(self):
        consumer = KafkaConsumer(bootstrap_servers=self.kafka.bootstrap)
        partitions = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        self.assertEqual(set(consumer.beginning_offsets(partitions).values()), {0}, "the mock cluster dropped old messages")
        self.assertEqual(sum(consumer.end_offsets(partitions).values()), self.sent + len(self.malformed))
        consumer.close()

    def test_every_message_consumed_once_by_instances_sharing_the_topic(self):
        self.assertEqual(harness.scalar(self.dsn, "SELECT sum(next_offset) FROM starstream.progress WHERE topic = %s", (TOPIC,)),
                         self.sent + len(self.malformed))
        self.assertEqual(self.sent, EVENTS - len(self.rejects))
        sharing = harness.scalar(self.dsn, "SELECT count(DISTINCT instance_id) FROM starstream.batch WHERE records > 0 AND instance_id LIKE 'shop-%%'")
        self.assertGreaterEqual(sharing, 2, "the three instances must share the topic")

    def test_the_loader_rejects_what_the_oracle_rejects(self):
        with open(self.loader_rejects) as f:
            loader = sorted((r["line"], r["reason"]) for r in map(json.loads, f))
        self.assertEqual(loader, sorted(self.rejects))  # the oracle names reasons as the loader does
        self.assertGreater(len(loader), 0)

    def test_facts_are_exactly_the_distinct_valid_events(self):
        rows = harness.query(self.dsn, "SELECT event_key, event_id, timestamp, event_type, user_id, user_session, product_id, price, category_code, brand"
                                       " FROM fact_commerce_event")
        self.assertEqual(len({r[0] for r in rows}), len(rows))
        # The loader's event_id is the key the spec derives from the content (bench/loader/event_id.h).
        self.assertEqual([(key, producer) for key, producer, *_ in rows if str(key) != producer], [])
        stored = collections.Counter(tuple(r[2:]) for r in rows)
        expected = collections.Counter((e["time"], e["event_type"], e["user_id"], e["user_session"], e["product_id"], e["price"],
                                        e["category_code"] or None, e["brand"] or None) for e in self.events)
        self.assertEqual(stored, expected)
        self.assertLess(len(self.events), EVENTS - len(self.rejects), "the resent duplicates must be more than none")

    def test_malformed_messages_are_dead_letters_with_reasons(self):
        rows = harness.query(self.dsn, "SELECT payload, reason FROM starstream.dead_letter WHERE topic = %s", (TOPIC,))
        self.assertEqual(sorted(bytes(p) for p, _ in rows), self.malformed)
        self.assertTrue(all(reason for _, reason in rows))
        reasons = " ".join(r for _, r in rows)
        for field in ("event_type", "user_id", "price"):
            self.assertIn(field, reasons)

    def test_every_customer_profile_field(self):
        rows = harness.query(self.dsn, """
            SELECT user_id, total_events, total_sessions, views, cart_additions, cart_removals, purchases, revenue,
                   average_order_value, conversion_rate, cart_abandonment_rate, first_seen, last_seen, days_active,
                   favourite_category, favourite_brand, segment
            FROM customer_profile""")
        names = ["total_events", "total_sessions", "views", "cart_additions", "cart_removals", "purchases", "revenue",
                 "average_order_value", "conversion_rate", "cart_abandonment_rate", "first_seen", "last_seen", "days_active",
                 "favourite_category", "favourite_brand", "segment"]
        stored = {r[0]: dict(zip(names, r[1:])) for r in rows}
        self.assertEqual(set(stored), set(self.profiles))
        ratios = ("average_order_value", "conversion_rate", "cart_abandonment_rate")
        for user, expected in self.profiles.items():
            got = stored[user]
            for name in names:
                if name in ratios and expected[name] is not None and got[name] is not None:
                    # PostgreSQL's numeric division keeps at least 16 significant digits.
                    self.assertLess(abs(got[name] - expected[name]), Decimal("1e-12"), (user, name, got[name], expected[name]))
                else:
                    self.assertEqual(got[name], expected[name], (user, name))

    def test_sessions_from_user_session(self):
        names = ["user_id", "first_event", "last_event", "events", "views", "carts", "purchases", "revenue"]
        rows = harness.query(self.dsn, f"SELECT user_session, {', '.join(names)} FROM commerce_session")
        stored = {r[0]: dict(zip(names, r[1:])) for r in rows}
        expected = commerce_oracle.sessions(self.events)
        self.assertEqual(len(rows), len(stored), "one row per user_session")
        self.assertEqual(stored, expected)
        self.assertGreater(len(expected), len(self.profiles), "users come back in new sessions")

    def test_segment_counts(self):
        stored = dict(harness.query(self.dsn, "SELECT segment, count(*) FROM customer_profile GROUP BY segment"))
        expected = collections.Counter(p["segment"] for p in self.profiles.values())
        self.assertEqual(stored, dict(expected))
        self.assertGreaterEqual(len(expected), 5, "the data must reach most segments")

    def test_revenue_purchases_and_carts_per_category_per_hour(self):
        rows = harness.query(self.dsn, """
            SELECT category_code, window_start, window_end, coalesce(revenue, 0), purchases, carts FROM win_commerce_category_hour""")
        self.assertTrue(all(end - start == datetime.timedelta(hours=1) for _, start, end, *_ in rows))
        stored = {(code, start): (revenue, purchases, carts) for code, start, _, revenue, purchases, carts in rows}
        expected = commerce_oracle.revenue_by_category_hour(self.events)
        self.assertEqual(stored, expected)

    def test_price_versions_tile_time_and_facts_point_at_the_price_in_force(self):
        expected = price_versions(self.events)
        rows = harness.query(self.dsn, """
            SELECT product_id, CASE WHEN valid_from = '-infinity' THEN NULL ELSE valid_from END,
                   CASE WHEN valid_to = 'infinity' THEN NULL ELSE valid_to END, price, is_current
            FROM dim_commerce_product_price""")
        stored = collections.defaultdict(list)
        for product, start, end, price, current in rows:
            stored[product].append((start, end, price))
            self.assertEqual(current, end is None, product)
        self.assertEqual(set(stored), set(expected))
        for product in sorted(expected):
            versions = sorted(stored[product], key=lambda v: (v[0] is not None, v[0]))  # -infinity first
            self.assertEqual(versions, expected[product], product)
        self.assertGreater(sum(1 for v in expected.values() if len(v) > 1), 0, "some price must change")
        self.assertGreater(sum(1 for e in self.events if e["price"] is None), 0, "some events must have no price")
        wrong = harness.query(self.dsn, """
            SELECT f.event_id FROM fact_commerce_event f JOIN dim_commerce_product_price d USING (commerce_product_price_key)
            WHERE NOT (f.timestamp >= d.valid_from AND f.timestamp < d.valid_to) OR d.product_id <> f.product_id""")
        self.assertEqual(wrong, [])
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM fact_commerce_event WHERE commerce_product_price_key IS NULL"), 0)

    def test_products_hold_their_latest_events_attributes(self):
        """SCD type 1 by event time: whatever order three instances and a crash committed the
        events in, each product holds its latest event's values and time."""
        rows = harness.query(self.dsn, "SELECT product_id, category_id, category_code, brand, attributes_event_time FROM dim_commerce_product")
        self.assertEqual({p: (tuple(values), time) for p, *values, time in rows}, commerce_oracle.product_attributes(self.events))

    def test_category_taxonomy(self):
        rows = harness.query(self.dsn, "SELECT category_code, level1, level2, level3 FROM dim_category")
        stored = {code: (l1, l2, l3) for code, l1, l2, l3 in rows}
        codes = {e["category_code"] for e in self.events}
        expected = {}
        for code in codes:
            parts = code.split(".", 2) if code else []
            parts += [None] * (3 - len(parts))
            expected[code] = tuple(parts)
        self.assertEqual(stored, expected)
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM fact_commerce_event WHERE category_key IS NULL"), 0)

    def report(self, name, **variables):
        return expect.run_report({"port": self.pg.port, "dbname": "commerce"}, os.path.join(REPORTS, name), **{**WHOLE_RANGE, **variables})

    def test_report_summary(self):
        expected = commerce_oracle.summary(self.events, self.profiles)
        rows = {(section, name): (Decimal(value), share) for section, name, value, share in self.report("commerce_summary.sql")}
        self.assertEqual(rows[("total", "events")][0], expected["events"])
        self.assertEqual(rows[("total", "purchases")][0], expected["purchases"])
        self.assertEqual(rows[("total", "revenue")][0], Decimal(expected["revenue"]))
        self.assertEqual(rows[("total", "customers")][0], expected["customers"])
        self.assertEqual(rows[("total", "average_customer_value")][0], Decimal(expected["average_customer_value"]).quantize(Decimal("0.01")))
        types = {name: (value, Decimal(share)) for (section, name), (value, share) in rows.items() if section == "event_type"}
        self.assertEqual({t: v for t, (v, _) in types.items()}, expected["event_types"])
        for t, (n, share) in types.items():
            self.assertLessEqual(abs(share - Decimal(n) / expected["events"]), Decimal("0.00005"), t)
        segments = {name: (value, Decimal(share)) for (section, name), (value, share) in rows.items() if section == "segment"}
        self.assertEqual({name: v for name, (v, _) in segments.items()}, {name: s["customers"] for name, s in expected["segments"].items()})
        for name, (_, share) in segments.items():
            self.assertLessEqual(abs(float(share) - expected["segments"][name]["share"]), 0.00005, name)

    def test_report_top_categories_and_brands(self):
        expected = []
        for kind, field in (("category", "category_code"), ("brand", "brand")):
            expected += [(kind, name, revenue, n) for name, revenue, n in commerce_oracle.top_revenue(self.events, field)]
        got = [(kind, name, Decimal(revenue), int(n)) for kind, name, revenue, n in self.report("commerce_top_categories_brands.sql")]
        self.assertEqual(got, expected)

    def test_report_funnel(self):
        steps = []
        for step, event_type in enumerate(("view", "cart", "purchase"), 1):
            of_type = [e for e in self.events if e["event_type"] == event_type]
            steps.append((step, event_type, len(of_type), len({e["user_id"] for e in of_type})))
        got = self.report("commerce_funnel.sql")
        self.assertEqual([(int(a), b, int(c), int(d)) for a, b, c, d, *_ in got], steps)
        self.assertEqual(got[0][4], "")
        for (_, _, _, before), row in zip(steps, got[1:]):
            self.assertLessEqual(abs(Decimal(row[4]) - Decimal(int(row[3])) / before), Decimal("0.00005"))
        # Cart abandonment on the cart row (the report's header): 1 - purchases / cart adds, at least 0.
        carts, purchases = steps[1][2], steps[2][2]
        abandonment = max(Decimal(0), 1 - Decimal(purchases) / carts).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)  # PostgreSQL's round
        self.assertEqual((got[0][5], Decimal(got[1][5]), got[2][5]), ("", abandonment, ""))

    def test_report_revenue_by_hour(self):
        hours = collections.defaultdict(lambda: [Decimal(0), 0])
        for e in self.events:
            if e["event_type"] == "purchase":
                cell = hours[(e["time"].date().isoformat(), e["time"].hour)]
                cell[0] += e["price"] or 0
                cell[1] += 1
        got = [(date, int(hour), Decimal(revenue), int(n)) for date, hour, revenue, n in self.report("commerce_revenue_by_hour.sql")]
        self.assertEqual(got, [(d, h, r, n) for (d, h), (r, n) in sorted(hours.items())])
        one_day = self.report("commerce_revenue_by_hour.sql", **{"from": got[0][0], "to": got[0][0]})
        self.assertEqual([r[0] for r in one_day], [got[0][0]] * len(one_day))


def seed_producer_message(event_id, timestamp, event_type, price=20.0):
    """A message of EVENTS.md section 2's seed producer, its field names and its id `<user>_<product>_<epoch>`."""
    return json.dumps({"event_id": event_id, "timestamp": timestamp, "event_type": event_type, "user_id": "9008", "user_session": "SESSION0002",
                       "product": {"id": "501", "category_id": "2053013555631882655", "category_code": "electronics.audio", "brand": "gamma",
                                   "price": price}})


def purchase_row(time, product, category, brand, price, user):
    return {"event_time": f"2020-09-24 {time} UTC", "event_type": "purchase", "product_id": product, "category_id": "2053013555631882655",
            "category_code": category, "brand": brand, "price": price, "user_id": user, "user_session": "SESSION0001"}


class HandWrittenEvents(unittest.TestCase):
    """A few hand-written events, each isolating one case (a review of issue 15), through the
    loader or straight into the topic, one daemon run:
      - EVENTS.md's seed producer keys events "<user>_<product>_<epoch>" (no uuid, and one id for
        a view and a cart add in one second): its messages are facts, keyed by their content
        (the spec's event.id.hash), whatever their ids say;
      - a purchase without a price (EVENTS.md's validator allows it) adds 0 to revenue: the only
        purchase of brand zeta and of category appliances.kitchen must not top the rankings."""

    SAME_SECOND = "9008_501_1600945200"
    MESSAGES = [
        seed_producer_message(SAME_SECOND, "2020-09-24T11:00:00Z", "view"),
        seed_producer_message(SAME_SECOND, "2020-09-24T11:00:00Z", "cart"),      # another event, the same id
        seed_producer_message(SAME_SECOND, "2020-09-24T11:00:00Z", "view"),      # resent: the same bytes
        seed_producer_message(SAME_SECOND, "2020-09-24T11:00:00+00:00", "view", "20.00"),  # resent as Python writes it: the same values
        seed_producer_message("9008_501_1600945260", "2020-09-24T11:01:00.000Z", "purchase"),  # as pandas writes it
    ]
    ROWS = [purchase_row("10:00:00", "101", "electronics.smartphone", "acme", "500.00", "9001"),
            purchase_row("10:05:00", "201", "appliances.kitchen", "zeta", "", "9003"),
            purchase_row("10:06:00", "301", "computers.notebook", "beta", "100.00", "9004")]

    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)
        cls.kafka = harness.MockKafka(brokers=1, partitions=2, topics=(TOPIC,))
        cls.addClassCleanup(cls.kafka.stop)
        tmp = tempfile.mkdtemp(prefix="starstream-commerce-cases-")
        cls.csv = os.path.join(tmp, "rows.csv")
        with open(cls.csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(cls.ROWS[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(cls.ROWS)
        out = subprocess.run([LOADER, "--brokers", cls.kafka.bootstrap, "--topic", TOPIC, "--key", "none", "--rejects", cls.csv + ".rejects",
                              cls.csv], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and json.loads(out.stdout)["sent"] == len(cls.ROWS), out.stdout + out.stderr[-3000:]
        seed = os.path.join(tmp, "seed.jsonl")
        with open(seed, "w") as f:
            f.write("".join(m + "\n" for m in cls.MESSAGES))
        subprocess.run(["kcat", "-P", "-b", cls.kafka.bootstrap, "-t", TOPIC, "-l", seed], check=True, capture_output=True, timeout=60)
        cls.dsn = cls.pg.create_database("cases")
        run = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, timeout=300, **{**KEYS, "source.stop_when_caught_up": "true"})
        assert run.returncode == 0, run.stderr[-3000:]

    def report(self, name):
        return expect.run_report({"port": self.pg.port, "dbname": "cases"}, os.path.join(REPORTS, name), **WHOLE_RANGE)

    def test_a_price_less_purchase_adds_nothing_and_does_not_top_the_rankings(self):
        # Each purchase's own category and brand (one purchase each), the seed producer's included.
        purchases = commerce_oracle.read_events(self.csv)[0] + [{"category_code": "electronics.audio", "brand": "gamma", "price": Decimal(20)}]
        for kind, field in (("category", "category_code"), ("brand", "brand")):
            with self.subTest(kind):
                expected = sorted(((e[field], e["price"] or Decimal(0), 1) for e in purchases), key=lambda r: (-r[1], r[0]))
                got = [(name, Decimal(revenue), int(n)) for k, name, revenue, n in self.report("commerce_top_categories_brands.sql") if k == kind]
                self.assertEqual(got, expected)

    def test_distinct_events_are_facts_and_a_resent_one_counts_once(self):
        dead = harness.query(self.dsn, "SELECT reason FROM starstream.dead_letter")
        self.assertEqual(dead, [])
        facts = harness.query(self.dsn, "SELECT event_type, event_id, price FROM fact_commerce_event WHERE user_id = '9008' ORDER BY timestamp, event_type")
        self.assertEqual([(t, i, p) for t, i, p in facts], [("cart", self.SAME_SECOND, Decimal(20)), ("view", self.SAME_SECOND, Decimal(20)),
                                                             ("purchase", "9008_501_1600945260", Decimal(20))])
        self.assertEqual(harness.scalar(self.dsn, "SELECT sum(next_offset) FROM starstream.progress WHERE topic = %s", (TOPIC,)),
                         len(self.MESSAGES) + len(self.ROWS))


if __name__ == "__main__":
    unittest.main()
