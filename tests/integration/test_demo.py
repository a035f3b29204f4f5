"""The README's first command works end to end: deploy/demo.sh (small) exits 0, prints the nine
reports with rows, and points to where to look next."""
import glob
import os
import subprocess
import unittest

import harness


class Demo(unittest.TestCase):
    def test_demo_runs_and_prints_the_nine_reports(self):
        state = os.path.join(harness.SOURCE_DIR, ".state", "demo", "pg")
        self.addCleanup(subprocess.run, [harness.LOCAL_POSTGRES, "stop", state], capture_output=True)
        out = subprocess.run(["bash", os.path.join(harness.SOURCE_DIR, "deploy", "demo.sh")], capture_output=True, text=True,
                             timeout=900, env={**os.environ, "EVENTS": "20000", "PARTITIONS": "8"})
        self.assertEqual(out.returncode, 0, out.stdout[-3000:] + out.stderr[-3000:])
        reports = sorted(os.path.basename(p) for p in glob.glob(os.path.join(harness.SOURCE_DIR, "sql", "reports", "*.sql")))
        self.assertEqual(len(reports), 9)
        for report in reports:
            section = out.stdout.split(f"== {report}:", 1)
            self.assertEqual(len(section), 2, f"{report} not printed")
            self.assertRegex(section[1].split("\n== ", 1)[0], r"-+\+-+[^\n]*\n[^\n]*\|", report)  # a header, then a row
        self.assertIn("== star schema: ", out.stdout)
        self.assertIn("Where to look next", out.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
