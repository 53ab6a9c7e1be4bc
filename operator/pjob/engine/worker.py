"""Worker process: hosts one entry script for its whole life and runs the
mini-batches its agent sends, one at a time.

Started by ``pjob.engine.agent`` through ``pjob.engine.procs`` (forked from
the agent, then ``run_worker``; or spawned as ``python -m pjob.engine.worker
--task T --node N --slot S --cmd-fd R --res-fd W``) with cwd = its temp
folder and stdout/stderr = its user log files. Protocol (one line per message):

agent -> worker: ``<attempt> <descriptor JSON line>`` per mini-batch, ``Q`` to stop
(EOF also stops: the agent is gone).
worker -> agent, JSON arrays:
``["ready", pid]`` after init(); ``["initfail", traceback]`` then exit;
``["S", index, items]`` data loaded (``items`` read), run() starts (not sent when loading is trivial,
see ``manifest.trivial_load``); ``["D", index, items, succeeded, failed,
elapsed, run_s, error, warning]`` finished and its rows committed (sent at
once: a done line held back behind the next run() would wait as long as that
run, and be lost with the worker if it is killed on a timeout);
``["E", index, status, traceback, elapsed, run_s]`` load or run() raised.

Data never passes through the agent: the worker materialises the mini-batch
(``pjob.data.read_mini_batch``) and appends its rows to its own segment file
(``pjob.engine.results``). A files job never imports pandas or pyarrow here.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import time
import traceback
import types
from typing import Any

import pjob.data
from pjob.data.minibatch import MiniBatch
from pjob.engine import diskfull, host, logtree, manifest, policy, results
from pjob.engine.task import ParallelTask
from pjob.spec import errors

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))
MAX_ERROR_CHARS = 8000
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps(..., separators=) builds one per call


def done_line(
    index: int,
    items: int,
    succeeded: int,
    failed: int,
    elapsed: float,
    run_s: float,
    error: str | None,
    warning: str | None,
) -> bytes:
    """The "D" line; formatted directly when there is no text to escape (the
    same bytes as the JSON encoder's, which builds an encoder per call)."""
    if error is None and warning is None and type(elapsed) is float and type(run_s) is float:
        return b'["D",%d,%d,%d,%d,%r,%r,null,null]\n' % (index, items, succeeded, failed, elapsed, run_s)
    return (_ENCODE(["D", index, items, succeeded, failed, elapsed, run_s, error, warning]) + "\n").encode()


def user_traceback(exc: BaseException) -> str:
    """The traceback without the pjob frames above the user's code."""
    tb = exc.__traceback__

    def ours(frame: types.FrameType) -> bool:  # pjob's and the import machinery's frames, not the user's
        name = frame.f_code.co_filename
        return bool(name.startswith("<frozen importlib") or os.path.dirname(os.path.abspath(name)) == _ENGINE_DIR)

    while tb is not None and ours(tb.tb_frame):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS // 4] + "\n... (traceback shortened) ...\n" + text[-MAX_ERROR_CHARS // 2 :]
    return text


class Worker:
    def __init__(self, task: ParallelTask, node: str, slot: int, cmd_fd: int, res_fd: int):
        self.task = task
        self.node = node
        self.proc = logtree.process_name(slot)
        self.logs = logtree.LogTree(task.logs_dir)
        self.parts_dir = results.parts_dir(task.work_dir)
        self.scratch = os.path.join(task.work_dir, "scratch", node, self.proc)
        self.cmd_fd = cmd_fd
        self.res_fd = res_fd
        self.host = host.EntryScriptHost(task)
        self.short_returns_fail = policy.short_returns_fail(policy.limits_for(task))
        self.segment = results.SegmentWriter(self.parts_dir, node, self.proc)

    def send(self, message: list[Any]) -> None:
        """One line to the agent, written now."""
        data = (_ENCODE(message) + "\n").encode()
        while data:
            data = data[os.write(self.res_fd, data) :]

    def log_error(self, what: str, text: str) -> None:
        try:
            with open(self.logs.user_error(self.node, self.proc), "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {what}\n{text}\n")
        except OSError:  # a full disk: the agent still gets the error (and says it)
            pass

    def start(self) -> bool:
        """Load the script and run init(); report ready or the init traceback."""
        sys.argv = host.script_argv(self.task)
        host.configure_entry_script(self.task, self.logs, self.node, self.proc, os.getcwd())
        try:
            self.host.load()
            self.host.init()
        except (Exception, SystemExit) as exc:
            text = user_traceback(exc)
            self.log_error("init() failed", text)
            self.send(
                [
                    "initfail",
                    f"[node {self.node} {self.proc}: init() failed; "
                    f"see user/error/{self.node}/{self.proc}.txt]\n{text}",
                ]
            )
            return False
        self.send(["ready", os.getpid()])
        return True

    def serve(self) -> None:
        """Run what the agent sends until ``Q`` or EOF (commands are read in
        blocks into a line buffer: one read for many queued mini-batches)."""
        lines: collections.deque[bytes] = collections.deque()
        buf = b""
        while True:
            if not lines:
                data = os.read(self.cmd_fd, 65536)
                if not data:
                    break
                *complete, buf = (buf + data).split(b"\n")
                lines.extend(complete)
                continue
            line = lines.popleft()
            if line.startswith(b"Q"):
                break
            attempt_text, _, text = line.partition(b" ")
            self.run_one(int(attempt_text), manifest.descriptor(text), manifest.trivial_load(text))
        try:
            self.host.shutdown()
        except (Exception, SystemExit) as exc:
            self.log_error("shutdown() failed", user_traceback(exc))

    def run_one(self, attempt: int, mb: MiniBatch, trivial_load: bool) -> None:
        t0 = time.perf_counter()
        try:
            data = pjob.data.read_mini_batch(mb, self.scratch)
        except (Exception, SystemExit) as exc:
            self.fail(mb.index, attempt, "LOAD_EXCEPTION", exc, t0, 0.0)
            return
        if not trivial_load:
            self.send(["S", mb.index, len(data)])  # the rows read: planned counts may be estimates
        t1 = time.perf_counter()
        try:
            items, returned = self.host.run_counted(data, host.context_for(mb, self.task))
            run_s = time.perf_counter() - t1
            n, header, rows = results.format_returns(returned)
        except (Exception, SystemExit) as exc:
            self.fail(mb.index, attempt, "RUN_EXCEPTION", exc, t0, time.perf_counter() - t1)
            return
        counted = policy.count_returns(items, n, short_returns_fail=self.short_returns_fail)
        error, note = counted.error, counted.note
        if returned is None:
            error, note = (
                f"{text}; run() returned None: is a return statement missing?" if text else text
                for text in (error, note)
            )
        if error:
            error = f"{logtree.attempt_header(self.node, self.proc, 'RUN_SHORT', attempt)}\n{error}"
        try:
            self.segment.commit(mb.index, attempt, items, counted.succeeded, counted.failed, header, rows)
        except OSError as exc:
            self.fail(
                mb.index,
                attempt,
                diskfull.NO_SPACE if diskfull.is_disk_full(exc) else "OUTPUT_EXCEPTION",
                exc,
                t0,
                run_s,
            )
            return
        if counted.warning:
            print(f"pjob warning: mini-batch {mb.index}: {counted.warning}", file=sys.stderr, flush=True)
        line = done_line(
            mb.index,
            items,
            counted.succeeded,
            counted.failed,
            time.perf_counter() - t0,
            run_s,
            error,
            counted.warning or note,
        )
        while line:
            line = line[os.write(self.res_fd, line) :]

    def fail(self, index: int, attempt: int, status: str, exc: BaseException, t0: float, run_s: float) -> None:
        # a data file pjob could not read is said as the data file, the MLTable line and the fix, no traceback
        if status == diskfull.NO_SPACE:
            text = diskfull.message(exc) + "\n"
        elif status == "LOAD_EXCEPTION" and isinstance(exc, errors.UserError):
            text = f"{exc}\n"
        else:
            text = user_traceback(exc)
        self.log_error(f"mini-batch {index} attempt {attempt}: {status}", text)
        header = logtree.attempt_header(self.node, self.proc, status, attempt)
        self.send(["E", index, status, f"{header}\n{text}", time.perf_counter() - t0, run_s])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pjob-worker")
    parser.add_argument("--task", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--slot", type=int, required=True)
    parser.add_argument("--cmd-fd", type=int, required=True)
    parser.add_argument("--res-fd", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # see pjob.engine.procs: the driver handles Ctrl-C
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # a TextIOWrapper here
    with open(args.task, encoding="utf-8") as f:
        task = ParallelTask.from_json(f.read())
    return run_worker(task, args.node, args.slot, args.cmd_fd, args.res_fd)


def run_worker(task: ParallelTask, node: str, slot: int, cmd_fd: int, res_fd: int) -> int:
    """The worker's life: init, serve mini-batches, shutdown. Exit code 3 = init failed."""
    worker = Worker(task, node, slot, cmd_fd, res_fd)
    if not worker.start():
        return 3
    profile_dir = os.environ.get("PJOB_WORKER_PROFILE")  # a cProfile of each worker's serving, for benchmarks
    if profile_dir:
        import cProfile

        with cProfile.Profile() as prof:
            worker.serve()
        prof.dump_stats(os.path.join(profile_dir, f"worker-{node}-{slot}-{os.getpid()}.prof"))
        return 0
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
