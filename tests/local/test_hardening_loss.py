"""Nothing lost, doubled or left half-written, whatever the entry script or a
kill -9 does, through real ``pjob run`` processes and real files:

- run() that shrinks or replaces the mini-batch it was given is counted
  against the mini-batch as handed over (missing rows are failed items);
- a kill -9 during the final merge leaves no temporary file where a reader of
  the output looks, and the re-run's output is byte-identical;
- every finished attempt has its row in the job report after kill -9 and resume.
"""

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from test_cli_edges import PJOB_SCRIPT, pjob, write_job
from test_cli_edges_run import job_result, output_lines


def _items_line(tmp_path) -> str:
    return next(line for line in job_result(tmp_path).splitlines() if line.startswith("items:"))


# --- 1. run() changing its input --------------------------------------------------------------------------------

SHRINKING = {
    "pop": "    mini_batch.pop()\n    return list(mini_batch)\n",
    "del-slice": "    del mini_batch[1:]\n    return list(mini_batch)\n",
    "clear": "    out = list(mini_batch[:1])\n    mini_batch.clear()\n    return out\n",
    "replace-slice": "    mini_batch[:] = mini_batch[:1]\n    return mini_batch\n",
}


@pytest.mark.parametrize("name", list(SHRINKING))
def test_run_shrinking_its_file_list_is_counted_against_what_it_was_given(tmp_path, name):
    yml = write_job(tmp_path, "def run(mini_batch):\n" + SHRINKING[name], files=6, mini_batch_size="3")
    with open(yml, encoding="utf-8") as fh:
        text = fh.read()
    with open(yml, "w", encoding="utf-8") as fh:  # tolerate the failures: the counts are what is checked
        fh.write(
            text.replace(
                "    max_concurrency_per_instance: 2\n",
                "    max_concurrency_per_instance: 2\n    error_threshold: 100\n    mini_batch_error_threshold: 100\n",
            )
        )
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = len(output_lines(tmp_path))
    assert _items_line(tmp_path).split() == ["items:", str(rows), "succeeded,", str(6 - rows), "failed"]


DF_SCRIPT = """\
def run(df):
    df.drop(df.index[:3], inplace=True)
    return df
"""


