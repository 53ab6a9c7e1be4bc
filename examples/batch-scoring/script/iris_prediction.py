"""Score iris rows with a nearest-centroid model (an Azure ML parallel entry script)."""

import argparse
import json
import os

import pandas as pd

model = None


def init():
    global model
    parser = argparse.ArgumentParser(allow_abbrev=False)
    parser.add_argument("--model", required=True)
    args, _unknown = parser.parse_known_args()
    with open(os.path.join(args.model, "model.json")) as fh:
        model = json.load(fh)


def run(mini_batch: pd.DataFrame):
    features = mini_batch[model["features"]].to_numpy()
    names = list(model["centroids"])
    centres = [model["centroids"][n] for n in names]
    out = []
    for row in features:
        dist = [sum((a - b) ** 2 for a, b in zip(row, c)) for c in centres]
        out.append(names[dist.index(min(dist))])
    return pd.DataFrame({"prediction": out}, index=mini_batch.index)
