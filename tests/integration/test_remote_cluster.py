"""Remote clusters behind SASL (issue 6, first part): starstreamd and kcat through the
authenticating gateway (tests/support/auth_gateway) in front of the mock cluster. SASL_PLAINTEXT
with PLAIN and with SCRAM-SHA-256 each ingest 20,000 events exactly once; a wrong password fails
with a clear message that names the mechanism, consumes nothing, and no log line carries the
password."""
import os
import subprocess
import unittest

import expectations as expect
import harness

EVENTS = 20_000
USER, PASSWORD = "starstream", "Tr0ub4dor-and-3"


class RemoteCluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-remote-", 8, EVENTS)
        cls.gateway = harness.AuthGateway(cls.kafka, {USER: PASSWORD})
        cls.addClassCleanup(cls.gateway.stop)
        cls.events, _ = expect.read_jsonl(cls.jsonl)

    def run_through_gateway(self, database, mechanism, password=PASSWORD, **keys):
        dsn = self.pg.create_database(database)
        out = harness.run_daemon(dsn, self.gateway.bootstrap, group=database, timeout=300, **{
            "source.stop_when_caught_up": "true", "source.startup_timeout_ms": 8000,
            "kafka.security.protocol": "SASL_PLAINTEXT", "kafka.sasl.mechanisms": mechanism,
            "kafka.sasl.username": USER, "kafka.sasl.password": password, **keys})
        self.assertNotIn(PASSWORD, out.stdout + out.stderr, "the password must never reach a log line")
        return dsn, out

    def assert_ingested_exactly_once(self, dsn, out):
        self.assertEqual(out.returncode, 0, out.stderr[-3000:])
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM fact_event"), len(self.events))
        self.assertEqual(harness.scalar(dsn, "SELECT sum(records) FROM starstream.batch"), EVENTS)

    def test_sasl_plaintext_plain(self):
        self.assert_ingested_exactly_once(*self.run_through_gateway("plain", "PLAIN"))

    def test_sasl_plaintext_scram_sha_256(self):
        self.assert_ingested_exactly_once(*self.run_through_gateway("scram256", "SCRAM-SHA-256"))

    def test_wrong_password_is_reported_and_consumes_nothing(self):
        dsn, out = self.run_through_gateway("wrong", "SCRAM-SHA-256", password="not-" + PASSWORD)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("SCRAM-SHA-256", out.stderr)
        self.assertIn("authentication", out.stderr.lower())
        self.assertNotIn("not-" + PASSWORD, out.stderr)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM starstream.batch") if harness.scalar(
            dsn, "SELECT to_regclass('starstream.batch') IS NOT NULL") else 0, 0)

    def test_kcat_authenticates_with_scram_sha_512(self):
        out = subprocess.run(["kcat", "-b", self.gateway.bootstrap, "-L", "-t", "product_view", "-X", "security.protocol=SASL_PLAINTEXT",
                              "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", f"sasl.username={USER}", "-X", f"sasl.password={PASSWORD}"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('topic "product_view" with 8 partitions', out.stdout)
        for port in [b.split(":")[1] for b in self.gateway.bootstrap.split(",")]:
            self.assertIn(f"127.0.0.1:{port}", out.stdout)  # brokers are announced at the gateway


if __name__ == "__main__":
    unittest.main(verbosity=2)
