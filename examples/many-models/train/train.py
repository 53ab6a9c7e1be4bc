"""Train one tiny model per store ("many models"): a least-squares trend line,
then return every input row with the model's fitted value.

With partition_keys, each mini-batch is every row of one store, and
mini_batch_context.partition_key_value says which store it is. Returning one
row per input row tells pjob every item succeeded (fewer rows would count the
gap as failed items, exactly as on Azure ML).
"""

import pandas as pd


def init():
    pass


def run(mini_batch: pd.DataFrame, mini_batch_context):
    store = mini_batch_context.partition_key_value["store"]
    x, y = mini_batch["week"].astype(float), mini_batch["sales"].astype(float)
    slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
    intercept = y.mean() - slope * x.mean()
    return pd.DataFrame(
        {
            "store": store,
            "week": mini_batch["week"].to_numpy(),
            "sales": mini_batch["sales"].to_numpy(),
            "fitted": (intercept + slope * x).round(2).to_numpy(),
            "slope": round(slope, 3),
        }
    )
