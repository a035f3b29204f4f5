"""starstream-load (bench/loader): hostile CSV and JSONL commerce files (../shared/EVENTS.md
section 2) into librdkafka's mock cluster, read back with kcat and compared with an independent
Python oracle of EVENTS.md's validator:
  - the CSV is split by Python's csv module (strict=True), the JSONL by json; the checks, their
    order, the normalization and the event id (netstrings of the normalized fields, XXH3-128 by
    ctypes from libxxhash, shaped as a UUIDv8) are written here from bench/loader's headers;
  - accepted messages must equal the oracle's, field by field and in the producer's key order,
    each once per accepted row (a resent duplicate is sent again with the same event id);
  - keys per --key mode (user_id, user_session, none = null key); a keyed user's messages keep
    file order within their partition;
  - the reject file lists exactly the oracle's rejects: file, line of the record's start, reason,
    and the record's text as in the file;
  - the JSON summary's counts equal the oracle's;
  - reloading the topic's own messages as JSONL gives the same event ids (CSV -> JSON -> JSON);
  - starstream-generate's commerce CSV loads as the oracle says, and the loader's ids group its
    rows into events exactly as the generator's own ids (one per distinct event) do;
  - failed deliveries end with exit 1, a bad header or option with exit 2 before anything is sent;
  - on small hostile files (a review of issue 15), the loader, this oracle and
    tests/support/commerce_oracle.py (test_commerce_pipeline's) agree on rejects and events.
"""
import calendar
import csv
import ctypes
import datetime
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest
from collections import Counter
from decimal import Decimal

import harness

sys.path.insert(0, os.path.join(harness.SOURCE_DIR, "tests", "support"))
import commerce_oracle  # noqa: E402  the pipeline test's oracle, the third validator kept in step

LOADER = os.path.join(harness.BUILD_DIR, "bench", "starstream-load")
FIELDS = ["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id", "user_session"]
REQUIRED = ["event_time", "event_type", "product_id", "user_id", "user_session"]
EVENT_TYPES = {"view", "cart", "remove_from_cart", "purchase"}
PARTITIONS = 6
csv.field_size_limit(1 << 24)  # the oracle reads the too-large row too

# ---- the oracle ---------------------------------------------------------------------------------

_xxhash = ctypes.CDLL("libxxhash.so.0")


class _XXH128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


