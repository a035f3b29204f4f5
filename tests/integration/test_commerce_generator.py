"""starstream-generate --event-type commerce (EVENTS.md section 2) checked from its own outputs by
an independent reading: the CSV is parsed with Python's csv module and validated, deduplicated and
segmented by tests/support/commerce_oracle.py (the seed producer's rules, EVENTS.md), the JSONL
read with json, and every figure is recomputed from the rows, never taken from the generator
except the summary it is compared with.

One run of 100,000 messages over 30 days with every hostile part switched on (malformed rows,
resent duplicates, same-second view + cart pairs, out-of-order and late times). Checked:
  - determinism: the same seed gives the same CSV and JSONL bytes, another seed other bytes;
  - the mix of valid events (views ~93 %, cart ~4 %, purchases ~3 %, some removals);
  - the CSV and the JSONL say the same thing, line by line; event ids are equal exactly for
    resent duplicates and differ for two events of one user and product in one second;
  - malformed rows by reason, duplicates and disorder counted as the summary says;
  - funnels (each purchase and removal follows a cart add of the same user and product),
    sessions (a new user_session only after a pause), the catalogue's shapes;
  - every customer segment of EVENTS.md appears, segments recomputed from the CSV.
A second, small run goes to librdkafka's mock cluster: the topic then holds exactly the JSONL
lines, each keyed by its user_id.
"""
import collections
import csv
import datetime
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import sys
from decimal import Decimal

from kafka import KafkaConsumer, TopicPartition

import harness

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "support"))
import commerce_oracle  # noqa: E402  (validation, duplicates and segments, shared with the pipeline's tests)

EVENTS = 100000
SPAN = 30 * 86400
START = 1600905600  # 2020-09-24 00:00:00 UTC, the REES46 sample's period
KNOBS = {"malformed_share": 0.01, "duplicate_share": 0.01, "same_second_share": 0.005,
         "out_of_order_seconds": 120, "late_share": 0.01, "late_seconds": 7200}
HEADER = ["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id",
          "user_session"]
SESSION_GAP = 1800


def run(folder, seed, events=EVENTS, brokers=None):
    """Runs the generator; returns (summary, csv path, jsonl path)."""
    csv_path, jsonl_path = os.path.join(folder, f"c{seed}.csv"), os.path.join(folder, f"c{seed}.jsonl")
    args = [harness.GENERATOR, "--event-type", "commerce", "--events", str(events), "--seed", str(seed),
            "--start-time", str(START), "--span-seconds", str(SPAN), "--csv", csv_path, "--jsonl", jsonl_path]
    for key, value in KNOBS.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    if brokers:
        # python3-kafka reads no lz4 (the generator's default codec) without python3-lz4.
        args += ["--brokers", brokers, "--kafka-property", "compression.codec=none"]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout), csv_path, jsonl_path


