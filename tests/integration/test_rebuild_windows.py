"""`starstreamd rebuild-windows` and migration 005 (windowed tables shared by every instance) on a
real PostgreSQL, checked against brute forces computed here from the events themselves, never
against numbers read back from starstream's own windowed tables.

RebuildFromFacts: 12,000 generated events over six hours with disorder and 2 % late events,
spread round-robin over 8 partitions (a device's events in all of them), through starstreamd; then `rebuild-windows`, in a session whose TimeZone is America/St_Johns
(UTC-3:30, so a bucket taken in local time would be off by half an hour), gives
win_hourly_product_views, win_hourly_product_views_visitors_members, win_product_view_panes and
win_visits equal to a brute force over the JSONL, leaving out exactly the events
starstream.late_event lists for each table (the daemon's, and rows inserted here by hand). The
views and reports 07-09 read the rebuilt tables; another windows.visit_gap_ms gives other visits;
the command waits for the window merge lock.

UpgradeFrom004: a database migrated up to 004 (a copy of sql/migrations 001-004) holding
hand-made facts (sub-second times, ties, a gap met exactly, NULL products and URLs) and old
per-partition window rows and operator state; `starstreamd migrate` applies 005, which drops
the old tables and rebuilds the new ones from fact_event."""
import collections
import datetime
import os
import random
import re
import shutil
import subprocess
import tempfile
import unittest
import uuid

import psycopg2

import expectations as expect
import harness

EVENTS = 12_000
START = 1588500000  # 2020-05-03 10:00 UTC
DAY = "2020-05-03"
SECOND = 1_000_000  # microseconds
HOUR, FIVE_MIN, GAP = 3600 * SECOND, 300 * SECOND, 1800 * SECOND
OPERATORS = ("win_hourly_product_views", "win_product_view_panes", "win_visits")
# A session time zone with a half-hour offset (and daylight saving time): the rebuild must not use it.
TIME_ZONE_OPTION = " options='-c TimeZone=America/St_Johns'"
REPORTS = os.path.join(harness.SOURCE_DIR, "sql", "reports")
MIGRATIONS = os.path.join(harness.SOURCE_DIR, "sql", "migrations")

# One event as the oracles see it: t in Unix microseconds; product None when the event has none.
Event = collections.namedtuple("Event", "id t product store location device url collection")


def us(column):
    """SQL for a timestamptz column as Unix microseconds."""
    return f"(extract(epoch FROM {column}) * 1000000)::bigint"


# ---- brute forces ------------------------------------------------------------------------------

def is_product_view(e):
    return e.collection == "view_product_detail" and e.product is not None