_xxhash.XXH3_128bits.restype = _XXH128
_xxhash.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def oracle_event_id(normalized):
    """UUIDv8 of XXH3-128 over the netstrings of the event's identity (daemon/spec/content_id.h,
    pipelines/commerce_events.yaml's event.id.hash): time in Unix microseconds, event type,
    product, user, session, canonical price."""
    data = b"".join(b"%d:%s," % (len(f.encode()), f.encode()) for f in normalized)
    h = _xxhash.XXH3_128bits(data, len(data))
    d = bytearray(h.high64.to_bytes(8, "big") + h.low64.to_bytes(8, "big"))
    d[6] = (d[6] & 0x0F) | 0x80
    d[8] = (d[8] & 0x3F) | 0x80
    x = d.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def oracle_time(text):
    """Unix microseconds of REES46's form or ISO 8601 UTC (Z, +00:00, +0000; a fraction of 1 to 6 digits), else None."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)(?: (\d\d):(\d\d):(\d\d) UTC|T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:Z|\+00:?00))", text)
    if not m:
        return None
    g = m.groups()
    fraction = int((g[9] or "").ljust(6, "0"))
    try:
        return calendar.timegm(datetime.datetime(*[int(x) for x in g[:9] if x is not None]).timetuple()) * 1_000_000 + fraction
    except ValueError:
        return None


def oracle_timestamp(us):
    """The loader's ISO 8601 text: seconds, and the microseconds only when there are some."""
    t = datetime.datetime.fromtimestamp(us // 1_000_000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return t + (f".{us % 1_000_000:06d}" if us % 1_000_000 else "") + "Z"


def oracle_price(text):
    """(reason, canonical decimal text)."""
    if not re.fullmatch(r"-?\d+(\.\d+)?", text):
        return "bad_price", None
    value = Decimal(text)
    integer, _, fraction = text.lstrip("-").partition(".")
    if len(integer.lstrip("0")) + len(fraction.rstrip("0")) > 15:
        return "bad_price", None
    if value < 0:
        return "negative_price", None
    canonical = format(value.normalize(), "f") if value != 0 else "0"
    return None, canonical


def oracle_validate(row):
    """EVENTS.md's validator: (reason, None) or (None, expected message as a dict)."""
    for f in REQUIRED:
        if row[f].strip(" \t") == "":
            return "missing_" + f, None
    if row["event_type"] not in EVENT_TYPES:
        return "unknown_event_type", None
    micros = oracle_time(row["event_time"])
    if micros is None:
        return "bad_event_time", None
    price = ""
    if row["price"] != "":
        reason, price = oracle_price(row["price"])
        if reason:
            return reason, None
    normalized = [str(micros), row["event_type"], row["product_id"], row["user_id"], row["user_session"], price]
    return None, {
        "event_id": oracle_event_id(normalized),
        "timestamp": oracle_timestamp(micros),
        "event_type": row["event_type"], "user_id": row["user_id"], "user_session": row["user_session"],
        "product": {"id": row["product_id"], "category_id": row["category_id"] or None, "category_code": row["category_code"] or None,
                    "brand": row["brand"] or None, "price": Decimal(price) if price else None}}


def oracle_send(row, max_message_bytes=1_000_000):
    """oracle_validate, then the size limit on the compact JSON message."""
    reason, message = oracle_validate(row)
    if message and len(comparable(message).encode()) > max_message_bytes:  # within a few bytes of the compact JSON; the row is far above
        return "message_too_large", None
    return reason, message


class Expected:
    """What one load must produce: messages (dicts, file order), rejects ((file, line, reason)),
    rows_read and blank lines."""

    def __init__(self):
        self.messages, self.rejects, self.rows_read, self.blank_lines = [], [], 0, 0
        self.records = {}  # (file, line) -> the rejected record's text, when it is UTF-8
        self.outcomes = []  # per record in file order: its message, or None when rejected

    def add(self, path, line, reason, message=None, raw=None):
        self.rows_read += 1
        self.outcomes.append(None if reason else message)
        if reason:
            self.rejects.append((path, line, reason))
            if raw is not None:
                self.records[(path, line)] = raw
        else:
            self.messages.append(message)

    def reasons(self):
        return dict(Counter(r for _, _, r in self.rejects))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def oracle_csv(path, expected):
    """Python's csv module finds the records and their lines (non-strict, so that it reads on
    past a malformed one as the loader does); each record's text is then parsed again with
    strict=True, which decides malformed_csv, and validated."""
    text = read_bytes(path).decode("utf-8", errors="surrogateescape")  # bytes that are not UTF-8 survive
    text = text[1:] if text.startswith("\ufeff") else text
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(io.StringIO(text, newline=""))
    header, end = None, 0
    for record in reader:
        start, end = end + 1, reader.line_num
        if record == []:
            expected.blank_lines += 1
            continue
        if header is None:
            header = record
            continue
        raw = "".join(lines[start - 1:end])
        try:
            decoded = raw.encode("utf-8", errors="surrogateescape").decode("utf-8")
        except UnicodeDecodeError:
            expected.add(path, start, "invalid_utf8")
            continue
        record = decoded[:-2] if decoded.endswith("\r\n") else decoded[:-1] if decoded.endswith("\n") else decoded
        try:
            fields = next(csv.reader(io.StringIO(decoded, newline=""), strict=True))
        except csv.Error:
            expected.add(path, start, "malformed_csv", raw=record)
            continue
        if len(fields) != len(header):
            expected.add(path, start, "field_count", raw=record)
            continue
        reason, message = oracle_send(dict(zip(header, fields)))
        expected.add(path, start, reason, message, raw=record)


def oracle_jsonl(path, expected):
    def text(value):
        if value is None:
            return ""
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise TypeError
        if isinstance(value, float):
            return repr(value)
        return str(value)

    lines = read_bytes(path).split(b"\n")
    if lines and lines[-1] == b"":  # the last line's end
        lines.pop()
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):  # a byte order mark is no part of the first line
        lines[0] = lines[0][3:]
    for number, raw in enumerate(lines, start=1):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if raw.strip(b" \t") == b"":
            expected.blank_lines += 1
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            expected.add(path, number, "invalid_utf8")
            continue
        try:
            doc = json.loads(decoded)
            if not isinstance(doc, dict):
                raise TypeError
            product = doc.get("product")
            product = {} if product is None else product
            if not isinstance(product, dict):
                raise TypeError
            row = {"event_time": text(doc.get("timestamp")), "event_type": text(doc.get("event_type")),
                   "user_id": text(doc.get("user_id")), "user_session": text(doc.get("user_session")),
                   "product_id": text(product.get("id")), "category_id": text(product.get("category_id")),
                   "category_code": text(product.get("category_code")), "brand": text(product.get("brand")),
                   "price": text(product.get("price"))}
        except (ValueError, TypeError):
            expected.add(path, number, "malformed_json", raw=decoded)
            continue
        reason, message = oracle_send(row)
        expected.add(path, number, reason, message, raw=decoded)


