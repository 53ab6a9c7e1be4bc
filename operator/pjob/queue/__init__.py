"""The queue layer: what a queue of mini-batches is, below ``pjob.engine``.

- ``pjob.queue.protocol``: ``Coordinator`` (the protocol agents are typed
  against), ``Lease``, ``Outcome``, ``Progress``, ``BatchRecord``;
- ``pjob.queue.machine``: the one pure state machine holding every rule of the
  queue (claim, complete, fail or retry, release, expire, reset). The backends
  in ``pjob.coord`` (SQLite, Kubernetes) only store and fence its states.
"""
