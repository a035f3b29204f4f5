"""What the shared windowed tables must hold, by brute force over the generator's JSONL
(expectations.read_jsonl: the valid, distinct events), and what starstream.late_event may hold.

The oracle of a windowed table is the brute force over every valid event MINUS the events
starstream.late_event lists for that table: which records were late depends on when each batch
read the window watermark, which no oracle can know. So late_event is checked on its own
(plausible_late_events): each listed record must really have been late against the watermark it
records, and that watermark must be one the topic could have had before the record was read:
at most its own partition's highest earlier event time minus the allowed out-of-orderness (the
window watermark is a minimum over every partition's committed watermark). A writer that listed
everything as late, or judged a moved partition's backlog against another partition's time,
fails there. Times are Unix seconds; watermarks and lateness milliseconds."""
import collections

import expectations as expect

HOUR, FIVE_MIN = 3600, 300
HOURLY, PANES, VISITS = "win_hourly_product_views", "win_product_view_panes", "win_visits"
# windows.*_late_policy defaults (README "Windowed tables").
POLICY = {HOURLY: "correct", PANES: "dead_letter", VISITS: "correct"}


def is_product_view(e):
    return e["collection"] == "view_product_detail" and bool(e.get("product_id"))


def without(events, ids):
    """events minus those whose id (lower case) is in ids."""
    return [e for e in events if e["id"].lower() not in ids]


