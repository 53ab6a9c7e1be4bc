"""IndexBitmap: a set of mini-batch indexes as a bitmap, stored compressed
(zlib, then base64) in a ConfigMap value. Its encoded size is at most about
``N / 6`` bytes for indexes below N, whatever the pattern (random 50%
membership is the worst case; runs and alternation compress to almost
nothing), which is what bounds the queue ConfigMap under any failure
pattern (``bench/queue_size.py``). Pure; used by ``pjob.coord.kube_state``.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable, Iterator


class IndexBitmap:
    def __init__(self, indexes: Iterable[int] = ()):
        self._bits = bytearray()
        self._count = 0
        for index in indexes:
            self.add(index)

    def add(self, index: int) -> None:
        byte, bit = divmod(index, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits)))
        if not self._bits[byte] >> bit & 1:
            self._bits[byte] |= 1 << bit
            self._count += 1

    def discard(self, index: int) -> bool:
        if index not in self:
            return False
        byte, bit = divmod(index, 8)
        self._bits[byte] &= ~(1 << bit) & 0xFF
        self._count -= 1
        return True

    def __contains__(self, index: int) -> bool:
        byte, bit = divmod(index, 8)
        return 0 <= byte < len(self._bits) and bool(self._bits[byte] >> bit & 1)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        for byte, value in enumerate(self._bits):
            if value:
                yield from (byte * 8 + bit for bit in range(8) if value >> bit & 1)

    def lowest(self, n: int) -> list[int]:
        out: list[int] = []
        if not self._count:
            return out
        for index in self:
            if len(out) >= n:
                break
            out.append(index)
        return out

    def clear(self) -> None:
        self._bits.clear()
        self._count = 0

    def encode(self) -> str:
        if not self._count:
            return ""
        return base64.b64encode(zlib.compress(bytes(self._bits).rstrip(b"\0"), 6)).decode("ascii")

    @classmethod
    def decode(cls, text: str | None) -> IndexBitmap:
        out = cls()
        if text:
            out._bits = bytearray(zlib.decompress(base64.b64decode(text)))
            out._count = int.from_bytes(out._bits, "little").bit_count()
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IndexBitmap) and self._bits.rstrip(b"\0") == other._bits.rstrip(b"\0")

    def __repr__(self) -> str:
        return f"IndexBitmap({list(self)[:20]}{'...' if self._count > 20 else ''})"