def test_run_dropping_dataframe_rows_in_place_is_counted_against_what_it_was_given(tmp_path):
    write_job(tmp_path, DF_SCRIPT, files=0, input_type="mltable", input_path="./table", mini_batch_size="1kb")
    os.makedirs(tmp_path / "table")
    (tmp_path / "table" / "x.csv").write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(20)))
    (tmp_path / "table" / "MLTable").write_text(
        "paths:\n  - file: ./x.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n"
    )
    yml = tmp_path / "pipeline.yml"
    yml.write_text(
        yml.read_text().replace(
            "    max_concurrency_per_instance: 2\n",
            "    max_concurrency_per_instance: 2\n    error_threshold: 100\n    mini_batch_error_threshold: 100\n",
        )
    )
    proc = pjob("run", yml, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(output_lines(tmp_path)) == 17
    assert _items_line(tmp_path).split() == ["items:", "17", "succeeded,", "3", "failed"]


# --- 2 and 3. kill -9 anywhere, then re-run ----------------------------------------------------------------------

TWO_STEPS = """\
type: pipeline
display_name: kills
jobs:
  big:
    type: parallel
    inputs:
      docs: {type: uri_folder, path: ./docs}
    outputs:
      out: {type: uri_folder}
    input_data: ${{inputs.docs}}
    mini_batch_size: "1"
    max_concurrency_per_instance: 2
    retry_settings: {max_retries: 3, timeout: 60}
    task:
      type: run_function
      code: ./code
      entry_script: big.py
      append_row_to: ${{outputs.out}}
  reader:
    type: parallel
    inputs:
      rows:
        type: uri_folder
        path: ${{parent.jobs.big.outputs.out}}
    outputs:
      seen: {type: uri_folder}
    input_data: ${{inputs.rows}}
    mini_batch_size: "1"
    max_concurrency_per_instance: 1
    task:
      type: run_function
      code: ./code
      entry_script: names.py
      append_row_to: ${{outputs.seen}}
"""

BIG = """\
import os, time, uuid
MARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "marks")
def run(mini_batch, ctx):
    open(os.path.join(MARKS, f"{ctx.minibatch_index}.{uuid.uuid4().hex}"), "w").close()
    time.sleep(0.02)
    name = os.path.basename(mini_batch[0])
    return [name + " " + str(k) + " " + "x" * ROW for k in range(ROWS)]
"""

NAMES = "import os\ndef run(mini_batch):\n    return [os.path.basename(p) for p in mini_batch]\n"

STEP_DIRS = ("pjob-runs", "kills", "steps")


def _kills_job(folder, files: int, rows: int, row: int) -> str:
    os.makedirs(os.path.join(folder, "docs"), exist_ok=True)
    os.makedirs(os.path.join(folder, "code"), exist_ok=True)
    os.makedirs(os.path.join(folder, "marks"), exist_ok=True)
    for i in range(files):
        with open(os.path.join(folder, "docs", f"f{i:03d}.txt"), "w", encoding="utf-8") as fh:
            fh.write(f"{i}\n")
    with open(os.path.join(folder, "code", "big.py"), "w", encoding="utf-8") as fh:
        fh.write(f"ROWS = {rows}\nROW = {row}\n" + BIG)
    with open(os.path.join(folder, "code", "names.py"), "w", encoding="utf-8") as fh:
        fh.write(NAMES)
    path = os.path.join(folder, "pipeline.yml")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(TWO_STEPS)
    return path


def _start(folder, yml) -> subprocess.Popen:
    cmd = [PJOB_SCRIPT] if os.path.exists(PJOB_SCRIPT) else [sys.executable, "-m", "pjob.cli"]
    return subprocess.Popen(
        cmd + ["run", yml], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    deadline = time.time() + 10
    while True:  # the whole group is gone before anything is looked at
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        assert time.time() < deadline, "processes of the killed run are still alive"
        time.sleep(0.02)


def _temp_files(root) -> list[str]:
    """Anything that looks like a temporary or partial file."""
    found = []
    for folder, _, names in os.walk(root):
        found += [
            os.path.join(folder, n) for n in names if "pjob-merge" in n or n.endswith((".tmp", ".part")) or ".tmp." in n
        ]
    return found


def _merge_in_progress(step_dir) -> bool:
    for _folder, _, names in os.walk(step_dir):
        if any("pjob-merge" in n for n in names):
            return True
    return False


def _report_rows(logs) -> list[dict]:
    with open(
        os.path.join(logs, "sys", "job_report", "processed_mini-batches.csv"), newline="", encoding="utf-8"
    ) as fh:
        return list(csv.DictReader(fh))


def _attempts(work) -> dict[int, int]:
    with sqlite3.connect(os.path.join(work, "queue.db")) as db:
        return dict(db.execute("SELECT idx, attempts FROM batches").fetchall())


def test_kill_9_during_the_merge_leaves_no_temp_file_where_outputs_are_read(tmp_path):
    yml = _kills_job(tmp_path, files=24, rows=20, row=200_000)  # ~100 MB to merge: the merge takes a while
    steps = os.path.join(tmp_path, *STEP_DIRS)
    out_dir = os.path.join(steps, "big", "outputs", "out")
    proc = _start(tmp_path, yml)
    deadline = time.time() + 120
    while not _merge_in_progress(os.path.join(steps, "big")):
        assert proc.poll() is None and time.time() < deadline, "the run ended before its merge was seen"
        time.sleep(0.001)  # the merge of ~100 MB lasts far longer; do not starve it of CPU
    _kill_group(proc)
    assert not [n for n in os.listdir(out_dir) if n != "parallel_run_step.txt"], os.listdir(out_dir)

    again = pjob("run", yml, cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert os.listdir(out_dir) == ["parallel_run_step.txt"]
    with open(os.path.join(steps, "reader", "outputs", "seen", "parallel_run_step.txt"), encoding="utf-8") as fh:
        assert fh.read() == "parallel_run_step.txt\n"  # the downstream step read only the real output
    assert _temp_files(os.path.join(steps, "big", "outputs")) == []
    with open(os.path.join(out_dir, "parallel_run_step.txt"), "rb") as fh:
        size = 0
        for i, line in enumerate(fh):
            assert line.startswith(f"f{i // 20:03d}.txt {i % 20} ".encode())
            size += len(line)
    assert i == 24 * 20 - 1


@pytest.mark.parametrize("moment", ["while-running", "at-finalisation"])
def test_kill_9_then_resume_is_byte_identical_with_a_report_row_per_finished_attempt(tmp_path, moment):
    reference = tmp_path / "reference"
    yml = _kills_job(reference, files=60, rows=2, row=10)
    assert pjob("run", yml, cwd=reference).returncode == 0
    with open(os.path.join(reference, *STEP_DIRS, "big", "outputs", "out", "parallel_run_step.txt"), "rb") as fh:
        expected = fh.read()

    killed = tmp_path / "killed"
    yml = _kills_job(killed, files=60, rows=2, row=10)
    steps = os.path.join(killed, *STEP_DIRS)
    logs, work = os.path.join(steps, "big", "logs"), os.path.join(steps, "big", "work")
    kills = 0
    for target in (8, 20, 35) if moment == "while-running" else (1,):
        proc = _start(killed, yml)
        deadline = time.time() + 60
        if moment == "while-running":
            while len(os.listdir(killed / "marks")) < target:
                assert proc.poll() is None and time.time() < deadline
                time.sleep(0.005)
        else:  # the first moment the step's verdict is known and its end files are being written
            master = os.path.join(logs, "sys", "master_role.txt")
            while not (os.path.exists(master) and "verdict:" in open(master, encoding="utf-8").read()):
                assert proc.poll() is None and time.time() < deadline
                time.sleep(0.002)
        _kill_group(proc)
        kills += 1
    assert len(os.listdir(killed / "marks")) < 60 or moment != "while-running", "nothing was interrupted"

    again = pjob("run", yml, cwd=killed, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    with open(os.path.join(steps, "big", "outputs", "out", "parallel_run_step.txt"), "rb") as fh:
        assert fh.read() == expected
    assert _temp_files(os.path.join(steps, "big", "outputs")) == []
    assert _temp_files(os.path.join(steps, "reader", "outputs")) == []
    assert _temp_files(steps) == []  # nor in the logs or work folders once the step ran again
    rows = _report_rows(logs)
    for index, attempts in _attempts(work).items():
        have = [r for r in rows if int(r["mini_batch_id"]) == index]
        assert len(have) >= attempts, (index, attempts, have)


# --- 7. a full disk ---------------------------------------------------------------------------------------------

DISK_FULL = """\
set -u
mount -t tmpfs -o size=6m tmpfs "$RUNS"
head -c "$FILLER" /dev/zero > "$RUNS/filler"
"$PJOB" run pipeline.yml --runs-dir "$RUNS" > "$OUT/first.out" 2> "$OUT/first.err"
echo $? > "$OUT/first.rc"
cp "$RUNS/kills/steps/big/logs/job_result.txt" "$OUT/job_result.txt" 2>/dev/null
(cd "$RUNS" && find . -name '*.tmp*' -o -name '*pjob-merge*') > "$OUT/leftovers.txt"
rm "$RUNS/filler"
"$PJOB" run pipeline.yml --runs-dir "$RUNS" > "$OUT/second.out" 2> "$OUT/second.err"
echo $? > "$OUT/second.rc"
cp "$RUNS/kills/steps/big/outputs/out/parallel_run_step.txt" "$OUT/rows.txt"
"""


def _in_private_mount_namespace(script: str, env: dict) -> subprocess.CompletedProcess:
    """Run ``script`` where it may mount a small tmpfs that nobody else sees."""
    import shutil

    if not shutil.which("unshare"):
        pytest.skip("needs unshare(1) to mount a small filesystem")
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    probe = subprocess.run(
        [
            "unshare",
            *flags,
            "sh",
            "-c",
            'mount -t tmpfs -o size=1m tmpfs /mnt 2>/dev/null || mount -t tmpfs -o size=1m tmpfs "$HOME"',
        ],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip("cannot mount a tmpfs in a private mount namespace here")
    return subprocess.run(
        ["unshare", *flags, "bash", "-c", script],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("filler", [4_500_000, 2_700_000], ids=["while-running", "during-the-merge"])
def test_a_full_disk_is_a_job_failure_naming_the_path_and_the_rerun_resumes(tmp_path, filler):
    _kills_job(tmp_path, files=20, rows=1, row=100_000)  # ~2 MB of rows, twice that with the merge
    runs, out = tmp_path / "runs", tmp_path / "out"
    runs.mkdir()
    out.mkdir()
    pjob_cmd = PJOB_SCRIPT if os.path.exists(PJOB_SCRIPT) else f"{sys.executable} -m pjob.cli"
    done = _in_private_mount_namespace(
        f"cd {tmp_path}\n" + DISK_FULL, {"RUNS": str(runs), "OUT": str(out), "PJOB": pjob_cmd, "FILLER": str(filler)}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = (out / "first.out").read_text() + (out / "first.err").read_text()
    assert (out / "first.rc").read_text().strip() == "1", said
    assert "no space left on device" in said and str(runs) in said, said
    assert "Traceback" not in said
    if (out / "job_result.txt").exists():  # when it could still be written
        assert "no space left on device" in (out / "job_result.txt").read_text()
    if filler < 4_000_000:  # every row was committed: the merge is what filled the disk
        assert "Failed" in (out / "job_result.txt").read_text()
    assert (out / "leftovers.txt").read_text() == "", "half-written files keep the disk full"
    again = (out / "second.out").read_text() + (out / "second.err").read_text()
    assert (out / "second.rc").read_text().strip() == "0", again
    rows = (out / "rows.txt").read_text().splitlines()
    assert [r.split()[0] for r in rows] == [f"f{i:03d}.txt" for i in range(20)]
