"""The ``pjob`` command. Each subcommand lives in the package that owns it and
is imported lazily (so ``pjob run`` over files never imports pandas); a module
provides ``add_arguments(parser)`` and ``main(args) -> int``.

Exit codes: 0 success, 1 the job failed, 2 bad input (no traceback unless
``--debug``).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import traceback

from pjob.engine import diskfull
from pjob.spec import errors

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("pjob.local.run_cmd", "run a pipeline/parallel job YAML on this machine"),
    "validate": ("pjob.local.validate_cmd", "check a job YAML and print its steps"),
    "inspect": ("pjob.data.inspect_cmd", "show how an input splits into mini-batches"),
    "replay": ("pjob.local.replay_cmd", "re-run one mini-batch of a run in the foreground"),
    "crds": ("pjob.spec.crds", "write the CustomResourceDefinitions generated from the spec models"),
    "agent": ("pjob.kube.agent_cmd", "run one worker agent (inside a worker pod)"),
    "finalise": ("pjob.kube.finalise_cmd", "finalise a cluster job on the datastore (inside its finaliser pod)"),
    "unpack": ("pjob.kube.unpack_cmd", "unpack code shipped by `pjob submit` (a pod's init container)"),
    "operator": ("pjob.kube.operator_cmd", "run or render the Kubernetes operator"),
    "submit": ("pjob.kube.client_cmd", "send a job YAML and its code to a cluster"),
    "status": ("pjob.local.runs_cmd", "show a run's steps and progress (a local run folder, or a cluster job with -n)"),
    "logs": (
        "pjob.local.runs_cmd",
        "print a run's results or one mini-batch's log (local run, or cluster job with -n)",
    ),
    "failed": ("pjob.local.runs_cmd", "list a local run's failed mini-batches and items with their errors"),
    "ui": ("pjob.ui.server", "serve a read-only page of runs and jobs on 127.0.0.1"),
    "cancel": ("pjob.kube.client_cmd", "cancel a submitted job"),
}


def _parser(argv: list[str]) -> tuple[argparse.ArgumentParser, object]:
    parser = argparse.ArgumentParser(
        prog="pjob", description="Run Azure ML-style parallel jobs locally and on Kubernetes."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_) in COMMANDS.items():
        if chosen in COMMANDS and name != chosen:
            continue  # a known command: only its parser is made (argparse's set-up is ~0.5 ms a parser)
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        if name == chosen:  # import only the module that will run
            mod = importlib.import_module(_local_or_cluster(name, module, argv))
            add = getattr(mod, f"add_{name}_arguments", None) or mod.add_arguments
            add(p)
            p.set_defaults(_main=getattr(mod, f"{name}_main", None) or mod.main)
    return parser, sub


def _local_or_cluster(name: str, module: str, argv: list[str]) -> str:
    """``status`` and ``logs`` read a local run folder unless a cluster flag
    is given or the name is not a local run: then the cluster client."""
    if module != "pjob.local.runs_cmd" or name == "failed":
        return module
    from pjob.local import runs_cmd, runview

    p = argparse.ArgumentParser(add_help=False)
    getattr(runs_cmd, f"add_{name}_arguments")(p)
    args, _ = p.parse_known_args(argv[argv.index(name) + 1 :])
    cluster = (
        args.namespace
        or args.kubeconfig
        or args.context
        or getattr(args, "datastore_root", None)
        and "--datastore-root" in argv
    )
    if cluster or (args.name is not None and runview.find_run(args.name, args.runs_dir) is None):
        return "pjob.kube.client_cmd"
    return module


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser, _ = _parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "_main", None):
            parser.print_help()
            return 2
        return int(args._main(args) or 0)
    except errors.UserError as exc:
        if debug:
            traceback.print_exc()
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `pjob validate x | head -1`: the reader has gone; nothing more to say
        _silence_stdout()
        return 141
    except Exception as exc:
        if debug:
            traceback.print_exc()
        if diskfull.is_disk_full(exc):  # a failed run (exit 1), not bad input
            print(f"error: {diskfull.message(exc)}", file=sys.stderr)
            return 1
        if not isinstance(exc, OSError):
            raise
        where = f"{exc.filename}: " if exc.filename else ""  # a path the user gave that cannot be read or written
        print(f"error: {where}{exc.strerror or exc}; check the path and its permissions", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, errors.Terminated)
        print(("terminated" if terminated else "interrupted") + (RESUME_HINT if "run" in argv else ""), file=sys.stderr)
        return 143 if terminated else 130


RESUME_HINT = "; run the same command again to resume where it stopped"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush into the
    closed pipe does not print a BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def console_main() -> None:
    """The `pjob` program: ``main`` then exit. Everything still alive is
    frozen out of the garbage collector first, so interpreter shutdown does
    not walk it (~25 ms of every `pjob run`); files were closed by ``main``."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console_main()
