"""The operator's side effects beyond plain API calls, handed to the handlers
through kopf's memo: opening a job's coordinator (to read its counters and,
at the end, its failed records) and running finalisation on the datastore.
"""

from __future__ import annotations


def open_coordinator(namespace: str, name: str, task):
    """The job's coordinator once an agent has published the plan; None before."""
    return None


def finalise(task, coordinator, verdict, body):
    return verdict, coordinator.counters() if coordinator is not None else None


def memo_entries(config) -> dict:
    return {"open_coordinator": open_coordinator, "finaliser": finalise}
