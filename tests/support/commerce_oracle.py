"""An independent recomputation of the commerce pipeline's results from the CSV (EVENTS.md section
2), in plain Python: what tests compare the daemon's customer profiles, segments and reports
with. It reads no table the daemon writes and shares no code with it.

Rules (the ones pipelines/commerce_events.yaml and bench/loader/commerce_validation.h state,
written here a second time):
- records are split as RFC 4180 says, strictly (text after a closing quote is malformed_csv); a
  record with another number of fields than the header is field_count; a rejected record is
  named by the line it starts on;
- a row is valid when event_time (`YYYY-MM-DD HH:MM:SS UTC`, or ISO 8601 UTC:
  `YYYY-MM-DDTHH:MM:SS[.ffffff]` then `Z` or `+00:00`), event_type (view, cart,
  remove_from_cart, purchase), product_id, user_id and user_session are present (not empty once
  ASCII spaces and tabs are removed), and price is empty (it is not required) or a plain decimal
  of at most 15 significant digits that is not negative (EVENTS.md's validator, as
  starstream-load applies it); anything else is rejected with a reason;
- two valid rows are one event when their time, event type, product, user, session and price
  are equal as values (31.90 = 31.9; a time in either form), the spec's dedupe key; rows that
  differ in one of them are two events, even within one second;
- a customer profile per user_id over its distinct events: counts per event type, distinct
  sessions, revenue (the purchases' prices), average order value (revenue / purchases),
  conversion rate (purchases / views), cart abandonment rate (1 - purchases / cart additions,
  at least 0), first and last seen, days active (distinct UTC dates), favourite category and
  brand (the most frequent non-empty value over the customer's events; a tie goes to the
  smallest value), and the segment: the first of EVENTS.md's rules that holds;
- a session per user_session over its distinct events (sessions()).

    /usr/bin/python3 tests/support/commerce_oracle.py events.csv
prints the profiles' segment counts and the summary figures as JSON.
"""
import csv
import datetime
import io
import json
import re
import sys
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation

EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
REQUIRED = ("event_time", "event_type", "product_id", "user_id", "user_session")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"  # REES46's form, what the generator writes
# EVENTS.md section 2, checked in order: (segment, minimum purchases, minimum revenue, minimum
# cart additions, minimum views); the last one always holds.
SEGMENTS = (
    ("VIP", 10, Decimal(1000), 0, 0),
    ("High Value", 5, Decimal(250), 0, 0),
    ("Medium Value", 3, Decimal(100), 0, 0),
    ("Converting Customer", 1, Decimal(0), 0, 0),
    ("Interested Shopper", 0, Decimal(0), 1, 0),
    ("Active Browser", 0, Decimal(0), 0, 10),
    ("Casual Visitor", 0, Decimal(0), 0, 0),
)


PRICE = re.compile(r"-?([0-9]+)(\.([0-9]+))?")
TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}) ([0-9]{2}:[0-9]{2}:[0-9]{2}) UTC"
                  r"|([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?)(?:Z|\+00:?00)")
# What makes an event: the spec's event.id.hash fields.
IDENTITY = ("time", "event_type", "product_id", "user_id", "user_session", "price")


def parse_time(text):
    """An event time in either accepted form as an aware UTC datetime, or None."""
    m = TIME.fullmatch(text)
    if not m:
        return None
    day, clock = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    try:
        return datetime.datetime.fromisoformat(day + "T" + (clock.ljust(15, "0") if "." in clock else clock)).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def reject_reason(row):
    """Why EVENTS.md's validator rejects `row` (a dict of the CSV's fields), or None; the reasons
    are starstream-load's names (bench/loader/commerce_row.h)."""
    for field in REQUIRED:
        if not row[field].strip(" \t"):
            return f"missing_{field}"
    if row["event_type"] not in EVENT_TYPES:
        return "unknown_event_type"
    if parse_time(row["event_time"]) is None:
        return "bad_event_time"
    price = row["price"]
    if price == "":
        return None  # price is not among EVENTS.md's required fields
    digits = PRICE.fullmatch(price)
    if not digits or len(digits.group(1).lstrip("0")) + len((digits.group(3) or "").rstrip("0")) > 15:
        return "bad_price"
    if Decimal(price) < 0:
        return "negative_price"
    return None


