"""The README's first command works end to end: deploy/demo.sh (small) exits 0, runs both pipelines
and prints both report sets with rows, the loader's rejects, and where to look next.

What it prints is checked against what the demo's inputs say, not against the tables the daemon
wrote: the product_view facts against the generator's count of valid events, and the commerce
summary, funnel and the loader's rejects against tests/support/commerce_oracle.py's recomputation
from the demo's CSV (.state/demo/commerce.csv)."""
import collections
import glob
import json
import os
import re
import subprocess
import sys
import unittest
from decimal import Decimal

import harness

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "support"))
import commerce_oracle  # noqa: E402

STATE = os.path.join(harness.SOURCE_DIR, ".state", "demo")
ENV = {"EVENTS": "20000", "COMMERCE_EVENTS": "20000", "PARTITIONS": "8"}


def section(stdout, title):
    """The text the demo printed under `== TITLE:` up to the next `== ` heading, or None."""
    parts = stdout.split(f"== {title}:", 1)
    return parts[1].split("\n== ", 1)[0] if len(parts) == 2 else None


def table(text):
    """The rows of a psql aligned table in `text`: lists of stripped cells, header excluded."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"-+(\+-+)*", line))
    rows = []
    for line in lines[start + 1:]:
        if not line.strip() or re.fullmatch(r"\(\d+ rows?\)", line.strip()):
            break
        rows.append([cell.strip() for cell in line.split("|")])
    return rows


class Demo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        pg = os.path.join(STATE, "pg")
        cls.addClassCleanup(subprocess.run, [harness.LOCAL_POSTGRES, "stop", pg], capture_output=True)
        cls.out = subprocess.run(["bash", os.path.join(harness.SOURCE_DIR, "deploy", "demo.sh")], capture_output=True, text=True,
                                 timeout=900, env={**os.environ, **ENV})
        assert cls.out.returncode == 0, cls.out.stdout[-3000:] + cls.out.stderr[-3000:]
        cls.stdout = cls.out.stdout
        cls.events, cls.rejects = commerce_oracle.read_events(os.path.join(STATE, "commerce.csv"))
        cls.profiles = commerce_oracle.profiles(cls.events)

    def assert_reports_printed_with_rows(self, folder, count):
        reports = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.sql")))
        self.assertEqual(len(reports), count)
        for report in reports:
            text = section(self.stdout, report)
            self.assertIsNotNone(text, f"{report} not printed")
            self.assertRegex(text, r"-+\+-+[^\n]*\n[^\n]*\|", report)  # a header, then a row

    def test_prints_the_nine_product_view_reports(self):
        self.assert_reports_printed_with_rows(os.path.join(harness.SOURCE_DIR, "sql", "reports"), 9)

    def test_prints_the_four_commerce_reports(self):
        self.assert_reports_printed_with_rows(os.path.join(harness.SOURCE_DIR, "sql", "reports", "commerce"), 4)

    def test_product_view_facts_are_the_generated_valid_events(self):
        with open(os.path.join(STATE, "generator.json")) as f:
            valid = json.load(f)["kinds"]["valid"]
        self.assertIn(f"== star schema: product_view {valid} facts", self.stdout)

    def test_commerce_summary_equals_the_oracle(self):
        rows = {(r[0], r[1]): r[2] for r in table(section(self.stdout, "commerce_summary.sql"))}
        expected = commerce_oracle.summary(self.events, self.profiles)
        self.assertEqual(int(rows[("total", "events")]), expected["events"])
        self.assertEqual(int(rows[("total", "purchases")]), expected["purchases"])
        self.assertEqual(Decimal(rows[("total", "revenue")]), Decimal(expected["revenue"]))
        self.assertEqual(int(rows[("total", "customers")]), expected["customers"])
        self.assertEqual({name: int(v) for (kind, name), v in rows.items() if kind == "event_type"}, expected["event_types"])
        self.assertEqual({name: int(v) for (kind, name), v in rows.items() if kind == "segment"},
                         {name: s["customers"] for name, s in expected["segments"].items()})

    def test_commerce_funnel_equals_the_oracle(self):
        rows = table(section(self.stdout, "commerce_funnel.sql"))
        steps = {r[1]: (int(r[2]), int(r[3])) for r in rows}
        for step in ("view", "cart", "purchase"):
            of_step = [e for e in self.events if e["event_type"] == step]
            self.assertEqual(steps[step], (len(of_step), len({e["user_id"] for e in of_step})), step)

    def test_loader_rejects_equal_the_oracle(self):
        text = section(self.stdout, "starstream-load")
        self.assertIsNotNone(text, "the loader's rejects are not printed")
        self.assertRegex(text, rf"^ \d+ rows sent, {len(self.rejects)} rejected")
        printed = dict(re.findall(r"^ +([a-z_]+) +(\d+)$", text, re.M))
        self.assertEqual({reason: int(n) for reason, n in printed.items()}, dict(collections.Counter(r for _, r in self.rejects)))
        self.assertGreater(len(self.rejects), 0)

    def test_points_to_where_to_look_next(self):
        self.assertIn("Where to look next", self.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
