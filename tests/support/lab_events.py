"""Lab events of EVENTS.md section 3 (event_id, event_type, user_id, item_id, price, timestamp), as
a lab's producer sends them: no key (round robin over the partitions), out of order, some sent
twice, some malformed (a missing user, an unknown event type, a negative price, an unparsable
timestamp, a price that is no number, a line that is no JSON). Item prices change over time
(1 to 4 prices per item), so an SCD type 2 item dimension gets versions. A tenth of the events
share their second with the one generated before (a burst): ties in event time. With
session_gap (seconds), each user's events come in bursts (session_times) instead of spread
evenly over the span, for session windows of that gap. Deterministic for a seed.

    /usr/bin/python3 tests/support/lab_events.py --events 200000 --partitions 24 --out DIR
writes DIR/p<N>.jsonl (one message per line, per partition) and prints a JSON summary.
Used by tests/integration/test_lab_events.py (which also imports generate()) and
bench/lab_events_benchmark.sh.
"""
import argparse
import datetime
import json
import os
import random
import uuid
from decimal import Decimal

USERS = 100
ITEMS = 50
START = datetime.datetime(2026, 11, 2, 8, 0, tzinfo=datetime.timezone.utc)
SPAN_SECONDS = 2 * 86400


def price_schedule(rng):
    """Per item, the times (seconds from START) its price changes and the prices."""
    schedule = {}
    for i in range(1, ITEMS + 1):
        changes = sorted(rng.sample(range(1, SPAN_SECONDS), rng.randint(0, 3)))
        schedule[f"item_{i}"] = [(0, Decimal(rng.randint(1000, 50000)) / 100)] + [
            (t, Decimal(rng.randint(1000, 50000)) / 100) for t in changes]
    return schedule


def price_at(schedule, item, offset):
    price = schedule[item][0][1]
    for t, p in schedule[item]:
        if t <= offset:
            price = p
    return price


def session_times(rng, events, gap):
    """`events` (user, offset in seconds from START) pairs shaped as sessions of `gap` seconds:
    per user, bursts of 1 to 8 events 0 s (the same second: ties) to gap / 2 apart, separated by
    pauses of gap - 1 s (still one session), exactly gap (two: a session ends at its last event
    + gap), gap + 1 s, or much longer. Users take turns, so every user has several bursts."""
    pauses = [gap - 1, gap, gap + 1, 2 * gap, 6 * gap]
    steps = [0, 0, 1, 5, 60, gap // 4, gap // 2]
    clock = {f"user_{u}": rng.randrange(3600) for u in range(1, USERS + 1)}
    out = []
    while len(out) < events:
        user = f"user_{rng.randint(1, USERS)}"
        t = clock[user]
        for _ in range(rng.randint(1, 8)):
            out.append((user, t))
            t += rng.choice(steps)
        clock[user] = t + rng.choice(pauses)
    return out[:events]


def generate(events, partitions, seed=7, duplicates=150, malformed=60, session_gap=None):
    """Returns (valid events by id, messages per partition as bytes, malformed messages as bytes).
    session_gap: seconds; each user's events then come in bursts (session_times)."""
    rng = random.Random(seed)
    schedule = price_schedule(rng)
    timing = session_times(rng, events, session_gap) if session_gap else None
    generated = []
    offset = 0
    for n in range(events):
        # Timestamps have second resolution; a tenth of the events come in a burst, in the second
        # of the event before: ties in event time that first/last must break by value.
        if timing:
            offset = timing[n][1]
        else:
            offset = offset if generated and rng.random() < 0.1 else rng.randrange(SPAN_SECONDS)
        item = f"item_{rng.randint(1, ITEMS)}"
        generated.append({
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_type": rng.choices(["view", "click", "cart_add", "purchase"], [70, 15, 10, 5])[0],
            "user_id": timing[n][0] if timing else f"user_{int(rng.paretovariate(1.2)) % USERS + 1}",
            "item_id": item,
            "price": str(price_at(schedule, item, offset)),
            # A lab's local clock written with its offset: the same instant, another notation.
            "timestamp": (START + datetime.timedelta(seconds=offset)).astimezone(
                datetime.timezone(datetime.timedelta(hours=rng.choice([0, 1, -5])))).isoformat(),
        })
    valid = {e["event_id"]: e for e in generated}
    messages = [json.dumps(e).encode() for e in generated]
    messages += [json.dumps(e).encode() for e in rng.sample(generated, duplicates)]  # sent twice
    broken = []
    for n in range(malformed):
        e = dict(rng.choice(generated), event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        kind = n % 6
        if kind == 0:
            del e["user_id"]
        elif kind == 1:
            e["event_type"] = "refund"
        elif kind == 2:
            e["price"] = "-3.00"
        elif kind == 3:
            e["timestamp"] = "yesterday at noon"
        elif kind == 4:
            e["price"] = "twelve"
        broken.append(b'{"event_id": "' + e["event_id"].encode() + b'", "event_type": ' if kind == 5 else json.dumps(e).encode())
    messages += broken
    rng.shuffle(messages)  # out of order: late events everywhere
    return valid, [messages[p::partitions] for p in range(partitions)], set(broken)


def write_partitions(per_partition, folder):
    """One file per partition, p<N>.jsonl, a message per line; returns their paths."""
    paths = []
    for p, messages in enumerate(per_partition):
        path = os.path.join(folder, f"p{p}.jsonl")
        with open(path, "wb") as f:
            f.write(b"\n".join(messages) + b"\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200000)
    parser.add_argument("--partitions", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    valid, per_partition, broken = generate(args.events, args.partitions, args.seed, duplicates=args.events // 40,
                                            malformed=args.events // 100)
    write_partitions(per_partition, args.out)
    print(json.dumps({"valid": len(valid), "messages": sum(len(m) for m in per_partition), "malformed": len(broken)}))
