"""`make bench`: run every benchmark, print the figures and write them as JSON under benchmarks/out/.

Machines here are noisy: every figure that matters is a ratio against a baseline measured in the same
run. These are measurements, never pass/fail tests.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

# The checkout last: `benchmarks` comes from it, `mre` from the installed build PYTHONPATH may name.
sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks import instrumentation, nli_judge, scoring, service, text
from mre import model

OUT = Path(__file__).resolve().parent / "out"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    compiled = (model.__file__ or "").endswith(".so")  # `make bench-compiled` (setup.py, MRE_MYPYC=1)
    results = {
        "build": "compiled (mypyc)" if compiled else "pure Python",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "instrumentation": instrumentation.run(),
        "scoring": scoring.run(),
        "service": service.run(),
        "text": text.run(),
        "nli_judge": nli_judge.run(),
    }
    print(f"build: {results['build']}")
    for name, figures in results.items():
        if isinstance(figures, dict):
            print(f"[{name}]")
            for key, value in figures.items():
                print(f"  {key:36s} {value:,.2f}" if isinstance(value, float) else f"  {key:36s} {value}")
    written = OUT / ("bench-compiled.json" if compiled else "bench.json")
    written.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
