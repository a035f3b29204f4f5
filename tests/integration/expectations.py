"""What the star schema and the reports must hold, computed independently of starstreamd
from the generated JSONL (Python's json and GeoIP bindings, not the daemon's code)."""
import collections
import datetime
import json
import re
import subprocess

import GeoIP

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_EVENT_BYTES = 65536
OPTIONAL_STRINGS = ("ip", "user_agent", "resolution", "device_id", "user_id_db", "current_url", "referrer_url", "product_id")
_geo4 = GeoIP.open("/usr/share/GeoIP/GeoIP.dat", GeoIP.GEOIP_MEMORY_CACHE)
_geo6 = GeoIP.open("/usr/share/GeoIP/GeoIPv6.dat", GeoIP.GEOIP_MEMORY_CACHE)
PSEUDO_COUNTRIES = {None, "", "--", "A1", "A2", "O1", "AP", "EU"}


def parse_event(raw):
    """The event dict, or None when the message is not a valid event (the EVENTS.md rules)."""
    if len(raw) > MAX_EVENT_BYTES:
        return None
    try:
        event = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(event, dict):
        return None
    if not isinstance(event.get("id"), str) or not UUID.match(event["id"]):
        return None
    if type(event.get("time_stamp")) is not int:
        return None
    for key in ("store_id", "collection"):
        if not isinstance(event.get(key), str) or not event[key]:
            return None
    for key in OPTIONAL_STRINGS:
        if event.get(key) is not None and not isinstance(event[key], str):
            return None
    return event


def read_jsonl(path):
    """(valid events, first occurrence of each id in file order; malformed raw messages)."""
    events, malformed, seen = [], [], set()
    with open(path, "rb") as f:
        for line in f:
            raw = line.rstrip(b"\n")
            event = parse_event(raw)
            if event is None:
                malformed.append(raw)
            elif event["id"].lower() not in seen:
                seen.add(event["id"].lower())
                events.append(event)
    return events, malformed


def host(url):
    if not url or "://" not in url:
        return ""
    rest = url.split("://", 1)[1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    authority = authority.rsplit("@", 1)[-1].split(":", 1)[0]
    return authority.lower()


def referrer_domain(url):
    h = host(url)
    for prefix in ("www.", "m."):
        if h.startswith(prefix) and len(h) > len(prefix):
            return h[len(prefix):]
    return h


def country(ip):
    code = None
    if ip:
        code = _geo6.country_code_by_addr_v6(ip) if ":" in ip else _geo4.country_code_by_addr(ip)
    return "ZZ" if code in PSEUDO_COUNTRIES else code


def day_of(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).date()


def hour_of(ts):
    return (ts % 86400) // 3600


def earliest(events, key, value):
    """Per key: value(e) of the earliest event by time, ties broken by the smaller value."""
    best = {}
    for e in events:
        k = key(e)
        if not k:
            continue
        candidate = (e["time_stamp"], value(e))
        if k not in best or candidate < best[k]:
            best[k] = candidate
    return {k: v[1] for k, v in best.items()}


def is_page_view(e):
    return e["collection"].startswith("view_")


def top_products(events, day):
    urls = earliest(events, lambda e: e.get("product_id"), lambda e: e.get("current_url") or "")
    counts = collections.Counter(e["product_id"] for e in events
                                 if e["collection"] == "view_product_detail" and e.get("product_id") and day_of(e["time_stamp"]) == day)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return [(p, n, urls[p]) for p, n in ranked]


def top_countries(events, day):
    counts = collections.Counter(country(e.get("ip")) for e in events if is_page_view(e) and day_of(e["time_stamp"]) == day)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]


def top_referrers(events, day):
    counts = collections.Counter(referrer_domain(e.get("referrer_url")) for e in events
                                 if is_page_view(e) and day_of(e["time_stamp"]) == day)
    counts.pop("", None)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]


def store_performance(events, day):
    domains = earliest(events, lambda e: e["store_id"], lambda e: host(e.get("current_url")))
    by_country = collections.Counter((e["store_id"], country(e.get("ip"))) for e in events
                                     if is_page_view(e) and day_of(e["time_stamp"]) == day)
    store_views = collections.Counter()
    for (store, _), n in by_country.items():
        store_views[store] += n
    stores = sorted(store_views, key=lambda s: (-store_views[s], s))
    rows = []
    for rank, store in enumerate(stores, start=1):
        countries = sorted(((c, n) for (s, c), n in by_country.items() if s == store), key=lambda cn: (-cn[1], cn[0]))[:3]
        for country_rank, (c, n) in enumerate(countries, start=1):
            rows.append((rank, store, domains[store], store_views[store], country_rank, c, n))
    return rows


def product_hourly(events, day, product_id):
    counts = collections.Counter(hour_of(e["time_stamp"]) for e in events
                                 if e["collection"] == "view_product_detail" and e.get("product_id") == product_id
                                 and day_of(e["time_stamp"]) == day)
    return [(product_id, h, counts.get(h, 0)) for h in range(24)]


def browser_os_hourly(events, day):
    # Until the User-Agent is parsed (enrichment), every event is 'unknown'/'unknown'.
    counts = collections.Counter(hour_of(e["time_stamp"]) for e in events if is_page_view(e) and day_of(e["time_stamp"]) == day)
    return [(h, "unknown", "unknown", n) for h, n in sorted(counts.items())]


def run_report(dsn_params, report, **variables):
    """Runs a sql/reports file with psql; returns its rows as lists of strings."""
    args = ["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(dsn_params["port"]),
            "-U", "postgres", "-d", dsn_params["dbname"], "-f", report]
    for key, value in variables.items():
        args[1:1] = ["-v", f"{key}={value}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return [line.split("|") for line in out.stdout.splitlines() if line]
