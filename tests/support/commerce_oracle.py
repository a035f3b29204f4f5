"""An independent recomputation of the commerce pipeline's results from the CSV (EVENTS.md section
2), in plain Python: what tests compare the daemon's customer profiles, segments and reports
with. It reads no table the daemon writes and shares no code with it.

Rules (the ones pipelines/commerce_events.yaml states, written here a second time):
- a row is valid when event_time (`YYYY-MM-DD HH:MM:SS UTC`), event_type (view, cart,
  remove_from_cart, purchase), product_id, user_id and user_session are present, and price is a
  decimal that is not negative (EVENTS.md's validator); anything else is rejected with a reason;
- identical valid rows are one event sent twice (the loader gives them one event id); two rows
  that differ in any field are two events, even within one second;
- a customer profile per user_id over its distinct events: counts per event type, distinct
  sessions, revenue (the purchases' prices), average order value (revenue / purchases),
  conversion rate (purchases / views), cart abandonment rate (1 - purchases / cart additions,
  at least 0), first and last seen, days active (distinct UTC dates), favourite category and
  brand (the most frequent non-empty value over the customer's events; a tie goes to the
  smallest value), and the segment: the first of EVENTS.md's rules that holds.

    /usr/bin/python3 tests/support/commerce_oracle.py events.csv
prints the profiles' segment counts and the summary figures as JSON.
"""
import csv
import datetime
import json
import sys
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation

EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
REQUIRED = ("event_time", "event_type", "product_id", "user_id", "user_session")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
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


def reject_reason(row):
    """Why EVENTS.md's validator rejects `row` (a dict of the CSV's fields), or None."""
    for field in REQUIRED:
        if not (row.get(field) or "").strip():
            return f"missing {field}"
    if row["event_type"] not in EVENT_TYPES:
        return "unknown event_type"
    try:
        datetime.datetime.strptime(row["event_time"], TIME_FORMAT)
    except ValueError:
        return "unparsable event_time"
    try:
        price = Decimal(row.get("price") or "")
    except InvalidOperation:
        return "unparsable price"
    if not price.is_finite():
        return "unparsable price"
    if price < 0:
        return "negative price"
    return None


def read_events(path):
    """(distinct valid events as dicts with a parsed `time` and `price`, rejects as (line, reason))."""
    events, seen, rejects = [], set(), []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        for row in reader:
            reason = reject_reason(row)
            if reason:
                rejects.append((reader.line_num, reason))
                continue
            identity = tuple(row.get(k, "") for k in reader.fieldnames)
            if identity in seen:
                continue
            seen.add(identity)
            e = dict(row)
            e["time"] = datetime.datetime.strptime(row["event_time"], TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
            e["price"] = Decimal(row["price"])
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


def profiles(events):
    """user_id -> profile dict (the fields of the module docstring)."""
    by_user = defaultdict(list)
    for e in events:
        by_user[e["user_id"]].append(e)
    out = {}
    for user, es in by_user.items():
        types = Counter(e["event_type"] for e in es)
        revenue = sum((e["price"] for e in es if e["event_type"] == "purchase"), Decimal(0))
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


def summary(events, by_user):
    """The figures the reports print: event types, revenue, purchases, segments (counts, shares)."""
    purchases = [e for e in events if e["event_type"] == "purchase"]
    revenue = sum((e["price"] for e in purchases), Decimal(0))
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
            cell[0] += e["price"]
            cell[1] += 1
        elif e["event_type"] == "cart":
            cell[2] += 1
    return {k: tuple(v) for k, v in cells.items()}


def main():
    events, rejects = read_events(sys.argv[1])
    by_user = profiles(events)
    print(json.dumps({"rejects": len(rejects), **summary(events, by_user)}, indent=2, default=str))


if __name__ == "__main__":
    main()
