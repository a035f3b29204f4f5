"""Adversarial review of issue 15 (the commerce pipeline): scenarios a user can create that break
one of its guarantees, each a failing test on main 8bfd241. Not registered in CMakeLists.txt
(it is meant to fail until the findings are fixed); run it by hand:

    cd tests/integration && STARSTREAM_SOURCE_DIR=... STARSTREAM_BUILD_DIR=... \
        /usr/bin/python3 -m unittest test_commerce_review

LoaderAgainstCommerceOracle (no daemon): starstream-load on small hostile CSV and JSONL files,
compared with tests/support/commerce_oracle.py, the oracle test_commerce_pipeline checks the
loader's rejects and the facts against (its rejects by line and reason, its distinct events).

CommerceReports (loader, mock cluster, one daemon run, PostgreSQL): a few hand-written rows
each isolating one case of the reports or of the loader/daemon hand-over; expectations are the
oracle's definitions (each purchase event's own brand and category, a purchase without price
adding 0) computed here from the rows, never from the tables.
"""
import csv
import json
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
HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
VALID = "2020-09-24 10:00:00 UTC,view,1001,2001,electronics.smartphone,acme,31.90,5001,SESSIONAAA"


def load(bootstrap, topic, path, tmp):
    """Runs starstream-load unkeyed; returns (summary, [(line, reason)] of its reject file, [messages as dicts])."""
    rejects = os.path.join(tmp, topic + ".rejects.jsonl")
    out = subprocess.run([LOADER, "--brokers", bootstrap, "--topic", topic, "--key", "none", "--rejects", rejects, path],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    with open(rejects) as f:
        rejected = sorted((r["line"], r["reason"]) for r in map(json.loads, f))
    messages = []
    if summary["sent"]:
        read = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-c", str(summary["sent"]), "-f", "%s\n"],
                              capture_output=True, text=True, timeout=60, check=True)
        messages = [json.loads(line) for line in read.stdout.splitlines() if line]
    return summary, rejected, messages


