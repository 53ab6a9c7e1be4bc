"""``EntryScript``: the per-worker singleton Azure ML entry scripts use for
logging and locations (docs/writing-jobs.md, "The entry script").

Inside a pjob worker, ``pjob.engine.host`` calls ``configure(...)`` before the
entry script is imported, so ``EntryScript().logger`` writes
``logs/user/entry_script_log/<node>/<processNNN>.log.txt`` and ``output_dir``
is ``$AZUREML_BI_OUTPUT_PATH``. Outside pjob (a unit test of an entry script)
it still works: the logger writes to stderr and the folders default to the
current directory.
"""

from __future__ import annotations

import logging
import os
import threading

_FORMAT = "%(asctime)s|%(levelname)s|%(process)d|%(name)s|%(message)s"
_lock = threading.Lock()
_settings: dict = {}


def configure(
    *,
    log_dir: str,
    log_file: str,
    agent_name: str,
    node: str,
    output_dir: str,
    working_dir: str,
    logging_level: str = "INFO",
) -> None:
    """Called by the pjob worker before the entry script is imported.
    Drops any instance created earlier so the next ``EntryScript()`` sees these."""
    with _lock:
        _settings.clear()
        _settings.update(
            log_dir=log_dir,
            log_file=log_file,
            agent_name=agent_name,
            node=node,
            output_dir=output_dir,
            working_dir=working_dir,
            logging_level=logging_level,
        )
        EntryScript._instance = None


class EntryScript:
    """Singleton: every ``EntryScript()`` in one process returns the same object."""

    _instance: EntryScript | None = None

    def __new__(cls, *args, **kwargs):
        with _lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._setup(dict(_settings))
                cls._instance = instance
            return cls._instance

    def _setup(self, s: dict) -> None:
        cwd = os.getcwd()
        self.agent_name = s.get("agent_name") or f"process{os.getpid()}"
        self.node_id = s.get("node") or "0"
        self.log_dir = s.get("log_dir") or cwd
        self.output_dir = s.get("output_dir") or os.environ.get("AZUREML_BI_OUTPUT_PATH") or cwd
        self.working_dir = s.get("working_dir") or cwd
        self.dir = self.working_dir
        self.logger = self._make_logger(s.get("log_file"), s.get("logging_level") or "INFO")

    def _make_logger(self, log_file: str | None, level: str) -> logging.Logger:
        logger = logging.getLogger(f"azureml_user.entry_script.{self.agent_name}")
        logger.setLevel(getattr(logging, str(level).upper(), logging.INFO))
        logger.propagate = False
        for old in list(logger.handlers):
            logger.removeHandler(old)
            old.close()
        if log_file:
            os.makedirs(os.path.dirname(log_file), exist_ok=True)
            handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
        else:
            handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
        return logger

    def __repr__(self) -> str:
        return f"EntryScript(agent_name={self.agent_name!r}, log_dir={self.log_dir!r})"
