"""An independent client (Debian's python3-kafka, pure Python, not librdkafka) produces into
the mock cluster; starstreamd consumes exactly what it wrote."""
import os
import tempfile
import unittest

import expectations as expect
import harness
from kafka import KafkaProducer

EVENTS = 5_000


class PythonKafkaInterop(unittest.TestCase):
    def test_daemon_consumes_what_python_kafka_produced(self):
        pg = harness.Postgres()
        self.addCleanup(pg.stop)
        kafka = harness.MockKafka(partitions=6, topics=("clicks",))
        self.addCleanup(kafka.stop)
        tmp = tempfile.mkdtemp(prefix="starstream-interop-")
        jsonl = os.path.join(tmp, "events.jsonl")
        harness.generate(EVENTS, jsonl, malformed_share=0.02)  # JSONL only: Python produces

        producer = KafkaProducer(bootstrap_servers=kafka.bootstrap.split(","), compression_type="gzip", linger_ms=20)
        with open(jsonl, "rb") as f:
            for line in f:
                producer.send("clicks", line.rstrip(b"\n"))
        producer.flush(timeout=60)
        producer.close()

        dsn = pg.create_database("interop")
        out = harness.run_daemon(dsn, kafka.bootstrap, **{"source.topics": "clicks", "source.stop_when_caught_up": "true"})
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        events, malformed = expect.read_jsonl(jsonl)
        ids = {row[0] for row in harness.query(dsn, "SELECT event_id::text FROM fact_event")}
        self.assertEqual(ids, {e["id"].lower() for e in events})
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM starstream.dead_letter"), len(malformed))
        self.assertEqual(harness.scalar(dsn, "SELECT sum(next_offset) FROM starstream.progress WHERE topic = 'clicks'"), EVENTS)


if __name__ == "__main__":
    unittest.main(verbosity=2)