class LoaderAgainstCommerceOracle(unittest.TestCase):
    """Finding: bench/loader and tests/support/commerce_oracle.py implement two different
    validators of EVENTS.md section 2 (test_loader.py has a third, which agrees with the loader).
    On every case below, the pipeline test's assertions (loader rejects == oracle rejects, facts ==
    the oracle's distinct events) would fail although nothing in the daemon is wrong."""

    CASES = {
        # A download cut mid-row: the loader says field_count, the oracle (DictReader fills None) missing_user_id.
        "truncated_last_row": HEADER + "\n" + VALID + "\n2020-09-24 10:00:01 UTC,view,1002,2001,electronics.smartphone,acme",
        # An unquoted comma in the last field: the loader rejects (field_count); the oracle keeps the row (the extra
        # field goes to DictReader's restkey), so it counts one more event than the topic has.
        "unquoted_comma_in_last_field": HEADER + "\n" + VALID + "\n2020-09-24 10:00:02 UTC,view,1003,2001,,acme,1.00,5002,SESS,ION\n",
        # The loader takes the JSON form of the time in a CSV too; the oracle's regex only the CSV form.
        "iso_time_in_csv": HEADER + "\n2020-09-24T10:00:03Z,view,1004,2001,,acme,1.00,5003,SESSIONBBB\n",
        # 18 digits as written, 3 significant: the loader counts significant digits, the oracle every digit.
        "zero_padded_price": HEADER + "\n2020-09-24 10:00:04 UTC,view,1005,2001,,acme,0000000000000031.90,5004,SESSIONCCC\n",
        # Text after a closing quote: the loader (strict, as its header says) rejects; the oracle (csv non-strict) keeps "acmex".
        "text_after_closing_quote": HEADER + '\n2020-09-24 10:00:05 UTC,view,1006,2001,,"acme"x,1.00,5005,SESSIONDDD\n',
        # A quoted line break in a rejected row: the loader names the record's first line, the oracle (reader.line_num) its last.
        "multi_line_rejected_row": HEADER + '\n2020-09-24 10:00:06 UTC,wishlist,1007,2001,,"ac\nme",1.00,5006,SESSIONEEE\n',
        # The same event written twice with two spellings of its price: one event id for the loader (it hashes the
        # canonical price), two events for the oracle (it dedupes the raw fields).
        "price_spelled_twice": HEADER + "\n" + VALID + "\n" + VALID.replace("31.90", "31.9") + "\n",
        # A user id of one no-break space: str.strip() blanks it (missing_user_id), the loader only trims spaces and tabs.
        "no_break_space_user": HEADER + "\n2020-09-24 10:00:07 UTC,view,1008,2001,,acme,1.00,\u00a0,SESSIONFFF\n",
    }

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-review-loader-")
        cls.kafka = harness.MockKafka(brokers=1, partitions=1, topics=tuple(cls.CASES) + ("jsonl_times", "jsonl_bom"))
        cls.addClassCleanup(cls.kafka.stop)

    def check(self, name):
        path = os.path.join(self.tmp, name + ".csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(self.CASES[name])
        events, oracle_rejects = commerce_oracle.read_events(path)
        _, rejected, messages = load(self.kafka.bootstrap, name, path, self.tmp)
        self.assertEqual(rejected, sorted(oracle_rejects), "loader rejects vs commerce_oracle rejects")
        self.assertEqual(len({m["event_id"] for m in messages}), len(events), "distinct events sent vs commerce_oracle's")

    def test_truncated_last_row(self):
        self.check("truncated_last_row")

    def test_unquoted_comma_in_last_field(self):
        self.check("unquoted_comma_in_last_field")

    def test_iso_time_in_csv(self):
        self.check("iso_time_in_csv")

    def test_zero_padded_price(self):
        self.check("zero_padded_price")

    def test_text_after_closing_quote(self):
        self.check("text_after_closing_quote")

    def test_multi_line_rejected_row(self):
        self.check("multi_line_rejected_row")

    def test_price_spelled_twice(self):
        self.check("price_spelled_twice")

    def test_no_break_space_user(self):
        self.check("no_break_space_user")

    def test_iso_8601_utc_offsets_in_jsonl(self):
        """Finding: EVENTS.md's producer JSON has `timestamp` "ISO 8601 UTC". Python's isoformat()
        writes "+00:00", pandas' to_json "…​.000Z"; the loader refuses both (bad_event_time), so a
        JSONL export of the seed producer's messages loads nothing. The daemon's own decoder reads
        both forms (record_decoder.cpp iso8601_us)."""
        stamps = ["2020-09-24T11:57:06Z", "2020-09-24T11:57:07+00:00", "2020-09-24T11:57:08.000Z", "2020-09-24T11:57:09.123456+00:00"]
        path = os.path.join(self.tmp, "times.jsonl")
        with open(path, "w") as f:
            for i, stamp in enumerate(stamps):
                f.write(json.dumps({"event_id": f"5001_1001_{i}", "timestamp": stamp, "event_type": "view", "user_id": "5001",
                                    "user_session": "SESSIONAAA", "product": {"id": "1001", "category_id": "2001",
                                    "category_code": "electronics.smartphone", "brand": "acme", "price": 31.9}}) + "\n")
        summary, rejected, _ = load(self.kafka.bootstrap, "jsonl_times", path, self.tmp)
        self.assertEqual(rejected, [], "ISO 8601 UTC times rejected")
        self.assertEqual(summary["sent"], len(stamps))

    def test_a_byte_order_mark_before_jsonl(self):
        """Finding (minor): the CSV source skips a UTF-8 byte order mark, the JSONL source does not:
        a JSONL file saved with one (Windows PowerShell 5's utf8, Notepad before 2019) loses its
        first event as malformed_json."""
        path = os.path.join(self.tmp, "bom.jsonl")
        with open(path, "w", encoding="utf-8-sig") as f:
            f.write(json.dumps({"timestamp": "2020-09-24T11:57:06Z", "event_type": "view", "user_id": "5001", "user_session": "SESSIONAAA",
                                "product": {"id": "1001", "price": 31.9}}) + "\n")
        summary, rejected, _ = load(self.kafka.bootstrap, "jsonl_bom", path, self.tmp)
        self.assertEqual((rejected, summary["sent"]), ([], 1))


# ---- the daemon and the reports ------------------------------------------------------------------

T = "2020-09-24 {} UTC"


def row(time, event_type, product, category, brand, price, user, session="SESSION0001"):
    return {"event_time": T.format(time), "event_type": event_type, "product_id": product, "category_id": "2053013555631882655",
            "category_code": category, "brand": brand, "price": price, "user_id": user, "user_session": session}


ROWS = [
    # Brand from the purchase event: product 101 is bought as "acme" for 500; a later view of it
    # carries no brand (REES46 rows often lack one), which the SCD type 1 dim_commerce_product
    # applies (latest wins, NULL included).
    row("10:00:00", "purchase", "101", "electronics.smartphone", "acme", "500.00", "9001"),
    row("11:00:00", "view", "101", "electronics.smartphone", "", "500.00", "9002"),
    # A purchase without a price (EVENTS.md's validator allows it; it adds nothing to revenue):
    # the only purchase of brand "zeta" and of category "appliances.kitchen".
    row("10:05:00", "purchase", "201", "appliances.kitchen", "zeta", "", "9003"),
    row("10:06:00", "purchase", "301", "computers.notebook", "beta", "100.00", "9004"),
    # Rows starstream-load and commerce_oracle accept (EVENTS.md: no negative price; the time
    # parses) that the spec dead-letters: price above range[1], a time before
    # time.min_event_time, a session token over max_length 128.
    row("12:00:00", "view", "401", "", "", "2000000000", "9005"),
    {**row("12:00:00", "view", "402", "", "", "1.00", "9006"), "event_time": "1999-12-31 23:00:00 UTC"},
    row("12:00:00", "view", "403", "", "", "1.00", "9007", session="S" * 129),
]
# EVENTS.md's seed producer (the one starstream replaces) keys events "<user_id>_<product_id>_<epoch>":
# its messages as it sends them, a view and a cart add of one product in one second.
SEED_PRODUCER = [
    {"event_id": "9008_501_1600945200", "timestamp": "2020-09-24T11:00:00Z", "event_type": event_type, "user_id": "9008",
     "user_session": "SESSION0002", "product": {"id": "501", "category_id": "2053013555631882655", "category_code": "electronics.audio",
                                                "brand": "gamma", "price": 20.0}}
    for event_type in ("view", "cart")]
# Arrival order: product 601's latest event (13:00, in the first load) says brand "nova"; an older
# event (09:00, brand "orbit": before a rebrand, or a file backfilled later) arrives in a second
# load. SCD type 1 "latest wins" is by commit, not by event time (pipelines/README.md), so the
# product ends as "orbit", and loading the files in the other order gives "nova".
FIRST_LOAD_LATEST = [row("13:00:00", "view", "601", "electronics.tablet", "nova", "300.00", "9009")]
SECOND_LOAD_OLDER = [row("09:00:00", "purchase", "601", "electronics.tablet", "orbit", "300.00", "9010")]


class CommerceReports(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-review-commerce-")
        cls.csv = cls.write_csv("rows.csv", ROWS + FIRST_LOAD_LATEST)
        cls.events, cls.rejects = commerce_oracle.read_events(cls.csv)
        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)
        cls.kafka = harness.MockKafka(brokers=1, partitions=2, topics=("commerce_events",))
        cls.addClassCleanup(cls.kafka.stop)
        cls.summary, _, _ = load(cls.kafka.bootstrap, "commerce_events", cls.csv, cls.tmp)
        seed = os.path.join(cls.tmp, "seed.jsonl")
        with open(seed, "w") as f:
            f.write("".join(json.dumps(m) + "\n" for m in SEED_PRODUCER))
        subprocess.run(["kcat", "-P", "-b", cls.kafka.bootstrap, "-t", "commerce_events", "-l", seed], check=True, capture_output=True, timeout=60)
        cls.dsn = cls.pg.create_database("review")
        cls.run_daemon()
        later = cls.write_csv("later.csv", SECOND_LOAD_OLDER)
        load(cls.kafka.bootstrap, "commerce_events", later, cls.tmp)
        cls.events += commerce_oracle.read_events(later)[0]
        cls.run_daemon()

    @classmethod
    def write_csv(cls, name, rows):
        path = os.path.join(cls.tmp, name)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=HEADER.split(","), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return path

    @classmethod
    def run_daemon(cls):
        run = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, timeout=300, **{
            "pipelines.run": "commerce_events", "time.reporting_time_zone": "UTC", "source.stop_when_caught_up": "true",
            "batch.trigger_interval_ms": 200})
        assert run.returncode == 0, run.stderr[-3000:]

    def report(self, name):
        return expect.run_report({"port": self.pg.port, "dbname": "review"}, os.path.join(REPORTS, name), **{"from": "2000-01-01", "to": "2100-01-01"})

    def expected_top(self, field):
        """commerce_top_categories_brands' ranking by the oracle's rule: each purchase's own value, a price-less purchase adding 0."""
        totals = {}
        for e in self.events:
            if e["event_type"] == "purchase" and e[field]:
                revenue, n = totals.get(e[field], (Decimal(0), 0))
                totals[e[field]] = (revenue + (e["price"] or 0), n + 1)
        return [(name, revenue, n) for name, (revenue, n) in sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))]

    def got_top(self, kind):
        return [(name, Decimal(revenue or 0), int(n)) for k, name, revenue, n in self.report("commerce_top_categories_brands.sql") if k == kind]

    def test_top_brands_credit_the_purchase_events_brand(self):
        """Finding: the report takes the brand from dim_commerce_product (SCD type 1, the last
        committed batch's value, NULL included), not from the purchase: acme's 500 vanish once a
        later event of the product lacks a brand; with brands that differ between events, the
        ranking depends on arrival order and on which instance committed last."""
        got = {name: (revenue, n) for name, revenue, n in self.got_top("brand")}
        self.assertIn("acme", got, "the purchase's brand")
        self.assertEqual(got["acme"], (Decimal("500.00"), 1))

    def test_the_product_dimension_does_not_depend_on_arrival_order(self):
        """Finding: dim_commerce_product (SCD type 1) keeps the attributes of the last committed
        batch, not of the latest event: an older event arriving later (a backfill, a replayed
        file, a late partition) turns product 601 back from "nova" to "orbit". Arrival order,
        batch boundaries and which instance commits last decide the product's brand and category,
        which commerce_top_categories_brands reads. (The earliest policy, or scd2 as the price
        has, would be deterministic.)"""
        brand = harness.scalar(self.dsn, "SELECT brand FROM dim_commerce_product WHERE product_id = '601'")
        self.assertEqual(brand, "nova", "the latest event's brand (13:00) over an older one (09:00) that arrived later")

    def test_a_price_less_purchase_does_not_top_the_brands(self):
        """Finding: ORDER BY sum(price) DESC puts NULL first: a brand whose purchases have no price
        (revenue 0 by the oracle) is ranked first, above brands with revenue."""
        got = self.got_top("brand")
        self.assertNotEqual(got[0][0], "zeta", got)

    def test_a_price_less_purchase_does_not_top_the_categories(self):
        """The same for categories: appliances.kitchen (one purchase, no price) is ranked first."""
        got = self.got_top("category")
        self.assertEqual(got, self.expected_top("category_code"))

    def test_rows_the_loader_sends_are_facts(self):
        """Finding: starstream-load and commerce_oracle accept these rows (the price is not negative,
        the time parses, nothing limits a session token), the spec dead-letters them (price range
        [0, 1e9], time.min_event_time 2000-01-01, user_session max_length 128): the loader's
        summary says sent, no reject file names them, and facts != the oracle's valid events."""
        users = ("9005", "9006", "9007")
        self.assertEqual(sorted(e["user_id"] for e in self.events if e["user_id"] in users), list(users), "the oracle's valid events")
        facts = harness.query(self.dsn, "SELECT user_id FROM fact_commerce_event WHERE user_id = ANY(%s)", (list(users),))
        dead = harness.query(self.dsn, "SELECT reason FROM starstream.dead_letter")
        self.assertEqual(sorted(u for u, in facts), list(users), f"dead letters: {dead}")

    def test_the_seed_producers_messages_are_facts(self):
        """Finding: the spec's event_id is typed uuid, so every message of EVENTS.md's seed producer
        (the producer this pipeline replaces, ids "<user>_<product>_<epoch>") is a dead letter
        ("wrong type: event_id must be a UUID"); and were it text, its same-second view and cart
        add would share one id and one would be dropped as a duplicate. The dedupe key is only as
        good as the producer's: the daemon could derive it from the message's fields (as the loader
        does) instead of trusting event_id."""
        facts = harness.query(self.dsn, "SELECT event_type FROM fact_commerce_event WHERE user_id = '9008' ORDER BY 1")
        dead = harness.query(self.dsn, "SELECT reason FROM starstream.dead_letter WHERE convert_from(payload, 'UTF8') LIKE '%%9008_501%%'")
        self.assertEqual([t for t, in facts], ["cart", "view"], f"dead letters: {dead}")


if __name__ == "__main__":
    unittest.main()