# ---- hostile input files ------------------------------------------------------------------------

HEADER = ["user_session", "price", "event_type", "product_id", "brand", "user_id", "event_time", "category_code", "category_id"]
T = "2020-09-24 11:57:06 UTC"


def good(**over):
    row = {"event_time": T, "event_type": "view", "product_id": "1996170", "category_id": "2144415922528452715",
           "category_code": "electronics.telephone", "brand": "samsung", "price": "31.90",
           "user_id": "1515915625519388267", "user_session": "LJuJVLEjPT"}
    row.update(over)
    return row


def csv_line(row, quote_all=False):
    """One record in HEADER's column order, quoted as Python's csv module quotes."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerow([row[c] for c in HEADER])
    return out.getvalue()[:-2].encode()


def hostile_csv():
    """Bytes of a CSV with a BOM, CRLF line ends, the header in another order, and every case."""
    records = [
        csv_line(good()),
        csv_line(good()),                                             # a resent duplicate: same event id
        csv_line(good(event_type="cart")),                            # same user, product, second: another id
        csv_line(good(event_time="2020-09-24T11:57:06Z", event_type="purchase", price="0031.900")),  # same event as below
        csv_line(good(event_type="purchase")),
        csv_line(good(brand="acme, inc.", category_code='say "hi", bye')),  # quoted commas and quotes
        csv_line(good(brand="two\r\nlines", user_id="42")),          # a line break inside quotes
        csv_line(good(category_id="", category_code="", brand="", price="")),  # empties: nulls
        csv_line(good(price="-0.00", user_id="43"), quote_all=True),  # zero is not negative
        csv_line(good(brand='o"brien', user_id="44")).replace(b'"o""brien"', b'o"brien'),  # a quote in an unquoted field is data
        b"",                                                          # a blank line
        csv_line(good(event_time="")),
        csv_line(good(event_type="")),
        csv_line(good(product_id="")),
        csv_line(good(user_id="")),
        csv_line(good(user_session="")),
        csv_line(good(product_id=" \t ")),                            # blank is missing
        csv_line(good(user_id="", price="abc")),                      # first failing check wins
        csv_line(good(event_type="click")),
        csv_line(good(event_type="View")),
        csv_line(good(event_time="2020-02-30 10:00:00 UTC")),
        csv_line(good(event_time="2020-09-24 24:00:00 UTC")),
        csv_line(good(event_time="2020-09-24T11:57:06")),
        csv_line(good(event_time="1600948626")),
        csv_line(good(price="abc")),
        csv_line(good(price="1e3")),
        csv_line(good(price="+5")),
        csv_line(good(price="5.")),
        csv_line(good(price="1234567890123456")),
        csv_line(good(price="-0.01")),
        csv_line(good(price="-12")),
        csv_line(good()) + b",extra",                                 # field_count
        b",".join(csv_line(good()).split(b",")[:8]),                  # field_count (short)
        b'"LJuJVLEjPT"x,31.90,view,1,samsung,1,' + T.encode() + b',,',  # text after a closing quote
        csv_line(good(brand="XBRANDX")).replace(b"XBRANDX", b"caf\xff"),  # not UTF-8
        csv_line(good(brand="zoë", user_id="45")),                    # UTF-8 is fine
        csv_line(good(brand="b" * 1_200_000)),                        # a valid row too large for a Kafka message
    ]
    body = b"\r\n".join([b",".join(h.encode() for h in HEADER)] + records) + b"\r\n"
    body += csv_line(good(user_id="46")) + b"\n"                     # an LF line among CRLF ones
    body += csv_line(good(brand="opens")).replace(b"opens", b'"never closed') + b"\r\n" + csv_line(good()) + b"\r\n"
    return b"\xef\xbb\xbf" + body


def hostile_jsonl():
    def msg(**over):
        m = {"event_id": "ignored", "timestamp": "2020-09-24T11:57:06Z", "event_type": "view", "user_id": "1515915625519388267",
             "user_session": "LJuJVLEjPT", "product": {"id": "1996170", "category_id": "2144415922528452715",
                                                       "category_code": "electronics.telephone", "brand": "samsung", "price": 31.9}}
        for k, v in over.items():
            if k.startswith("p_"):
                m["product"][k[2:]] = v
            else:
                m[k] = v
        return json.dumps(m).encode()

    lines = [
        msg(),                                                              # the CSV's first row: the same id
        msg(timestamp=T, p_price="31.90"),                                  # CSV time form, price as text
        msg(user_id=1515915625519388267, p_id=1996170, p_category_id=2144415922528452715),  # ids as numbers keep every digit
        msg(p_brand=None, p_category_code=None, p_price=None, extra={"a": 1}),  # nulls, an unknown field
        json.dumps({"timestamp": "2020-09-24T11:57:06Z", "event_type": "cart", "user_id": "7", "user_session": "s",
                    "product": {"id": "1"}}).encode(),                      # absent optional fields
        b"",
        b"   ",
        b'{"timestamp": ',                                                 # not JSON
        b"[1, 2]",                                                          # not an object
        msg(p_brand=True),                                                  # a field of another type
        msg(product="x"),
        msg() + b" x",                                                      # text after the object
        json.dumps({"timestamp": "2020-09-24T11:57:06Z", "event_type": "view", "user_id": "7", "user_session": "s"}).encode(),
        msg(event_type="purchase", p_price="-3"),
        msg(p_price="1e3"),
        msg(user_session=None),
        msg(p_brand="XBRANDX").replace(b"XBRANDX", b"\xc3\x28"),             # not UTF-8
        msg(timestamp="2020-13-01T00:00:00Z"),
    ]
    return b"\r\n".join(lines[:3]) + b"\r\n" + b"\n".join(lines[3:]) + b"\n"


# ---- running the loader and reading the topic ---------------------------------------------------

def comparable(message):
    """A message as canonical text, its price as an exact decimal (31.90 and 31.9 are one price)."""
    price = message["product"]["price"]
    product = dict(message["product"], price=None if price is None else format(Decimal(price).normalize(), "f"))
    return json.dumps(dict(message, product=product), sort_keys=True)


def parse_message(value):
    """A message's JSON with its numbers as Decimal (as written, not through a double)."""
    return json.loads(value, parse_float=Decimal, parse_int=Decimal)


