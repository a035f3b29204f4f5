"""The product_view generator's User-Agents follow published browser market shares: 100,000
generated events, each header parsed here by python3-ua-parser (independent of the generator,
which only reads uap-core's test cases), browser families grouped by vendor as StatCounter counts
them, compared with StatCounter Global Stats' worldwide shares (all platforms) of April to June
2020, the replay's period (EVENTS.md section 1). The generator draws one User-Agent per visit
(about 8,000 visits here), hence the tolerances. Crawlers stay a small share.
Needs only the generator (no Kafka, no PostgreSQL).
"""
import collections
import json
import os
import subprocess
import tempfile
import unittest

from ua_parser import user_agent_parser

import harness

EVENTS = 100000
# StatCounter, "Browser Market Share Worldwide", all platforms, April-June 2020, percent, as the
# generator has them (approximate: bench/generator/reference_data.cpp says how far they were checked).
PUBLISHED = {"Chrome": 63.9, "Safari": 18.2, "Firefox": 4.4, "Samsung Internet": 3.3, "Edge": 3.0, "UC Browser": 2.0,
             "Opera": 1.9, "IE": 1.0}
VENDOR = {"Chrome Mobile": "Chrome", "Chrome Mobile WebView": "Chrome", "Chrome Mobile iOS": "Chrome",
          "Mobile Safari": "Safari", "Mobile Safari UI/WKWebView": "Safari", "Firefox Mobile": "Firefox",
          "Firefox iOS": "Firefox", "Edge Mobile": "Edge", "Opera Mini": "Opera", "Opera Mobile": "Opera"}


class GeneratorUserAgentsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        folder = tempfile.mkdtemp(prefix="starstream-user-agents-")
        jsonl = os.path.join(folder, "events.jsonl")
        subprocess.run([harness.GENERATOR, "--events", str(EVENTS), "--seed", "42", "--start-time", "1588291200",
                        "--jsonl", jsonl], check=True, capture_output=True, timeout=300)
        parsed = {}
        cls.vendors, cls.spiders = collections.Counter(), 0
        with open(jsonl, encoding="utf-8") as f:
            for line in f:
                ua = json.loads(line)["user_agent"]
                if ua not in parsed:
                    p = user_agent_parser.Parse(ua)
                    parsed[ua] = (p["user_agent"]["family"], p["device"]["family"] == "Spider")
                family, spider = parsed[ua]
                cls.vendors[VENDOR.get(family, family)] += 1
                cls.spiders += spider

    def test_vendors_follow_published_shares(self):
        shares = {v: 100.0 * n / EVENTS for v, n in self.vendors.items()}
        for vendor, published in PUBLISHED.items():
            # 3 points for the big two, else half the published share (one visit is ~12 events).
            tolerance = 3.0 if published > 10 else max(0.5, published / 2)
            self.assertAlmostEqual(shares.get(vendor, 0), published, delta=tolerance, msg=(vendor, shares))
        top = [v for v, _ in self.vendors.most_common(2)]
        self.assertEqual(top, ["Chrome", "Safari"])

    def test_crawlers_are_rare(self):
        self.assertLess(self.spiders / EVENTS, 0.02)


if __name__ == "__main__":
    unittest.main()
