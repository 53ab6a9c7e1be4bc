"""``pjob.sdk.dsl``: Azure's ``azure.ai.ml.dsl`` module name, so
``from pjob.sdk.dsl import pipeline`` and ``@dsl.pipeline(...)`` work."""

from __future__ import annotations

from pjob.sdk.pipeline import pipeline

__all__ = ["pipeline"]