def parse_time(text):
    """Unix seconds of a CSV event_time, None when it is missing or malformed."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text):
        return None
    return int(datetime.datetime.strptime(text, commerce_oracle.TIME_FORMAT).replace(tzinfo=datetime.timezone.utc).timestamp())


# commerce_oracle's reject reasons -> the generator's message kinds.
KIND_OF_REASON = {"missing_user_id": "missing_user_id", "missing_event_time": "missing_field",
                  "missing_product_id": "missing_field", "missing_user_session": "missing_field",
                  "unknown_event_type": "unknown_event_type", "bad_price": "unparsable_price",
                  "negative_price": "negative_price"}


def kind(row):
    reason = commerce_oracle.reject_reason(row)
    return "valid" if reason is None else KIND_OF_REASON.get(reason, reason)


class CommerceGeneratorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-commerce-")
        cls.summary, cls.csv_path, cls.jsonl_path = run(cls.tmp, 7)
        with open(cls.csv_path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            cls.header = next(reader)
            cls.rows = [dict(zip(HEADER, r)) for r in reader]
        with open(cls.jsonl_path, encoding="utf-8") as f:
            cls.messages = [json.loads(line) for line in f]
        # A row equal to an earlier row is a resend; the rest are distinct events.
        seen = set()
        cls.duplicate = []
        for r in cls.rows:
            key = tuple(r[h] for h in HEADER)
            cls.duplicate.append(key in seen)
            seen.add(key)
        cls.kind = ["duplicate" if d else kind(r) for r, d in zip(cls.rows, cls.duplicate)]
        cls.valid = [r for r, k in zip(cls.rows, cls.kind) if k == "valid"]

    def test_deterministic_for_a_seed(self):
        folder = tempfile.mkdtemp(prefix="starstream-commerce-again-")
        _, csv_again, jsonl_again = run(folder, 7)
        _, csv_other, _ = run(folder, 8)
        def read(path):
            with open(path, "rb") as f:
                return f.read()

        self.assertEqual(read(self.csv_path), read(csv_again))
        self.assertEqual(read(self.jsonl_path), read(jsonl_again))
        self.assertNotEqual(read(self.csv_path), read(csv_other))

    def test_event_mix(self):
        counts = collections.Counter(r["event_type"] for r in self.valid)
        share = {t: 100.0 * counts[t] / len(self.valid) for t in commerce_oracle.EVENT_TYPES}
        self.assertAlmostEqual(share["view"], 93, delta=1.5, msg=share)
        self.assertAlmostEqual(share["cart"], 4, delta=1.0, msg=share)
        self.assertAlmostEqual(share["purchase"], 3, delta=1.0, msg=share)
        self.assertTrue(0 < share["remove_from_cart"] < 1, share)
        self.assertEqual(dict(counts), self.summary["event_types"])

    def test_csv_and_jsonl_agree(self):
        self.assertEqual(self.header, HEADER)
        self.assertEqual(len(self.rows), EVENTS)
        self.assertEqual(len(self.messages), EVENTS)
        for r, m in zip(self.rows, self.messages):
            t = parse_time(r["event_time"])
            expected_ts = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None
            self.assertEqual(m.get("timestamp"), expected_ts, r)
            self.assertEqual(m["event_type"], r["event_type"])
            self.assertEqual(m.get("user_id", ""), r["user_id"])
            self.assertEqual(m.get("user_session", ""), r["user_session"])
            p = m["product"]
            self.assertEqual((p.get("id", ""), p["category_id"], p["category_code"], p["brand"]),
                             (r["product_id"], r["category_id"], r["category_code"], r["brand"]))
            if isinstance(p["price"], str):
                self.assertEqual(p["price"], r["price"])
            else:
                self.assertEqual(Decimal(str(p["price"])), Decimal(r["price"]))

    def test_event_ids(self):
        first_id = {}
        for r, m, dup in zip(self.rows, self.messages, self.duplicate):
            key = tuple(r[h] for h in HEADER)
            if dup:
                self.assertEqual(m["event_id"], first_id[key], "a resend keeps its event_id")
            else:
                first_id[key] = m["event_id"]
                self.assertRegex(m["event_id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(len(set(first_id.values())), len(first_id), "distinct events have distinct ids")

    def test_malformed_and_duplicates_counted(self):
        counts = collections.Counter(self.kind)
        self.assertEqual(dict(counts), self.summary["kinds"])
        for reason in ("duplicate", "unknown_event_type", "negative_price", "unparsable_price", "missing_user_id", "missing_field"):
            self.assertGreater(counts[reason], 50, reason)

    def test_disorder_counted(self):
        latest, out_of_order, far_back = None, 0, 0
        for r, dup in zip(self.rows, self.duplicate):
            t = parse_time(r["event_time"])
            if t is None:
                continue
            if latest is not None and t < latest:
                out_of_order += 1
                if not dup and latest - t > KNOBS["late_seconds"] / 2:
                    far_back += 1
            latest = t if latest is None else max(latest, t)
        self.assertEqual(out_of_order, self.summary["out_of_order"])
        # A same-second pair shares one late draw, so its second row is late without a draw of its own.
        late = self.summary["late"]
        self.assertGreater(late, 500)
        self.assertTrue(late <= far_back <= late + self.summary["same_second_pairs"], (far_back, late))

    def test_same_second_pairs_collide_on_user_product_second(self):
        by_second = collections.defaultdict(list)
        for r, m, k in zip(self.rows, self.messages, self.kind):
            if k == "valid":
                by_second[(r["user_id"], r["product_id"], r["event_time"])].append(m["event_id"])
        collisions = [ids for ids in by_second.values() if len(ids) > 1]
        self.assertGreaterEqual(len(collisions), self.summary["same_second_pairs"])
        self.assertGreater(self.summary["same_second_pairs"], 100)
        for ids in collisions:
            self.assertEqual(len(set(ids)), len(ids), "the seed producer's user_product_epoch id would collide here, ours must not")

    def test_funnels(self):
        in_cart = collections.Counter()
        removed = 0
        for r in self.valid:
            key = (r["user_id"], r["product_id"])
            if r["event_type"] == "cart":
                in_cart[key] += 1
            elif r["event_type"] in ("purchase", "remove_from_cart"):
                self.assertGreater(in_cart[key], 0, f"{r['event_type']} without an earlier cart add: {r}")
                in_cart[key] -= 1
                removed += r["event_type"] == "remove_from_cart"
        self.assertGreater(removed, 0)
        self.assertGreater(sum(in_cart.values()), 0, "some cart adds are abandoned")

    def test_sessions(self):
        last_time, last_session, sessions = {}, {}, collections.defaultdict(set)
        for r, dup in zip(self.rows, self.duplicate):
            t, user, session = parse_time(r["event_time"]), r["user_id"], r["user_session"]
            if dup or not user or t is None:
                continue
            if session:
                self.assertRegex(session, r"^[A-Za-z]{10}$")
                sessions[user].add(session)
                if user in last_session and session != last_session[user]:
                    # Rows without a time are unseen here; their disorder is the tolerance.
                    self.assertGreater(t - last_time[user], SESSION_GAP - KNOBS["out_of_order_seconds"], (user, r))
                last_session[user] = session
                # Rows without a session are skipped too: one may have opened the next session.
                last_time[user] = max(last_time.get(user, t), t)
        self.assertGreater(sum(1 for s in sessions.values() if len(s) > 1), 100, "returning users get new sessions")

    def test_catalogue_shapes(self):
        ids_of_code, codes_of_id, prices = collections.defaultdict(set), collections.defaultdict(set), []
        for r in self.valid:
            codes_of_id[r["category_id"]].add(r["category_code"])
            ids_of_code[r["category_code"]].add(r["category_id"])
            self.assertRegex(r["category_id"], r"^\d{19}$")
            self.assertRegex(r["category_code"], r"^$|^[a-z_]+(\.[a-z_]+)+$")
            self.assertEqual(r["brand"], r["brand"].lower())
            prices.append(Decimal(r["price"]))
        self.assertTrue(all(len(c) == 1 for c in codes_of_id.values()), "one code per category_id")
        self.assertTrue(all(len(i) == 1 for code, i in ids_of_code.items() if code), "one category_id per code")
        empty = sum(1 for r in self.valid if not r["category_code"]) / len(self.valid)
        self.assertTrue(0.1 < empty < 0.5, empty)
        self.assertGreater(sum(1 for r in self.valid if not r["brand"]), 0)
        prices.sort()
        self.assertGreater(prices[0], 0)
        self.assertGreater(prices[-1], 5 * prices[len(prices) // 2], "a long tail of expensive products")
        activity = collections.Counter(r["user_id"] for r in self.valid)
        top = activity.most_common(1)[0][1]
        self.assertGreater(top, 50 * (len(self.valid) / len(activity)), "a few users are very active")

    def test_every_segment_appears(self):
        events, rejects = commerce_oracle.read_events(self.csv_path)
        self.assertEqual(len(events), len(self.valid))
        self.assertEqual(len(rejects), sum(1 for k in self.kind if k not in ("valid", "duplicate")))
        segments = collections.Counter(p["segment"] for p in commerce_oracle.profiles(events).values())
        for name, *_ in commerce_oracle.SEGMENTS:
            self.assertGreater(segments[name], 0, dict(segments))
        self.assertEqual(segments.most_common(1)[0][0], "Casual Visitor", dict(segments))


class CommerceToKafkaTest(unittest.TestCase):
    def test_topic_holds_the_jsonl_keyed_by_user(self):
        kafka = harness.MockKafka(brokers=1, partitions=4, topics=("commerce_events",))
        self.addCleanup(kafka.stop)
        folder = tempfile.mkdtemp(prefix="starstream-commerce-kafka-")
        summary, _, jsonl_path = run(folder, 11, events=5000, brokers=kafka.bootstrap)
        self.assertEqual(summary["messages"], 5000)
        with open(jsonl_path, encoding="utf-8") as f:
            # The topic is the pipeline's by default: commerce_events.
            expected = sorted((json.loads(line).get("user_id", ""), line.rstrip("\n")) for line in f)
        consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap.split(","), auto_offset_reset="earliest",
                                 enable_auto_commit=False, consumer_timeout_ms=1000)
        self.addCleanup(consumer.close)
        partitions = [TopicPartition("commerce_events", p) for p in range(4)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        received = []
        deadline = time.monotonic() + 60
        while len(received) < len(expected) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                received += [((m.key or b"").decode(), m.value.decode()) for m in batch]
        self.assertEqual(sorted(received), expected)


if __name__ == "__main__":
    unittest.main()
