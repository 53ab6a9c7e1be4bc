"""Write a partitioned sales table as an MLTable folder: one CSV per store."""

import argparse
import os
import random

parser = argparse.ArgumentParser()
parser.add_argument("--stores", type=int, default=4)
parser.add_argument("--weeks", type=int, default=30)
parser.add_argument("--output", required=True)
args = parser.parse_args()

random.seed(11)
os.makedirs(args.output, exist_ok=True)
for s in range(args.stores):
    store = f"store_{s:02d}"
    slope, base = random.uniform(1, 5), random.uniform(50, 100)
    with open(os.path.join(args.output, f"{store}.csv"), "w") as fh:
        fh.write("store,week,sales\n")
        for week in range(args.weeks):
            fh.write(f"{store},{week},{base + slope * week + random.uniform(-3, 3):.2f}\n")
with open(os.path.join(args.output, "MLTable"), "w") as fh:
    fh.write(
        "paths:\n  - pattern: ./*.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n      header: all_files_same_headers\n"
    )
print(f"wrote {args.stores} stores to {args.output}")
