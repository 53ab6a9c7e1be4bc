"""Count the words of each file in a mini-batch (an Azure ML parallel entry script).

Each returned string is one line of the aggregated output; one return per
input file means every file succeeded.
"""

import os

from azureml_user.parallel_run import EntryScript

logger = None


def init():
    global logger
    logger = EntryScript().logger
    logger.info("count_words ready")


def run(mini_batch, mini_batch_context):
    results = []
    for path in mini_batch:
        with open(path, encoding="utf-8") as fh:
            words = fh.read().split()
        results.append(f"{os.path.basename(path)} {len(words)}")
    logger.info("mini-batch %s: %d files", mini_batch_context.minibatch_index, len(mini_batch))
    return results
