"""What the star schema and the reports must hold, computed independently of starstreamd
from the generated JSONL: Python's json, the GeoIP bindings, Debian's python3-ua-parser (another
implementation of the uap-core rules) and a Public Suffix List reader written here."""
import collections
import datetime
import json
import re
import subprocess

import functools
import zoneinfo

import GeoIP
from ua_parser import user_agent_parser

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_EVENT_BYTES = 65536
OPTIONAL_STRINGS = ("ip", "user_agent", "resolution", "device_id", "user_id_db", "current_url", "referrer_url", "product_id",
                    "viewing_product_id")
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


def _public_suffix_rules(path="/usr/share/publicsuffix/public_suffix_list.dat"):
    rules, exceptions, wildcards = set(), set(), set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            rule = line.strip()
            if not rule or rule.startswith("//"):
                continue
            rule = rule.encode("idna").decode("ascii") if not rule.isascii() and "*" not in rule else rule
            if rule.startswith("!"):
                exceptions.add(rule[1:])
            elif rule.startswith("*."):
                wildcards.add(rule[2:])
            else:
                rules.add(rule)
    return rules, exceptions, wildcards


_PSL = _public_suffix_rules()


@functools.lru_cache(maxsize=None)
def registrable_domain(h):
    """The public suffix plus one label (Public Suffix List algorithm); hosts without one as they are."""
    if not h or re.fullmatch(r"[0-9.]+", h) or ":" in h:
        return h
    rules, exceptions, wildcards = _PSL
    labels = h.split(".")
    suffix_length = 1  # the implicit "*" rule
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in exceptions:
            suffix_length = len(labels) - i - 1
            break
        if candidate in rules:
            suffix_length = max(suffix_length, len(labels) - i)
        if i + 1 < len(labels) and ".".join(labels[i + 1:]) in wildcards:
            suffix_length = max(suffix_length, len(labels) - i)
    if suffix_length >= len(labels):
        return h
    return ".".join(labels[-suffix_length - 1:])


def site_name(domain):
    return domain.split(".", 1)[0]


def canonical_url(url):
    h = host(url)
    if not h:
        return ""
    scheme, rest = url.split("://", 1)
    path = re.split(r"[?#]", rest[len(re.split(r"[/?#]", rest, maxsplit=1)[0]):], maxsplit=1)[0]
    return f"{scheme.lower()}://{h}{path or '/'}"


SEARCH = {"google", "bing", "yahoo", "duckduckgo", "yandex", "baidu", "ecosia", "qwant", "startpage", "seznam"}
SOCIAL = {"facebook", "instagram", "twitter", "pinterest", "youtube", "linkedin", "reddit", "tiktok", "vk", "snapchat", "tumblr",
          "whatsapp", "messenger", "threads"}
SOCIAL_DOMAINS = {"t.co", "x.com", "fb.com", "fb.me", "lnkd.in", "pin.it"}


def referrer(e):
    """(registrable domain, channel) of an event's referrer, by the rules of README "Enrichment"."""
    h = host(e.get("referrer_url"))
    if not h:
        return "", "direct"
    domain = registrable_domain(h)
    if h.startswith(("mail.", "webmail.", "email.", "outlook.")):
        return domain, "email"
    if site_name(domain) == site_name(registrable_domain(host(e.get("current_url")))):
        return domain, "internal"
    if site_name(domain) in SOCIAL or domain in SOCIAL_DOMAINS:
        return domain, "social"
    if site_name(domain) in SEARCH:
        return domain, "search"
    return domain, "other"


@functools.lru_cache(maxsize=None)
def user_agent(header):
    """(browser family, OS family) by python3-ua-parser."""
    parsed = user_agent_parser.Parse(header or "")
    return parsed["user_agent"]["family"], parsed["os"]["family"]


def country(ip):
    code = None
    if ip:
        code = _geo6.country_code_by_addr_v6(ip) if ":" in ip else _geo4.country_code_by_addr(ip)
    return "ZZ" if code in PSEUDO_COUNTRIES else code


TIME_ZONE = zoneinfo.ZoneInfo("UTC")


def day_of(ts, zone=None):
    return datetime.datetime.fromtimestamp(ts, zone or TIME_ZONE).date()


def hour_of(ts, zone=None):
    return datetime.datetime.fromtimestamp(ts, zone or TIME_ZONE).hour


def date_key(ts, zone=None):
    return int(day_of(ts, zone).strftime("%Y%m%d"))


def earliest(events, key, value):
    """Per key: value(e) of the earliest event by time that has a value, ties broken by the smaller value."""
    best = {}
    for e in events:
        k, v = key(e), value(e)
        if not k or not v:
            continue
        candidate = (e["time_stamp"], v)
        if k not in best or candidate < best[k]:
            best[k] = candidate
    return {k: v[1] for k, v in best.items()}


def is_page_view(e):
    return e["collection"].startswith("view_")


def top_products(events, day):
    urls = earliest(events, lambda e: e.get("product_id"), lambda e: canonical_url(e.get("current_url")))
    counts = collections.Counter(e["product_id"] for e in events
                                 if e["collection"] == "view_product_detail" and e.get("product_id") and day_of(e["time_stamp"]) == day)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return [(p, n, urls[p]) for p, n in ranked]


def top_countries(events, day):
    counts = collections.Counter(country(e.get("ip")) for e in events if is_page_view(e) and day_of(e["time_stamp"]) == day)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]


def top_referrers(events, day):
    counts = collections.Counter(referrer(e) for e in events if is_page_view(e) and day_of(e["time_stamp"]) == day)
    counts.pop(("", "direct"), None)
    return sorted(((d, c, n) for (d, c), n in counts.items()), key=lambda dcn: (-dcn[2], dcn[0], dcn[1]))[:5]


def store_performance(events, day):
    domains = earliest(events, lambda e: e["store_id"], lambda e: registrable_domain(host(e.get("current_url"))))
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
    counts = collections.Counter((hour_of(e["time_stamp"]),) + user_agent(e.get("user_agent"))
                                 for e in events if is_page_view(e) and day_of(e["time_stamp"]) == day)
    return [(h, b, o, n) for (h, b, o), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1], kv[0][2]))]


def run_report(dsn_params, report, **variables):
    """Runs a sql/reports file with psql; returns its rows as lists of strings."""
    args = ["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(dsn_params["port"]),
            "-U", "postgres", "-d", dsn_params["dbname"], "-f", report]
    for key, value in variables.items():
        args[1:1] = ["-v", f"{key}={value}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return [line.split("|") for line in out.stdout.splitlines() if line]


def scd2_versions(observations):
    """The brute force of an SCD type 2 attribute: observations {key: [(time, value)]} ->
    {key: [(valid_from, valid_to, value)]}, the first version from -infinity and the last to
    +infinity (None), the value in force at a time being the latest observation's at or before
    it, a tie in time going to the greater value (pipelines/README.md, scd2_merge.h)."""
    versions = {}
    for key, obs in observations.items():
        runs = []  # (start, value)
        for t, value in sorted(obs):
            if runs and runs[-1][0] == t:
                runs[-1] = (t, max(runs[-1][1], value))
                if len(runs) > 1 and runs[-2][1] == runs[-1][1]:
                    runs.pop()
            elif not runs or runs[-1][1] != value:
                runs.append((t, value))
        starts = [None] + [t for t, _ in runs[1:]]
        ends = [t for t, _ in runs[1:]] + [None]
        versions[key] = [(s, e, v) for s, e, (_, v) in zip(starts, ends, runs)]
    return versions
