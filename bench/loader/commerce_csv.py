"""A large Kaggle-style REES46 commerce CSV for bench/loader_benchmark.sh (../shared/EVENTS.md
section 2): the Kaggle header, "YYYY-MM-DD HH:MM:SS UTC" times, views 93 %, cart 4 %,
purchases 3 %, 19-digit category and user ids, 10-character sessions, category_code and brand
often empty, prices with two decimals. Every row is valid; deterministic for a seed.
--format jsonl writes the same rows in the seed producer's JSON shape instead (no event_id).
    /usr/bin/python3 bench/loader/commerce_csv.py --rows 2000000 --seed 1 --out events.csv
"""
import argparse
import json
import random
import string
import time

CATEGORIES = ["electronics.smartphone", "electronics.telephone", "computers.notebook", "electronics.audio.headphone",
              "appliances.kitchen.kettle", "", "", ""]
BRANDS = ["samsung", "apple", "xiaomi", "lenovo", "asus", "huawei", "", ""]
SESSION_CHARS = string.ascii_letters + string.digits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=1600000000, help="event time of the first row, Unix seconds")
    ap.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    r = random.Random(args.seed)
    users = [(str(r.randint(1515915625000000000, 1515915625999999999)), "".join(r.choices(SESSION_CHARS, k=10))) for _ in range(50_000)]
    t = args.start
    with open(args.out, "w", newline="") as f:
        if args.format == "csv":
            f.write("event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n")
        for _ in range(args.rows):
            t += r.randint(0, 2)
            kind = r.choices(("view", "cart", "purchase"), weights=(93, 4, 3))[0]
            user, session = r.choice(users)
            product, category = r.randint(1000000, 5000000), r.randint(2144415920000000000, 2144415929999999999)
            code, brand, price = r.choice(CATEGORIES), r.choice(BRANDS), f"{r.randint(100, 300000) / 100:.2f}"
            if args.format == "csv":
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(t))},{kind},{product},{category},{code},{brand},"
                        f"{price},{user},{session}\n")
            else:
                f.write(json.dumps({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), "event_type": kind,
                                    "user_id": user, "user_session": session,
                                    "product": {"id": str(product), "category_id": str(category), "category_code": code or None,
                                                "brand": brand or None, "price": float(price)}}, separators=(",", ":")) + "\n")

if __name__ == "__main__":
    main()
