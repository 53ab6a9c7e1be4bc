"""job_result.txt shows the first error, the cause, and the last one when a
retry failed differently (real agents and workers)."""

from __future__ import annotations

import engine_support as es
from pjob.local import parallel_step, progress_view

SCRIPT = """
import os
MARK = os.environ["MARK_DIR"]
def run(mini_batch, ctx):
    i = ctx.minibatch_index
    if i in (1, 4):
        tries = len([n for n in os.listdir(MARK) if n.startswith(f"{i}.")])
        open(os.path.join(MARK, f"{i}.{tries}"), "w").close()
        if i == 4:
            raise KeyError("same every time")
        if tries == 0:
            raise ValueError("the cause: row 7 has no price")
        raise RuntimeError(f"a symptom of the first failure, try {tries + 1}")
    return mini_batch
"""


def test_job_result_shows_the_first_error_and_the_last_when_they_differ(tmp_path):
    mark = tmp_path / "marks"
    mark.mkdir()
    task = es.make_task(
        tmp_path,
        SCRIPT,
        env={"MARK_DIR": str(mark)},
        max_retries=2,
        mini_batch_error_threshold=0,
        max_concurrency_per_instance=1,
    )
    result = parallel_step.run_parallel_step(task)
    assert result.status == "Failed"
    text = es.read(result.job_result)
    first = text.index("first error (mini-batch 1):")
    last = text.index("last error (mini-batch 1):")
    assert (
        "attempt 1: RUN_EXCEPTION" in text[first:last]
        and "ValueError: the cause: row 7 has no price" in text[first:last]
    )
    assert (
        "attempt 3: RUN_EXCEPTION" in text[last:]
        and "RuntimeError: a symptom of the first failure, try 3" in text[last:]
    )
    assert "try 2" not in text
    assert "KeyError" not in text  # mini-batch 4 failed later
    cause, index, _ = progress_view.first_error(text)  # what `pjob run` prints as the cause
    assert index == 1 and "the cause: row 7" in cause and "symptom" not in cause


def test_a_repeated_error_is_shown_once(tmp_path):
    mark = tmp_path / "marks"
    mark.mkdir()
    task = es.make_task(
        tmp_path,
        SCRIPT.replace("if i in (1, 4)", "if i == 4"),
        env={"MARK_DIR": str(mark)},
        max_retries=1,
        mini_batch_error_threshold=0,
        max_concurrency_per_instance=1,
    )
    result = parallel_step.run_parallel_step(task)
    text = es.read(result.job_result)
    first = text.index("first error (mini-batch 4):")
    assert "attempt 1: RUN_EXCEPTION" in text[first:] and "KeyError: 'same every time'" in text[first:]
    assert "last error" not in text