def csv_records(path):
    """(line the record starts on, its fields or None when it is not strict RFC 4180 CSV), after
    the header; blank lines are no records. Python's csv module finds each record's lines
    (non-strict, to read on past a malformed one); the record's own text is then read again
    strictly."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(io.StringIO(text, newline=""))
    end = 0
    for record in reader:
        start, end = end + 1, reader.line_num
        if record:
            try:
                yield start, next(csv.reader(io.StringIO("".join(lines[start - 1:end]), newline=""), strict=True))
            except csv.Error:
                yield start, None


def read_events(path):
    """(distinct valid events as dicts with a parsed `time` and `price`, rejects as (line, reason))."""
    events, seen, rejects = [], set(), []
    records = csv_records(path)
    _, header = next(records)
    for line, fields in records:
        reason = "malformed_csv" if fields is None else "field_count" if len(fields) != len(header) else None
        row = dict(zip(header, fields)) if reason is None else None
        reason = reason or reject_reason(row)
        if reason:
            rejects.append((line, reason))
            continue
        e = dict(row, time=parse_time(row["event_time"]), price=Decimal(row["price"]) if row["price"] else None)
        identity = tuple(e[k] for k in IDENTITY)  # Decimal("31.90") == Decimal("31.9"), and they hash alike
        if identity in seen:
            continue
        seen.add(identity)
        events.append(e)
    return events, rejects


def mode(values):
    """The most frequent non-empty value, a tie going to the smallest; None when there is none."""
    counts = Counter(v for v in values if v)
    if not counts:
        return None
    best = max(counts.values())
    return min(v for v, n in counts.items() if n == best)


def ratio(numerator, denominator):
    return None if denominator == 0 else Decimal(numerator) / Decimal(denominator)


def segment(purchases, revenue, carts, views):
    for name, min_purchases, min_revenue, min_carts, min_views in SEGMENTS:
        if purchases >= min_purchases and revenue >= min_revenue and carts >= min_carts and views >= min_views:
            return name
    raise AssertionError("the last segment always holds")


def grouped(events, field):
    """The events per value of `field`."""
    groups = defaultdict(list)
    for e in events:
        groups[e[field]].append(e)
    return groups


def purchase_prices(events):
    """The prices of the purchases that have one (a purchase without a price adds nothing)."""
    return [e["price"] for e in events if e["event_type"] == "purchase" and e["price"] is not None]


def profiles(events):
    """user_id -> profile dict (the fields of the module docstring)."""
    out = {}
    for user, es in grouped(events, "user_id").items():
        types = Counter(e["event_type"] for e in es)
        revenue = sum(purchase_prices(es), Decimal(0))
        views, carts, purchases = types["view"], types["cart"], types["purchase"]
        abandonment = None if carts == 0 else max(Decimal(0), 1 - Decimal(purchases) / Decimal(carts))
        out[user] = {
            "total_events": len(es),
            "total_sessions": len({e["user_session"] for e in es}),
            "views": views,
            "cart_additions": carts,
            "cart_removals": types["remove_from_cart"],
            "purchases": purchases,
            "revenue": revenue,
            "average_order_value": ratio(revenue, purchases),
            "conversion_rate": ratio(purchases, views),
            "cart_abandonment_rate": abandonment,
            "first_seen": min(e["time"] for e in es),
            "last_seen": max(e["time"] for e in es),
            "days_active": len({e["time"].date() for e in es}),
            "favourite_category": mode(e["category_code"] for e in es),
            "favourite_brand": mode(e["brand"] for e in es),
            "segment": segment(purchases, revenue, carts, views),
        }
    return out


def sessions(events):
    """user_session -> its row (commerce_session): the user with the most events in it (ties: the
    smallest), first and last event time, events, views, carts, purchases, and revenue (the
    purchases' prices; None when no purchase has one)."""
    out = {}
    for token, es in grouped(events, "user_session").items():
        types = Counter(e["event_type"] for e in es)
        priced = purchase_prices(es)
        out[token] = {"user_id": mode(e["user_id"] for e in es), "first_event": min(e["time"] for e in es),
                      "last_event": max(e["time"] for e in es), "events": len(es), "views": types["view"], "carts": types["cart"],
                      "purchases": types["purchase"], "revenue": sum(priced, Decimal(0)) if priced else None}
    return out


def summary(events, by_user):
    """The figures the reports print: event types, revenue, purchases, segments (counts, shares)."""
    purchases = [e for e in events if e["event_type"] == "purchase"]
    revenue = sum((e["price"] for e in purchases if e["price"] is not None), Decimal(0))
    segments = Counter(p["segment"] for p in by_user.values())
    return {
        "events": len(events),
        "event_types": dict(Counter(e["event_type"] for e in events)),
        "purchases": len(purchases),
        "revenue": str(revenue),
        "customers": len(by_user),
        "average_customer_value": str(revenue / len(by_user)) if by_user else None,
        "segments": {name: {"customers": n, "share": n / len(by_user)} for name, n in segments.items()},
    }


def revenue_by_category_hour(events):
    """(category_code, hour start) -> (revenue, purchases, carts): the windowed table's oracle."""
    cells = defaultdict(lambda: [Decimal(0), 0, 0])
    for e in events:
        hour = e["time"].replace(minute=0, second=0)
        cell = cells[(e["category_code"], hour)]
        if e["event_type"] == "purchase":
            cell[0] += e["price"] or 0
            cell[1] += 1
        elif e["event_type"] == "cart":
            cell[2] += 1
    return {k: tuple(v) for k, v in cells.items()}


def top_revenue(events, field, limit=10):
    """[(value, revenue, purchases)] of the `limit` values of `field` ("category_code", "brand")
    with the most revenue, each purchase credited to its own value (none left out), a purchase
    without a price adding 0; ties by value."""
    totals = defaultdict(lambda: [Decimal(0), 0])
    for e in events:
        if e["event_type"] == "purchase" and e[field]:
            totals[e[field]][0] += e["price"] or 0
            totals[e[field]][1] += 1
    return [(name, revenue, n) for name, (revenue, n) in sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]]


PRODUCT_ATTRIBUTES = ("category_id", "category_code", "brand")


def product_attributes(events):
    """{product_id: ((category_id, category_code, brand), time)}: the values of the product's
    greatest (event time, values) event, each value compared as (present, text; Python's str
    order is UTF-8's byte order), none as None: what SCD type 1 by event time keeps."""
    best = {}
    for e in events:
        rank = (e["time"], tuple((bool(e[a]), e[a]) for a in PRODUCT_ATTRIBUTES))
        if e["product_id"] not in best or best[e["product_id"]] < rank:
            best[e["product_id"]] = rank
    return {p: (tuple(value or None for _, value in values), time) for p, (time, values) in best.items()}


def main():
    events, rejects = read_events(sys.argv[1])
    by_user = profiles(events)
    print(json.dumps({"rejects": len(rejects), **summary(events, by_user)}, indent=2, default=str))


if __name__ == "__main__":
    main()
