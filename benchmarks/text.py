"""Text routines under hostile input: microseconds per KiB, on ordinary text and on the shapes that
made earlier versions quadratic (tests/test_hostile.py asserts the bounds; this reports the cost).

Every routine that reads content is linear, so its cost per KiB is the same at 16 and 64 KiB; the
report gives both and their ratio (1.0 is linear; 4.0 would be quadratic).
"""

from __future__ import annotations

import time
from typing import Any

from tests.test_hostile import ROUTINES, SHAPES

ORDINARY = (
    "Customers may request a refund within 30 days of delivery, except for customized items. "
    "Refunds are paid to the original payment method within 5 business days. "
)


def _us_per_kib(fn: Any, text: str) -> float:
    from mre.processor.scorers import _cache

    best = float("inf")
    for _ in range(3):
        _cache.clear_all()
        started = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - started)
    return best * 1e6 / (len(text) / 1024)


def run() -> dict[str, Any]:
    out: dict[str, Any] = {}
    shapes = {"ordinary text": lambda n: (ORDINARY * (n // len(ORDINARY) + 1))[:n], **SHAPES}
    for routine, fn in ROUTINES.items():
        worst = ("", 0.0, 0.0)
        ordinary = _us_per_kib(fn, shapes["ordinary text"](65_536))
        for name, shape in shapes.items():
            small, large = _us_per_kib(fn, shape(16_384)), _us_per_kib(fn, shape(65_536))
            if large > worst[1]:
                worst = (name, large, large / small if small else 0.0)
        out[f"{routine}_us_per_kib_ordinary"] = round(ordinary, 1)
        out[f"{routine}_us_per_kib_worst_shape"] = round(worst[1], 1)
        out[f"{routine}_worst_shape"] = worst[0]
        out[f"{routine}_worst_64k_vs_16k_per_kib"] = round(worst[2], 2)
    return out
