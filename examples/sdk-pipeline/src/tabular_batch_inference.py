"""Tabular parallel step: predict the iris variety of every row with a
nearest-centroid model read from --model/iris_model/model.json."""

import argparse
import json
import os

MODEL_NAME = "iris_model"
iris_model = None


def init():
    global iris_model
    parser = argparse.ArgumentParser(allow_abbrev=False, description="ParallelRunStep Agent")
    parser.add_argument("--model", type=str, default=0)
    args, _ = parser.parse_known_args()
    with open(os.path.join(args.model, MODEL_NAME, "model.json")) as fh:
        iris_model = json.load(fh)


def _predict(row):
    best, best_dist = None, None
    for variety, centre in iris_model["centroids"].items():
        dist = sum((row[f] - c) ** 2 for f, c in zip(iris_model["features"], centre))
        if best_dist is None or dist < best_dist:
            best, best_dist = variety, dist
    return best


def run(input_data):
    # input_data is a pandas DataFrame for tabular data
    result = input_data.drop(input_data.columns[4:], axis=1)
    result["variety"] = [_predict(row) for _, row in input_data.iterrows()]
    return result