def run_loader(files, bootstrap, topic, key, rejects, *extra):
    args = [LOADER, "--brokers", bootstrap, "--topic", topic, "--key", key, "--rejects", rejects, *extra, *files]
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


def read_topic(bootstrap, topic):
    """Every message as (partition, offset, key bytes or None, value bytes), read with kcat."""
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %o %K %S\n%k%s\n"],
                         capture_output=True, timeout=120, check=True).stdout
    messages, at = [], 0
    while at < len(out):
        eol = out.index(b"\n", at)
        p, o, klen, vlen = (int(x) for x in out[at:eol].split())
        at = eol + 1
        key = out[at:at + klen] if klen >= 0 else None
        at += max(klen, 0)
        messages.append((p, o, key, out[at:at + vlen]))
        at += vlen + 1
    return messages


def read_rejects(path):
    return [json.loads(line) for line in read_bytes(path).decode().splitlines()]


class Loader(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kafka = harness.MockKafka(brokers=3, partitions=PARTITIONS, topics=("by_user", "by_session", "unkeyed", "reload_source", "reloaded", "header", "defaults", "generated", "generated_jsonl"))
        cls.tmp = tempfile.mkdtemp(prefix="starstream-loader-")
        cls.csv = os.path.join(cls.tmp, "events.csv")
        cls.jsonl = os.path.join(cls.tmp, "events.jsonl")
        with open(cls.csv, "wb") as f:
            f.write(hostile_csv())
        with open(cls.jsonl, "wb") as f:
            f.write(hostile_jsonl())

    @classmethod
    def tearDownClass(cls):
        cls.kafka.stop()

    def expected(self, files):
        e = Expected()
        for path in files:
            (oracle_csv if path.endswith(".csv") else oracle_jsonl)(path, e)
        return e

    def load_and_check(self, topic, key, files):
        """Loads `files`, checks messages, rejects and summary against the oracle; returns the topic's messages."""
        rejects = os.path.join(self.tmp, topic + ".rejects.jsonl")
        out = run_loader(files, self.kafka.bootstrap, topic, key, rejects)
        self.assertEqual(out.returncode, 0, out.stderr)
        summary = json.loads(out.stdout)
        e = self.expected(files)
        messages = read_topic(self.kafka.bootstrap, topic)

        got = [parse_message(v) for _, _, _, v in messages]
        self.assertEqual(Counter(comparable(m) for m in got), Counter(comparable(m) for m in e.messages))
        for m in got:  # the producer's key order
            self.assertEqual(list(m), ["event_id", "timestamp", "event_type", "user_id", "user_session", "product"])
            self.assertEqual(list(m["product"]), ["id", "category_id", "category_code", "brand", "price"])
            self.assertRegex(m["event_id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

        for _, _, k, v in messages:
            m = json.loads(v)
            want = {"user": m["user_id"].encode(), "session": m["user_session"].encode(), "none": None}[key]
            self.assertEqual(k, want)
        if key != "none":  # one key, one partition, file order within it
            by_key = {}
            for p, o, k, v in sorted(messages, key=lambda x: (x[0], x[1])):
                by_key.setdefault(k, []).append((p, json.loads(v)["event_id"]))
            field = "user_id" if key == "user" else "user_session"
            for k, seq in by_key.items():
                self.assertEqual(len({p for p, _ in seq}), 1, f"key {k} over several partitions")
                self.assertEqual([i for _, i in seq], [m["event_id"] for m in e.messages if m[field].encode() == k])

        logged = read_rejects(rejects)
        self.assertEqual([(r["file"], r["line"], r["reason"]) for r in logged], e.rejects)
        for r in logged:  # the record as in the file, so that it can be fixed and loaded again
            if (r["file"], r["line"]) in e.records:
                self.assertEqual(r["record"], e.records[(r["file"], r["line"])])
        self.assertEqual(summary["rows_read"], e.rows_read)
        self.assertEqual(summary["blank_lines"], e.blank_lines)
        self.assertEqual(summary["sent"], len(e.messages))
        self.assertEqual(summary["rejected"], len(e.rejects))
        self.assertEqual(summary["rejected_by_reason"], e.reasons())
        self.assertEqual(summary["delivery_failed"], 0)
        return messages

    def test_csv_and_jsonl_keyed_by_user(self):
        e = self.expected([self.csv, self.jsonl])
        self.assertEqual(set(e.reasons()), {"invalid_utf8", "malformed_csv", "field_count", "malformed_json", "missing_event_time",
                                            "missing_event_type", "missing_product_id", "missing_user_id", "missing_user_session",
                                            "unknown_event_type", "bad_event_time", "bad_price", "negative_price", "message_too_large"},
                         "the files must exercise every reject reason")
        messages = self.load_and_check("by_user", "user", [self.csv, self.jsonl])
        ids = [json.loads(v)["event_id"] for _, _, _, v in messages]
        first = oracle_validate(good())[1]["event_id"]
        self.assertEqual(ids.count(first), 6, "the CSV row, its duplicate, the row with another brand and category (they describe "
                                              "the product, not the event) and three JSONL forms of it share one id")
        cart = oracle_validate(good(event_type="cart"))[1]["event_id"]
        self.assertNotEqual(first, cart, "two events of one user and product in one second have two ids")
        self.assertEqual(ids.count(oracle_validate(good(event_type="purchase"))[1]["event_id"]), 2, "ISO time and 0031.900: one event")

    def test_the_generators_commerce_csv(self):
        """starstream-generate's commerce CSV (malformed rows, resent duplicates, view + cart pairs of
        one user and product in one second) loads as the oracle says, and the loader's ids split the
        rows into events exactly as the generator's own ids (one per distinct event) do."""
        csv_path, jsonl_path = os.path.join(self.tmp, "generated.csv"), os.path.join(self.tmp, "generated.jsonl")
        out = subprocess.run([harness.GENERATOR, "--event-type", "commerce", "--events", "3000", "--seed", "5", "--start-time", "1600000000",
                              "--csv", csv_path, "--jsonl", jsonl_path, "--malformed-share", "0.03", "--duplicate-share", "0.03",
                              "--same-second-share", "0.03"], capture_output=True, text=True, timeout=300, check=True)
        kinds = json.loads(out.stdout)["kinds"]
        from_csv = self.load_and_check("generated", "user", [csv_path])
        from_jsonl = self.load_and_check("generated_jsonl", "user", [jsonl_path])
        self.assertEqual(Counter(comparable(parse_message(v)) for *_, v in from_csv), Counter(comparable(parse_message(v)) for *_, v in from_jsonl),
                         "the generator's CSV and JSONL of one run are the same events, ids included")
        e = self.expected([csv_path])
        self.assertEqual(len(e.rejects), sum(n for kind, n in kinds.items() if kind not in ("valid", "duplicate")))
        self.assertGreater(kinds["duplicate"], 0)
        generated = [json.loads(line)["event_id"] for line in read_bytes(jsonl_path).decode().splitlines()]
        self.assertEqual(len(generated), len(e.outcomes))
        pairs = {(gid, m["event_id"]) for gid, m in zip(generated, e.outcomes) if m is not None}
        accepted = [gid for gid, m in zip(generated, e.outcomes) if m is not None]
        self.assertEqual(len(pairs), len(set(accepted)), "two generated events share a loader id")
        self.assertEqual(len(pairs), len({i for _, i in pairs}), "one generated event has two loader ids")
        self.assertEqual(len(set(accepted)), kinds["valid"])

    def test_keyed_by_session(self):
        self.load_and_check("by_session", "session", [self.csv])

    def test_unkeyed(self):
        messages = self.load_and_check("unkeyed", "none", [self.csv])
        self.assertTrue(all(k is None for _, _, k, _ in messages))

    def test_reloading_the_topic_keeps_event_ids(self):
        first = [v for _, _, _, v in self.load_and_check("reload_source", "user", [self.csv])]
        dump = os.path.join(self.tmp, "dump.ndjson")
        with open(dump, "wb") as f:
            f.write(b"\n".join(first) + b"\n")
        out = run_loader([dump], self.kafka.bootstrap, "reloaded", "user", os.path.join(self.tmp, "reloaded.rejects.jsonl"))
        self.assertEqual(out.returncode, 0, out.stderr)
        again = [parse_message(v) for _, _, _, v in read_topic(self.kafka.bootstrap, "reloaded")]
        self.assertEqual(Counter(comparable(parse_message(v)) for v in first), Counter(comparable(m) for m in again))

    def test_default_reject_files_lie_next_to_each_input(self):
        folder = tempfile.mkdtemp(prefix="defaults-", dir=self.tmp)
        files = [os.path.join(folder, "a.csv"), os.path.join(folder, "b.jsonl")]
        for path, source in zip(files, (self.csv, self.jsonl)):
            with open(path, "wb") as f:
                f.write(read_bytes(source))
        out = subprocess.run([LOADER, "--brokers", self.kafka.bootstrap, "--topic", "defaults", *files], capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["reject_files"], [p + ".rejects.jsonl" for p in files])
        for path in files:
            self.assertEqual([(r["file"], r["line"], r["reason"]) for r in read_rejects(path + ".rejects.jsonl")], self.expected([path]).rejects)
        self.assertEqual(len(read_topic(self.kafka.bootstrap, "defaults")), len(self.expected(files).messages))

    def test_failed_deliveries_exit_1(self):
        port = harness.free_port()  # nothing listens there
        out = run_loader([self.csv], f"127.0.0.1:{port}", "by_user", "user", os.path.join(self.tmp, "down.rejects.jsonl"),
                         "--kafka-property", "message.timeout.ms=1500", "--kafka-property", "reconnect.backoff.max.ms=100")
        self.assertEqual(out.returncode, 1, out.stderr)
        summary = json.loads(out.stdout)
        self.assertEqual(summary["sent"], 0)
        self.assertEqual(summary["delivery_failed"], len(self.expected([self.csv]).messages))
        self.assertIn("delivery failed", summary["error"])

    def test_bad_header_options_and_properties_exit_2_before_sending(self):
        bad = os.path.join(self.tmp, "no_price.csv")
        with open(bad, "w") as f:
            f.write("event_time,event_type,product_id,category_id,category_code,brand,user_id,user_session\n")
            f.write(f"{T},view,1,2,,,3,s\n")
        out = run_loader([self.csv, bad], self.kafka.bootstrap, "header", "user", os.path.join(self.tmp, "header.rejects.jsonl"))
        self.assertEqual(out.returncode, 2)
        self.assertIn("no_price.csv:1: header lacks column price", out.stderr)
        out = run_loader([self.csv], self.kafka.bootstrap, "header", "product", os.path.join(self.tmp, "header.rejects.jsonl"))
        self.assertEqual(out.returncode, 2)
        self.assertIn("--key product", out.stderr)
        out = run_loader([self.csv], self.kafka.bootstrap, "header", "user", os.path.join(self.tmp, "header.rejects.jsonl"),
                         "--kafka-property", "no.such.property=1")
        self.assertEqual(out.returncode, 2)
        self.assertIn("no.such.property", out.stderr)
        self.assertEqual(read_topic(self.kafka.bootstrap, "header"), [])


# ---- the three validators agree -----------------------------------------------------------------

R_HEADER = ",".join(FIELDS)
R_VALID = "2020-09-24 10:00:00 UTC,view,1001,2001,electronics.smartphone,acme,31.90,5001,SESSIONAAA"


def seed_message(stamp, **over):
    """One message of EVENTS.md's seed producer (its field names), as one JSONL line."""
    m = {"event_id": "5001_1001_1600941426", "timestamp": stamp, "event_type": "view", "user_id": "5001", "user_session": "SESSIONAAA",
         "product": {"id": "1001", "category_id": "2001", "category_code": "electronics.smartphone", "brand": "acme", "price": 31.9}}
    return json.dumps({**m, **over}) + "\n"


class ThreeValidatorsAgree(unittest.TestCase):
    """Files where the loader and commerce_oracle.py once disagreed (a review of issue 15); each
    is decided by a rule stated in bench/loader/commerce_validation.h or csv_source.h."""

    CSV = {
        # RFC 4180: every record has the header's number of fields; a download cut mid-row is field_count.
        "truncated_last_row": R_HEADER + "\n" + R_VALID + "\n2020-09-24 10:00:01 UTC,view,1002,2001,electronics.smartphone,acme",
        # An unquoted comma in the last field makes a tenth field: field_count, not a row with a field dropped.
        "unquoted_comma_in_last_field": R_HEADER + "\n" + R_VALID + "\n2020-09-24 10:00:02 UTC,view,1003,2001,,acme,1.00,5002,SESS,ION\n",
        # One time grammar for CSV and JSONL: an ISO 8601 UTC time in a CSV is a time.
        "iso_time_in_csv": R_HEADER + "\n2020-09-24T10:00:03Z,view,1004,2001,,acme,1.00,5003,SESSIONBBB\n",
        # 18 digits as written, 3 significant: within the 15 significant digits a double keeps.
        "zero_padded_price": R_HEADER + "\n2020-09-24 10:00:04 UTC,view,1005,2001,,acme,0000000000000031.90,5004,SESSIONCCC\n",
        # RFC 4180, strictly: text after a closing quote is malformed_csv.
        "text_after_closing_quote": R_HEADER + '\n2020-09-24 10:00:05 UTC,view,1006,2001,,"acme"x,1.00,5005,SESSIONDDD\n',
        # A record spanning lines is named by the line it starts on.
        "multi_line_rejected_row": R_HEADER + '\n2020-09-24 10:00:06 UTC,wishlist,1007,2001,,"ac\nme",1.00,5006,SESSIONEEE\n',
        # Sameness by value: 31.90 and 31.9 are one price, so the two rows are one event.
        "price_spelled_twice": R_HEADER + "\n" + R_VALID + "\n" + R_VALID.replace("31.90", "31.9") + "\n",
        # Missing = blank after ASCII spaces and tabs; a no-break space is a value.
        "no_break_space_user": R_HEADER + "\n2020-09-24 10:00:07 UTC,view,1008,2001,,acme,1.00,\u00a0,SESSIONFFF\n",
        # Year 0000 is no calendar year (Python's datetime and PostgreSQL's AD years start at 1).
        "year_zero": R_HEADER + "\n0000-01-01 00:00:00 UTC,view,1009,2001,,acme,1.00,5007,SESSIONGGG\n",
    }
    # What Python's isoformat(), pandas' to_json and JavaScript write for UTC; a leading byte order mark.
    JSONL = {
        "jsonl_times": "".join(seed_message(stamp) for stamp in (
            "2020-09-24T11:57:06Z", "2020-09-24T11:57:07+00:00", "2020-09-24T11:57:08.000Z", "2020-09-24T11:57:09.123456+00:00")),
        "jsonl_bom": "\ufeff" + seed_message("2020-09-24T11:57:06Z"),
        "jsonl_other_offset": seed_message("2020-09-24T13:57:06+02:00"),  # not UTC: bad_event_time
    }

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-loader-agree-")
        cls.kafka = harness.MockKafka(brokers=1, partitions=1, topics=tuple(cls.CSV) + tuple(cls.JSONL))
        cls.addClassCleanup(cls.kafka.stop)

    def load(self, name, extension, text):
        """(the loader's messages as dicts, its (line, reason) rejects, this module's oracle) for one file."""
        path = os.path.join(self.tmp, name + extension)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        rejects = os.path.join(self.tmp, name + ".rejects.jsonl")
        out = run_loader([path], self.kafka.bootstrap, name, "none", rejects)
        self.assertEqual(out.returncode, 0, out.stderr)
        messages = [parse_message(v) for *_, v in read_topic(self.kafka.bootstrap, name)]
        e = Expected()
        (oracle_csv if extension == ".csv" else oracle_jsonl)(path, e)
        self.assertEqual(Counter(comparable(m) for m in messages), Counter(comparable(m) for m in e.messages))
        loader_rejects = [(r["line"], r["reason"]) for r in read_rejects(rejects)]
        self.assertEqual(loader_rejects, [(line, reason) for _, line, reason in e.rejects])
        return path, messages, loader_rejects

    def test_csv_cases(self):
        for name, text in self.CSV.items():
            with self.subTest(name):
                path, messages, rejects = self.load(name, ".csv", text)
                events, oracle_rejects = commerce_oracle.read_events(path)
                self.assertEqual(rejects, oracle_rejects, "loader rejects vs commerce_oracle rejects")
                self.assertEqual(len({m["event_id"] for m in messages}), len(events), "distinct events sent vs commerce_oracle's")

    def test_csv_cases_are_decided(self):
        """The decisions themselves, so that the three cannot agree on another rule unnoticed."""
        decided = {"truncated_last_row": [(3, "field_count")], "unquoted_comma_in_last_field": [(3, "field_count")],
                   "iso_time_in_csv": [], "zero_padded_price": [], "text_after_closing_quote": [(2, "malformed_csv")],
                   "multi_line_rejected_row": [(2, "unknown_event_type")], "price_spelled_twice": [], "no_break_space_user": [],
                   "year_zero": [(2, "bad_event_time")]}
        events = {"price_spelled_twice": 1, "no_break_space_user": 1, "iso_time_in_csv": 1, "zero_padded_price": 1}
        for name, rejects in decided.items():
            path = os.path.join(self.tmp, name + ".decided.csv")
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(self.CSV[name])
            valid, oracle_rejects = commerce_oracle.read_events(path)
            self.assertEqual(oracle_rejects, rejects, name)
            if name in events:
                self.assertEqual(len(valid), events[name], name)

    def test_iso_8601_utc_times_and_a_byte_order_mark_in_jsonl(self):
        _, messages, rejects = self.load("jsonl_times", ".jsonl", self.JSONL["jsonl_times"])
        self.assertEqual((rejects, len(messages)), ([], 4))
        self.assertEqual(messages[3]["timestamp"], "2020-09-24T11:57:09.123456Z", "a fraction of a second is kept")
        _, messages, rejects = self.load("jsonl_bom", ".jsonl", self.JSONL["jsonl_bom"])
        self.assertEqual((rejects, len(messages)), ([], 1))
        _, messages, rejects = self.load("jsonl_other_offset", ".jsonl", self.JSONL["jsonl_other_offset"])
        self.assertEqual((rejects, messages), ([(1, "bad_event_time")], []))


if __name__ == "__main__":
    unittest.main(verbosity=2)
