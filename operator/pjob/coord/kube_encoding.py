"""Text encodings of the queue ConfigMap's values (pure; used by
``pjob.coord.kube_state``): long values zlib-compressed and base64'd when
that makes them shorter, in-flight leases as runs of consecutive indexes,
and how much every agent may claim ahead so that the in-flight part stays
bounded whatever the number of agents (``prefetch_for``).
"""

from __future__ import annotations

import base64
import zlib

PACK_OVER = 2048  # bytes: a longer in-flight list (scattered retries) is stored compressed
IN_FLIGHT = 16_384  # mini-batches all agents of a job may hold ahead together
MAX_PREFETCH = 2048  # the most one agent's claim takes
MIN_PREFETCH = 16


def prefetch_for(instances: int) -> int:
    """What one of ``instances`` agents may claim ahead: a share of
    IN_FLIGHT, so the queue ConfigMap's in-flight leases and retries stay
    about as large with 1,000 agents as with 8 (with 2048 each, 64 agents in
    the worst retry pattern made it 328 KiB)."""
    return max(MIN_PREFETCH, min(MAX_PREFETCH, IN_FLIGHT // max(1, instances)))


def pack(text: str) -> str:
    if len(text) <= PACK_OVER:
        return text
    packed = "z:" + base64.b64encode(zlib.compress(text.encode(), 6)).decode("ascii")
    return packed if len(packed) < len(text) else text  # never longer than the plain text


def unpack(text: str) -> str:
    return zlib.decompress(base64.b64decode(text[2:])).decode() if text.startswith("z:") else text


def runs(held: dict[int, int]) -> list[list[int]]:
    """{index: attempt} -> [[start, end, attempt], ...] over consecutive indexes with one attempt."""
    runs: list[list[int]] = []
    for index, attempt in sorted(held.items()):
        if runs and runs[-1][1] == index and runs[-1][2] == attempt:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1, attempt])
    return runs
