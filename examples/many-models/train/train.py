"""Train one tiny model per store ("many models"): a least-squares trend line.

With partition_keys, each mini-batch is every row of one store, and
mini_batch_context.partition_key_value says which store it is.
"""
import pandas as pd


def init():
    pass


def run(mini_batch: pd.DataFrame, mini_batch_context):
    store = mini_batch_context.partition_key_value["store"]
    x, y = mini_batch["week"].astype(float), mini_batch["sales"].astype(float)
    n = len(x)
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    intercept = y.mean() - slope * x.mean()
    return pd.DataFrame({"store": [store], "rows": [n], "slope": [round(slope, 3)], "intercept": [round(intercept, 3)]})
