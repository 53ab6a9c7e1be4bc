"""``--fresh`` moves the previous run aside and deletes it in the background
(``pjob.local.fresh_start.discard``): the new run starts at once, and when
the command ends the previous run is gone, leaving nothing in the runs dir."""

from __future__ import annotations

import os

from pjob.local import fresh_start
from pjobrun import write

JOB = """\
type: command
name: fresh
command: echo hi > ${{outputs.out}}/hi.txt
outputs:
  out: {type: uri_folder}
"""


def test_fresh_leaves_only_the_new_run(pjob, tmp_path):
    job = write(tmp_path / "job.yml", JOB)
    runs = tmp_path / "runs"
    assert pjob("run", job, "--runs-dir", runs).returncode == 0
    stale = write(runs / "fresh" / "steps" / "x" / "left-over.txt", "old")
    out = pjob("run", job, "--runs-dir", runs, "--fresh")
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(os.listdir(runs)) == [".locks", "fresh"]  # no .fresh-* folder left behind
    assert not os.path.exists(stale)
    assert (runs / "fresh" / "steps").is_dir() and "warning" not in out.stderr


def test_without_rm_the_previous_run_is_deleted_before_the_new_one(tmp_path, monkeypatch):
    old = tmp_path / "runs" / "job"
    write(old / "steps" / "a" / "x.txt", "old")

    def no_rm(*args, **kwargs):
        raise FileNotFoundError("rm")

    monkeypatch.setattr(fresh_start.subprocess, "Popen", no_rm)
    discarded = fresh_start.discard(str(old))
    assert not old.exists() and os.listdir(tmp_path / "runs") == []
    assert discarded is not None
    discarded.finish()


def test_a_previous_run_that_cannot_be_deleted_is_named(tmp_path, monkeypatch, capsys):
    old = tmp_path / "runs" / "job"
    write(old / "x.txt", "old")

    class Stuck:  # an rm that deleted nothing
        def __init__(self, *args, **kwargs):
            pass

        def wait(self):
            return 1

    monkeypatch.setattr(fresh_start.subprocess, "Popen", Stuck)
    monkeypatch.setattr(fresh_start.shutil, "rmtree", lambda *a, **k: None)
    discarded = fresh_start.discard(str(old))
    assert discarded is not None and not old.exists()
    discarded.finish()
    assert f"could not delete the previous run, moved to {discarded.folder}" in capsys.readouterr().err
    assert os.path.basename(discarded.folder).startswith(".fresh-job-")


def test_a_symlinked_run_folder_is_refused_as_before(tmp_path):
    target = tmp_path / "elsewhere"
    write(target / "x.txt", "kept")
    link = tmp_path / "runs" / "job"
    os.makedirs(link.parent)
    os.symlink(target, link)
    try:
        fresh_start.discard(str(link))
    except OSError as exc:
        assert "symbolic link" in str(exc)
    else:
        raise AssertionError("a symlinked run folder was discarded")
    assert (target / "x.txt").read_text() == "kept"