# ---------------------------------------------------------------------------------------------
# Brute forces (keys use natural keys: product_id, store_id, country code, device id)
# ---------------------------------------------------------------------------------------------
def hourly(events):
    """{(hour start, product_id, store_id, country): (views, distinct visitors)}."""
    views, visitors = collections.Counter(), collections.defaultdict(set)
    for e in filter(is_product_view, events):
        cell = (e["time_stamp"] // HOUR * HOUR, e["product_id"], e["store_id"], expect.country(e.get("ip")))
        views[cell] += 1
        visitors[cell].add(e.get("device_id") or "")
    return {cell: (n, len(visitors[cell])) for cell, n in views.items()}


def panes(events):
    """{(pane start, product_id): views} of 5-minute panes."""
    return dict(collections.Counter((e["time_stamp"] // FIVE_MIN * FIVE_MIN, e["product_id"]) for e in filter(is_product_view, events)))


def trending(events, watermark):
    """{(window start, product_id): views} of the hopping windows (1 h every 5 min) ending at or
    before watermark (seconds; None: no window is final), straight from the events."""
    counts = collections.Counter()
    if watermark is None:
        return {}
    for e in filter(is_product_view, events):
        t = e["time_stamp"]
        for start in range((t - HOUR) // FIVE_MIN * FIVE_MIN + FIVE_MIN, t + 1, FIVE_MIN):
            if start + HOUR <= watermark:
                counts[(start, e["product_id"])] += 1
    return dict(counts)


def visits(events, gap):
    """{(device, visit start): (visit end, last event time, events, product views, first url,
    last url, reached checkout)}: sessions per device, a new one where the previous event time
    plus the gap is not after the next; first url the smallest at the first time, last url the
    largest at the last time."""
    by_device = collections.defaultdict(list)
    for e in events:
        by_device[e.get("device_id") or ""].append(e)
    want = {}
    for device, evs in by_device.items():
        evs.sort(key=lambda e: e["time_stamp"])
        sessions, current = [], [evs[0]]
        for e in evs[1:]:
            if e["time_stamp"] < current[-1]["time_stamp"] + gap:
                current.append(e)
            else:
                sessions.append(current)
                current = [e]
        sessions.append(current)
        for s in sessions:
            first_t, last_t = s[0]["time_stamp"], s[-1]["time_stamp"]
            want[(device, first_t)] = (
                last_t + gap, last_t, len(s), sum(map(is_product_view, s)),
                min(e.get("current_url") or "" for e in s if e["time_stamp"] == first_t),
                max(e.get("current_url") or "" for e in s if e["time_stamp"] == last_t),
                any(e["collection"] == "checkout_success" for e in s))
    return want


# ---------------------------------------------------------------------------------------------
# What late_event may list
# ---------------------------------------------------------------------------------------------
def generator_late(events, out_of_order_seconds):
    """Ids (lower case) of the events the generator moved back by --late-seconds: in produce
    (file) order, more than out_of_order_seconds (+1 for the truncation to whole seconds) behind
    every earlier event. Any other event is at most that much behind them, so no watermark of
    'highest earlier time minus allowed out-of-orderness' can pass it when the allowed
    out-of-orderness is larger."""
    late, highest = set(), None
    for e in events:
        t = e["time_stamp"]
        if highest is not None and t <= highest - out_of_order_seconds - 1:
            late.add(e["id"].lower())
        highest = t if highest is None else max(highest, t)
    return late


def partition_bounds(facts, allowed_out_of_orderness_ms):
    """{(partition, offset): the highest watermark (ms) the topic could have had before that
    record was read}: its partition's highest event time at lower offsets minus the allowed
    out-of-orderness (None: nothing before it, so no watermark at all). facts: (partition,
    offset, event time seconds) of every fact."""
    bounds, highest = {}, {}
    for partition, offset, t in sorted(facts):
        h = highest.get(partition)
        bounds[(partition, offset)] = None if h is None else h * 1000 - allowed_out_of_orderness_ms
        highest[partition] = t if h is None else max(h, t)
    return bounds


def expected_window(operator, t, gap):
    """(start, end) seconds of the window a record at time t is listed with."""
    if operator == HOURLY:
        return t // HOUR * HOUR, t // HOUR * HOUR + HOUR
    if operator == PANES:
        return t // FIVE_MIN * FIVE_MIN, t // FIVE_MIN * FIVE_MIN + FIVE_MIN
    return t, t + gap


def plausible_late_events(rows, facts_by_lineage, bounds, final_watermark_ms, allowed_lateness_ms, gap, product_view_ids, late_ids):
    """Problems (strings) with late_event rows, each (operator, partition, offset, event time ms,
    lateness_ms, window start ms, window end ms, watermark ms, batch exists). facts_by_lineage:
    {(partition, offset): (event id, event time seconds)}; late_ids: what the generator made late."""
    problems = []
    for operator, partition, offset, event_ms, lateness, start_ms, end_ms, watermark_ms, batch_exists in rows:
        where = f"{operator} {partition}/{offset}"
        fact = facts_by_lineage.get((partition, offset))
        if operator not in POLICY or POLICY[operator] == "drop":
            problems.append(f"{where}: no table with a listing policy is called that")
            continue
        if fact is None:
            problems.append(f"{where}: no fact at that lineage")
            continue
        event_id, t = fact
        if event_ms != t * 1000:
            problems.append(f"{where}: event time {event_ms} ms, the fact's is {t * 1000} ms")
        if operator != VISITS and event_id not in product_view_ids:
            problems.append(f"{where}: not a product detail view, so never part of that table")
        if not event_ms < watermark_ms:
            problems.append(f"{where}: event time {event_ms} is not below its watermark {watermark_ms}")
        if lateness != watermark_ms - event_ms:
            problems.append(f"{where}: lateness_ms {lateness}, watermark - event time is {watermark_ms - event_ms}")
        if (start_ms, end_ms) != tuple(1000 * x for x in expected_window(operator, t, gap)):
            problems.append(f"{where}: window [{start_ms}, {end_ms}) ms, expected {expected_window(operator, t, gap)} s")
        if POLICY[operator] == "correct" and not end_ms + allowed_lateness_ms <= watermark_ms:
            problems.append(f"{where}: policy correct, but its window end {end_ms} + allowed lateness is after the watermark {watermark_ms}")
        bound = bounds.get((partition, offset))
        if bound is None or watermark_ms > bound:
            problems.append(f"{where}: watermark {watermark_ms} ms is above what partition {partition} allowed before offset {offset}"
                            f" ({bound}): lateness was judged against time the partition had not reached")
        if final_watermark_ms is None or watermark_ms > final_watermark_ms:
            problems.append(f"{where}: watermark {watermark_ms} above the final window watermark {final_watermark_ms}")
        if event_id not in late_ids:
            problems.append(f"{where}: event {event_id} was not made late by the generator")
        if not batch_exists:
            problems.append(f"{where}: no batch row")
    return problems