def hourly(events):
    """({(hour start, product, store, location): (views, visitors)}, {(cell..., device)})."""
    views, devices = collections.Counter(), collections.defaultdict(set)
    for e in filter(is_product_view, events):
        cell = (e.t // HOUR * HOUR, e.product, e.store, e.location)
        views[cell] += 1
        devices[cell].add(e.device)
    return ({cell: (n, len(devices[cell])) for cell, n in views.items()},
            {cell + (d,) for cell, ds in devices.items() for d in ds})


def panes(events):
    """{(pane start, product): views} of 5-minute panes."""
    return dict(collections.Counter((e.t // FIVE_MIN * FIVE_MIN, e.product) for e in filter(is_product_view, events)))


def visits(events, gap):
    """{(device, visit start): (visit end, last event time, events, product views, first url, last url, checkout)}:
    a device's events by time; a visit ends where the next event is gap or more after the last."""
    by_device = collections.defaultdict(list)
    for e in events:
        by_device[e.device].append(e)
    out = {}
    for device, es in by_device.items():
        es.sort(key=lambda e: e.t)
        sessions = [[es[0]]]
        for e in es[1:]:
            if e.t < sessions[-1][-1].t + gap:
                sessions[-1].append(e)
            else:
                sessions.append([e])
        for s in sessions:
            first, last = s[0].t, s[-1].t
            out[(device, first)] = (last + gap, last, len(s), sum(map(is_product_view, s)),
                                    min(e.url or "" for e in s if e.t == first), max(e.url or "" for e in s if e.t == last),
                                    any(e.collection == "checkout_success" for e in s))
    return out


def trending(pane_views, watermark):
    """{(window start, product): views} of the hopping windows (1 h every 5 min) ending by the watermark."""
    out = collections.Counter()
    for (start, product), n in pane_views.items():
        for w in range(start - HOUR + FIVE_MIN, start + 1, FIVE_MIN):
            if watermark is not None and w + HOUR <= watermark:
                out[(w, product)] += n
    return dict(out)


def without(events, ids):
    return [e for e in events if e.id not in ids]


def from_jsonl(path):
    events, _ = expect.read_jsonl(path)
    return [Event(e["id"].lower(), e["time_stamp"] * SECOND, e.get("product_id") or None, e["store_id"], expect.country(e.get("ip")),
                  e.get("device_id") or "", e.get("current_url"), e["collection"]) for e in events]


# ---- what the database holds -------------------------------------------------------------------

DIMS = "JOIN dim_product p USING (product_key) JOIN dim_store s USING (store_key) JOIN dim_location l USING (location_key)"


def table_hourly(dsn):
    rows = harness.query(dsn, f"""SELECT {us('h.window_start')}, {us('h.window_end')}, p.product_id, s.store_id, l.country_code,
                                         h.views, h.visitors FROM win_hourly_product_views h {DIMS}""")
    return {(start, p, s, c): (views, visitors) for start, end, p, s, c, views, visitors in rows if end == start + HOUR} | {
        ("bad window_end", start, end): None for start, end, *_ in rows if end != start + HOUR}


def table_visitors(dsn):
    return set(harness.query(dsn, f"""SELECT {us('v.window_start')}, p.product_id, s.store_id, l.country_code, v.member
                                      FROM win_hourly_product_views_visitors_members v {DIMS}"""))


def table_panes(dsn):
    rows = harness.query(dsn, f"""SELECT {us('w.window_start')}, {us('w.window_end')}, p.product_id, w.views
                                  FROM win_product_view_panes w JOIN dim_product p USING (product_key)""")
    return {(start, p): n for start, end, p, n in rows if end == start + FIVE_MIN} | {
        ("bad window_end", start, end): None for start, end, *_ in rows if end != start + FIVE_MIN}


def table_visits(dsn, source="win_visits"):
    return {(d, start): tuple(rest) for d, start, *rest in harness.query(dsn, f"""
        SELECT device_id, {us('visit_start')}, {us('visit_end')}, {us('last_event_time')}, events, product_views, first_url, last_url,
               reached_checkout FROM {source}""")}


def window_watermark(dsn):
    return harness.scalar(dsn, f"SELECT {us('watermark')} FROM starstream.window_watermark")


def late_ids(dsn):
    """{operator: event ids} of starstream.late_event (the rebuild's input, not its output)."""
    out = {op: set() for op in OPERATORS}
    for op, event_id in harness.query(dsn, """
            SELECT l.operator, f.event_id::text FROM starstream.late_event l
            JOIN fact_event f ON (f.kafka_topic, f.kafka_partition, f.kafka_offset) = (l.kafka_topic, l.kafka_partition, l.kafka_offset)"""):
        out[op].add(event_id)
    return out


def starstreamd(*args, timeout=300):
    return subprocess.run([harness.DAEMON, *args], capture_output=True, text=True, timeout=timeout)


def printed_counts(stdout):
    return {table: int(n) for table, n in re.findall(r"^\s+(\S+)\s+(\d+)$", stdout, re.M)}


class WindowsOracle:
    """Assertions shared by both cases: every rebuilt table equals its brute force."""

    def assert_rebuilt(self, dsn, events, gap=GAP):
        late = late_ids(dsn)
        cells, visitor_rows = hourly(without(events, late["win_hourly_product_views"]))
        self.assertEqual(table_hourly(dsn), cells)
        self.assertEqual(table_visitors(dsn), visitor_rows)
        self.assertEqual(table_panes(dsn), panes(without(events, late["win_product_view_panes"])))
        want = visits(without(events, late["win_visits"]), gap)
        got = table_visits(dsn)
        self.assertEqual(len(got), len(want))
        self.assertEqual(got, want)

    def assert_views(self, dsn, events):
        """is_final and trending_products follow the window watermark."""
        watermark = window_watermark(dsn)
        for end, final in harness.query(dsn, f"SELECT {us('window_end')}, is_final FROM hourly_product_views"):
            self.assertEqual(final, watermark is not None and end <= watermark)
        for end, final in harness.query(dsn, f"SELECT {us('visit_end')}, is_final FROM visits"):
            self.assertEqual(final, watermark is not None and end <= watermark)
        self.assertEqual(harness.scalar(dsn, "SELECT count(*) FROM hourly_product_views"),
                         harness.scalar(dsn, "SELECT count(*) FROM win_hourly_product_views"))
        self.assertEqual(table_visits(dsn, "visits"), table_visits(dsn))
        got = {(start, p): n for start, end, p, n in harness.query(dsn, f"""
            SELECT {us('t.window_start')}, {us('t.window_end')}, p.product_id, t.views FROM trending_products t
            JOIN dim_product p USING (product_key)""") if end == start + HOUR}
        want = trending(panes(without(events, late_ids(dsn)["win_product_view_panes"])), watermark)
        self.assertEqual(got, want)
        return watermark


class RebuildFromFacts(unittest.TestCase, WindowsOracle):
    @classmethod
    def setUpClass(cls):
        harness.local_stack(cls, "starstream-rebuild-", 8, EVENTS, start_time=START, span_seconds=6 * 3600,
                            out_of_order_seconds=60, late_share=0.02, late_seconds=900, partitioning="round_robin")
        cls.dsn = cls.pg.create_database("rebuild")
        cls.daemon = harness.run_daemon(cls.dsn, cls.kafka.bootstrap, **{
            "source.stop_when_caught_up": "true", "time.allowed_out_of_orderness_ms": 120000, "batch.max_records": 2000})
        cls.events = from_jsonl(cls.jsonl)

    def rebuild(self, *flags):
        done = starstreamd("rebuild-windows", f"--postgres.dsn={self.dsn}{TIME_ZONE_OPTION}", *flags)
        self.assertEqual(done.returncode, 0, done.stderr[-3000:])
        return done

    def test_daemon_exits_cleanly_with_every_event_a_fact(self):
        self.assertEqual(self.daemon.returncode, 0, self.daemon.stderr[-3000:])
        # The oracles below read the JSONL: it must be what fact_event holds.
        self.assertEqual({r[0] for r in harness.query(self.dsn, "SELECT event_id::text FROM fact_event")}, {e.id for e in self.events})

    def test_rebuild_equals_brute_force(self):
        done = self.rebuild()
        self.assertEqual(harness.scalar(self.dsn + TIME_ZONE_OPTION, "SHOW TimeZone"), "America/St_Johns")
        self.assertIn("visit gap 1800000 ms", done.stdout)
        self.assert_rebuilt(self.dsn, self.events)
        counts = printed_counts(done.stdout)
        self.assertEqual(counts, {t: harness.scalar(self.dsn, f"SELECT count(*) FROM {t}") for t in (
            "win_hourly_product_views", "win_hourly_product_views_visitors_members", "win_product_view_panes", "win_visits")})
        self.assertGreater(counts["win_visits"], 100)

    def test_views_and_reports_read_the_rebuilt_tables(self):
        self.rebuild()
        watermark = self.assert_views(self.dsn, self.events)
        self.assertIsNotNone(watermark, "the daemon committed partition watermarks")
        late = late_ids(self.dsn)
        params = {"port": self.pg.port, "dbname": "rebuild"}
        # 07: the 20 busiest hourly cells of the day.
        cells, _ = hourly(without(self.events, late["win_hourly_product_views"]))
        ranked = sorted(((k, v) for k, v in cells.items() if day_of(k[0]) == DAY), key=lambda kv: (-kv[1][0], kv[0]))[:20]
        self.assertEqual(expect.run_report(params, os.path.join(REPORTS, "07_hourly_product_views_today.sql"), day=DAY), [
            [hhmm(start), p, s, c, str(views), str(visitors), "t" if start + HOUR <= watermark else "f"]
            for (start, p, s, c), (views, visitors) in ranked])
        # 08: the top 3 products (rank with ties) of every final hopping window ending on the day.
        windows = trending(panes(without(self.events, late["win_product_view_panes"])), watermark)
        rows = []
        for (start, p), n in windows.items():
            rank = 1 + sum(1 for (s2, _), n2 in windows.items() if s2 == start and n2 > n)
            if rank <= 3 and day_of(start + HOUR) == DAY:
                rows.append((start + HOUR, rank, p, n))
        self.assertGreater(len(rows), 0)
        self.assertEqual(expect.run_report(params, os.path.join(REPORTS, "08_trending_products_today.sql"), day=DAY),
                         [[hhmm(end), str(rank), p, str(n)] for end, rank, p, n in sorted(rows)])
        # 09: visits per landing page (first URL) of the visits starting on the day.
        landing = collections.Counter(v[4] for (_, start), v in visits(without(self.events, late["win_visits"]), GAP).items()
                                      if day_of(start) == DAY)
        got = expect.run_report(params, os.path.join(REPORTS, "09_visits_today.sql"), day=DAY)
        self.assertEqual([row[:2] for row in got], [[u, str(n)] for u, n in sorted(landing.items(), key=lambda kv: (-kv[1], kv[0]))[:10]])

    def test_late_events_are_left_out_of_their_table_only(self):
        """One product view listed for each table by hand: each is missing from exactly that table."""
        before = late_ids(self.dsn)
        chosen = harness.query(self.dsn, """
            SELECT f.event_id::text, f.kafka_topic, f.kafka_partition, f.kafka_offset FROM fact_event f
            JOIN dim_collection c USING (collection_key)
            WHERE c.collection = 'view_product_detail' AND f.product_key IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM starstream.late_event l WHERE (l.kafka_topic, l.kafka_partition, l.kafka_offset)
                                                                         = (f.kafka_topic, f.kafka_partition, f.kafka_offset))
            ORDER BY f.event_id LIMIT 3""")
        self.assertEqual(len(chosen), 3)
        rows = [(op,) + tuple(c[1:]) for op, c in zip(OPERATORS, chosen)]
        harness.query(self.dsn, """
            INSERT INTO starstream.late_event
            SELECT l.operator, f.kafka_topic, f.kafka_partition, f.kafka_offset, f.event_time, 600000, f.event_time, f.event_time,
                   f.event_time + interval '10 minutes', 0
            FROM (VALUES %s) AS l(operator, kafka_topic, kafka_partition, kafka_offset)
            JOIN fact_event f USING (kafka_topic, kafka_partition, kafka_offset)""" % ",".join(["(%s, %s, %s, %s)"] * 3),
                      [v for r in rows for v in r])
        self.addCleanup(self.rebuild)  # cleanups run last-in first-out: the DELETE, then this
        self.addCleanup(harness.query, self.dsn, "DELETE FROM starstream.late_event WHERE batch_id = 0")
        self.rebuild()
        after = late_ids(self.dsn)
        for op, (event_id, *_) in zip(OPERATORS, chosen):
            self.assertEqual(after[op] - before[op], {event_id})
        self.assert_rebuilt(self.dsn, self.events)
        # Exactly one event less where it was listed, none elsewhere.
        hourly_id, pane_id, visit_id = (c[0] for c in chosen)
        event = {e.id: e for e in self.events}
        cell = (event[hourly_id].t // HOUR * HOUR, event[hourly_id].product, event[hourly_id].store, event[hourly_id].location)
        all_cells, _ = hourly(without(self.events, before["win_hourly_product_views"]))
        self.assertEqual(table_hourly(self.dsn).get(cell, (0, 0))[0], all_cells[cell][0] - 1)
        pane = (event[pane_id].t // FIVE_MIN * FIVE_MIN, event[pane_id].product)
        self.assertEqual(table_panes(self.dsn).get(pane, 0), panes(without(self.events, before["win_product_view_panes"]))[pane] - 1)
        self.assertEqual(sum(v[2] for v in table_visits(self.dsn).values()), len(without(self.events, before["win_visits"])) - 1)

    def test_another_visit_gap(self):
        self.addCleanup(self.rebuild)
        if os.environ.get("STARSTREAM_PIPELINES__COMPILED") == "product_view":
            done = self.rebuild("--windows.visit_gap_ms=600000")  # the compiled pipeline's key
        else:
            # From its spec, product_view's gap is the spec's; the compiled pipeline's key would be
            # ignored, so it is refused, naming the key.
            refused = starstreamd("rebuild-windows", f"--postgres.dsn={self.dsn}", "--windows.visit_gap_ms=600000")
            self.assertEqual(refused.returncode, 2, refused.stderr[-3000:])
            self.assertIn("windows.visit_gap_ms: configures the compiled product_view pipeline", refused.stderr)
            folder = os.path.join(self.tmp, "pipelines-gap-10m")
            shutil.copytree(os.path.join(harness.SOURCE_DIR, "pipelines"), folder)
            path = os.path.join(folder, "product_view.yaml")
            with open(path) as f:
                text = f.read()
            self.assertIn("session: {gap: 30m, key: device_id}", text)
            with open(path, "w") as f:
                f.write(text.replace("session: {gap: 30m, key: device_id}", "session: {gap: 10m, key: device_id}"))
            done = self.rebuild(f"--pipelines.dir={folder}")
        self.assertIn("visit gap 600000 ms", done.stdout)
        want = visits(without(self.events, late_ids(self.dsn)["win_visits"]), 600 * SECOND)
        self.assertEqual(table_visits(self.dsn), want)
        self.assertGreater(len(want), len(visits(self.events, GAP)))

    def test_waits_for_the_window_merge_lock(self):
        holder = psycopg2.connect(self.dsn)
        self.addCleanup(holder.close)
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('starstream.windows'))")  # held until rollback
        proc = subprocess.Popen([harness.DAEMON, "rebuild-windows", f"--postgres.dsn={self.dsn}"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        harness.wait_for(lambda: harness.scalar(self.dsn, """SELECT count(*) FROM pg_stat_activity
                                                              WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"""), 30,
                         "rebuild-windows to wait for the window merge lock")
        self.assertIsNone(proc.poll())
        holder.rollback()
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err[-3000:])
        self.assertIn("win_visits", out)

    def test_unreachable_postgres_exits_3_and_help_names_the_command(self):
        done = starstreamd("rebuild-windows", f"--postgres.dsn=host=127.0.0.1 port={harness.free_port()} dbname=x user=postgres",
                           "--postgres.connect_timeout_ms=2000")
        self.assertEqual(done.returncode, 3, done.stderr)
        self.assertEqual(starstreamd("rebuild-windows").returncode, 2)  # no postgres.dsn
        self.assertIn("starstreamd rebuild-windows", starstreamd("--help").stdout)


def hhmm(t):
    return datetime.datetime.fromtimestamp(t / SECOND, datetime.timezone.utc).strftime("%H:%M")


def dt(t):
    """Unix microseconds as an aware datetime (psycopg2 sends it to the microsecond)."""
    return datetime.datetime.fromtimestamp(t // SECOND, datetime.timezone.utc).replace(microsecond=t % SECOND)


def day_of(t):
    return datetime.datetime.fromtimestamp(t / SECOND, datetime.timezone.utc).date().isoformat()


# ---- upgrade from 004 ---------------------------------------------------------------------------

T0 = 1615694400 * SECOND  # 2021-03-14 04:00 UTC: St. John's turns to daylight saving time at 05:30 UTC
COLLECTIONS = {"view_product_detail": 1, "checkout_success": 2, "view_category": 3}


def handmade_events():
    """Facts for the upgrade: random ones over three hours plus edge cases."""
    rng = random.Random(5)
    events = []

    def add(t, device, collection, product=None, url=None):
        events.append(Event(str(uuid.UUID(int=rng.getrandbits(128), version=4)), t, product, f"store-{len(events) % 2}",
                            ("DE", "FR")[len(events) % 3 == 0], device, url, collection))

    for _ in range(400):
        collection = rng.choice(["view_product_detail"] * 5 + ["view_category"] * 3 + ["checkout_success"])
        product = rng.choice([None, "p1", "p2", "p3", "p4"]) if collection == "view_product_detail" else None
        add(T0 - 20 * 60 * SECOND + rng.randrange(3 * HOUR), rng.choice(["dev-a", "dev-b", "dev-c", "dev-d", ""]), collection, product,
            rng.choice([None, "", "https://shop.de/a", "https://shop.de/b"]))
    # A gap met exactly starts a new visit; one microsecond less does not.
    for t in (T0, T0 + GAP, T0 + 2 * GAP - 1):
        add(t, "dev-gap", "view_product_detail", "p1", f"https://shop.de/{t}")
    # Ties at the first and last time: the smallest first URL, the largest last URL ('' for none).
    for t, url in ((T0 + 7, "https://shop.de/b"), (T0 + 7, "https://shop.de/a"), (T0 + 9, None), (T0 + 9, "https://shop.de/z")):
        add(t, "dev-tie", "view_category", url=url)
    # Hour and pane boundaries to the microsecond.
    for t in (T0 + HOUR - 1, T0 + HOUR, T0 + HOUR + FIVE_MIN - 1, T0 + HOUR + FIVE_MIN):
        add(t, "dev-edge", "view_product_detail", "p2")
    return events


def key(kind, natural):
    return {"product": 100, "store": 200, "location": 300}[kind] + int(re.sub(r"\D", "", natural) or 0) + (natural == "FR")


class UpgradeFrom004(unittest.TestCase, WindowsOracle):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="starstream-upgrade-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.pg = harness.Postgres()
        cls.addClassCleanup(cls.pg.stop)
        cls.dsn = cls.pg.create_database("upgrade")
        old = os.path.join(cls.tmp, "migrations-004")
        os.mkdir(old)
        for name in sorted(os.listdir(MIGRATIONS)):
            if re.match(r"^00[1-4]_.*\.sql$", name):
                shutil.copy(os.path.join(MIGRATIONS, name), old)
        # The binary that made a 004 database compared no spec, and product_view.yaml describes
        # the window tables 005 makes (their primary keys differ from 003's: refused), so this
        # first run reads lab_events.yaml alone.
        lab_only = os.path.join(cls.tmp, "pipelines-lab")
        os.mkdir(lab_only)
        shutil.copy(os.path.join(harness.SOURCE_DIR, "pipelines", "lab_events.yaml"), lab_only)
        cls.first = starstreamd("migrate", f"--postgres.dsn={cls.dsn}", f"--postgres.migrations_dir={old}", f"--pipelines.dir={lab_only}")
        cls.events = handmade_events()
        cls.fill_old_schema()
        cls.upgrade = starstreamd("migrate", f"--postgres.dsn={cls.dsn}{TIME_ZONE_OPTION}", f"--postgres.migrations_dir={MIGRATIONS}")

    @classmethod
    def fill_old_schema(cls):
        with psycopg2.connect(cls.dsn) as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO dim_collection VALUES (%s, %s, NULL)", [(k, c) for c, k in COLLECTIONS.items()])
            for p in ("p1", "p2", "p3", "p4"):
                cur.execute("INSERT INTO dim_product (product_key, product_id, first_seen, last_seen) VALUES (%s, %s, now(), now())",
                            (key("product", p), p))
            for s in ("store-0", "store-1"):
                cur.execute("INSERT INTO dim_store (store_key, store_id, first_seen, last_seen) VALUES (%s, %s, now(), now())",
                            (key("store", s), s))
            for c in ("DE", "FR"):
                cur.execute("INSERT INTO dim_location (location_key, country_code, country_name) VALUES (%s, %s, %s)",
                            (key("location", c), c, c))
            offsets = collections.Counter()
            for i, e in enumerate(cls.events):
                partition = i % 3
                cur.execute("""INSERT INTO fact_event (event_id, event_time, date_key, hour, store_key, product_key, location_key,
                                   user_agent_key, referrer_key, collection_key, device_id, current_url, kafka_topic, kafka_partition, kafka_offset)
                               VALUES (%s, %s, 20210314, 0, %s, %s, %s, 1, 1, %s, %s, %s, 'product_view', %s, %s)""",
                            (e.id, dt(e.t), key("store", e.store), e.product and key("product", e.product), key("location", e.location),
                             COLLECTIONS[e.collection], e.device, e.url, partition, offsets[partition]))
                offsets[partition] += 1
            # Old-format window rows and state, which 005 drops.
            cur.execute("""INSERT INTO win_hourly_product_views VALUES (to_timestamp(0), to_timestamp(3600), 1, 2, 3, 'product_view', 0, 99, 9, true, 3)""")
            cur.execute("""INSERT INTO win_product_view_panes VALUES (to_timestamp(0), to_timestamp(300), 1, 'product_view', 0, 99, true, 1)""")
            cur.execute("""INSERT INTO win_visits VALUES ('dev-a', to_timestamp(0), to_timestamp(1800), 'product_view', 0, 99, 9, 'x', 'y',
                                                          true, true, 2)""")
            cur.execute("INSERT INTO starstream.window_state VALUES ('win_visits', 'product_view', 0, '\\x00', 1)")
            # Bookkeeping that stays: batches with their watermark, partitions with theirs, late events.
            cur.execute("""INSERT INTO starstream.batch (batch_id, records, facts_inserted, duplicates, dead_letters, watermark)
                           VALUES (1, 10, 10, 0, 0, %s), (2, 10, 10, 0, 0, %s)""",
                        (dt(T0 + HOUR), dt(T0 + 2 * HOUR)))
            for partition, hours in enumerate((2.5, 3, 2.2)):
                cur.execute("""INSERT INTO starstream.progress (topic, partition, next_offset, batch_id, epoch, watermark)
                               VALUES ('product_view', %s, %s, 2, 1, %s)""",
                            (partition, offsets[partition], dt(T0 + int(hours * HOUR))))
            # One product view dead-lettered per table (three different facts).
            cur.execute("""
                INSERT INTO starstream.late_event
                SELECT op, f.kafka_topic, f.kafka_partition, f.kafka_offset, f.event_time, 1000, f.event_time, f.event_time, f.event_time, 2
                FROM (SELECT f.*, row_number() OVER (ORDER BY f.event_id) AS n FROM fact_event f
                      WHERE f.collection_key = 1 AND f.product_key IS NOT NULL AND f.device_id <> '') f
                JOIN (VALUES (1, 'win_hourly_product_views'), (2, 'win_product_view_panes'), (3, 'win_visits')) AS o(n, op) USING (n)""")
        conn.close()

    def test_migrations_apply(self):
        self.assertEqual(self.first.returncode, 0, self.first.stderr[-3000:])
        self.assertEqual(self.upgrade.returncode, 0, self.upgrade.stderr[-3000:])
        self.assertIn("applying migration 005_shared_windows.sql", self.upgrade.stderr)
        self.assertNotIn("applying migration 004", self.upgrade.stderr)

    def test_new_schema(self):
        columns = {t: [c for (c,) in harness.query(self.dsn, """SELECT column_name FROM information_schema.columns
                                                             WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position""",
                                                   t.split("."))]
                   for t in ("public.win_hourly_product_views", "public.win_hourly_product_views_visitors_members", "public.win_product_view_panes",
                             "public.win_visits")}
        self.assertEqual(columns, {
            "public.win_hourly_product_views": ["window_start", "window_end", "product_key", "store_key", "location_key", "views", "visitors"],
            "public.win_hourly_product_views_visitors_members": ["window_start", "product_key", "store_key", "location_key", "member"],
            "public.win_product_view_panes": ["window_start", "window_end", "product_key", "views"],
            "public.win_visits": ["device_id", "visit_start", "visit_end", "last_event_time", "events", "product_views", "first_url",
                                  "last_url", "reached_checkout"]})
        self.assertIsNone(harness.scalar(self.dsn, "SELECT to_regclass('starstream.window_state')"))
        self.assertIsNone(harness.scalar(self.dsn, "SELECT to_regclass('starstream.win_hourly_product_visitor')"))  # renamed by 006
        self.assertEqual(harness.scalar(self.dsn, "SELECT max(version) FROM starstream.schema_migration") >= 5, True)
        self.assertEqual(harness.scalar(self.dsn, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'starstream' AND tablename = 'batch'"
                                                  " AND indexdef LIKE '%(watermark)'"), 1)

    def test_windows_rebuilt_from_facts(self):
        self.assertEqual(sum(len(ids) for ids in late_ids(self.dsn).values()), 3)
        self.assert_rebuilt(self.dsn, self.events)
        got = table_visits(self.dsn)
        # The edge cases, spelled out.
        self.assertIn(("dev-gap", T0), got)
        self.assertEqual(got[("dev-gap", T0 + GAP)][2], 2)
        self.assertEqual(got[("dev-tie", T0 + 7)][4:6], ("https://shop.de/a", "https://shop.de/z"))
        edge = {k: v for k, v in table_hourly(self.dsn).items() if k[0] in (T0, T0 + HOUR) and k[1] == "p2"}
        self.assertTrue(edge)

    def test_bookkeeping_kept_and_watermark_derived(self):
        # The batches stay; their old per-instance watermarks do not (they would floor the new
        # window watermark above a backlog another instance still had).
        self.assertEqual(harness.query(self.dsn, f"SELECT batch_id, {us('watermark')} FROM starstream.batch ORDER BY 1"),
                         [(1, None), (2, None)])
        # The minimum over the partitions (2.2 h) ...
        self.assertEqual(window_watermark(self.dsn), T0 + int(2.2 * HOUR))
        self.assert_views(self.dsn, self.events)
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            # ... a claimed partition without a watermark leaves the highest a batch judged against ...
            cur.execute("""INSERT INTO starstream.batch (batch_id, records, facts_inserted, duplicates, dead_letters, watermark)
                           VALUES (3, 0, 0, 0, 0, %s)""", (dt(T0 + 2 * HOUR),))
            cur.execute("UPDATE starstream.progress SET watermark = NULL WHERE partition = 1")
            cur.execute(f"SELECT {us('watermark')} FROM starstream.window_watermark")
            self.assertEqual(cur.fetchone()[0], T0 + 2 * HOUR)
            # ... and it never goes below that.
            cur.execute("UPDATE starstream.progress SET watermark = to_timestamp(0)")
            cur.execute(f"SELECT {us('watermark')} FROM starstream.window_watermark")
            self.assertEqual(cur.fetchone()[0], T0 + 2 * HOUR)
            conn.rollback()
        conn.close()

    def test_rebuild_refuses_a_gap_that_is_not_positive(self):
        with self.assertRaises(psycopg2.Error) as raised:
            harness.query(self.dsn, "SELECT starstream.rebuild_windows('0 seconds')")
        self.assertEqual(raised.exception.pgcode, "22023")


if __name__ == "__main__":
    unittest.main(verbosity=2)
