"""The build. Everything is declared in pyproject.toml; this file only adds the optional compiled build.

``MRE_MYPYC=1 pip wheel --no-deps --no-build-isolation .`` (mypy, setuptools>=77 and a C compiler in
the environment) compiles the hot path with mypyc: the modules every answer runs through, from the
OTLP span to the metric. The wheel behaves as the pure-Python package does (same interactions, scores
and metrics: tests/test_compiled_build.py) at ~15–20 % less CPU per answer in `mre serve` (README).
Without the variable nothing is compiled: default and editable installs are pure Python.
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

from setuptools import setup

# The hot path, by module: what reading, scoring and recording one answer runs. A module here must
# not be monkeypatched by users nor subclassed from Python (mypyc classes are native), and its classes
# need no instance __dict__. Left Python: processor/drift.py (mypyc cannot build its generic
# dataclass) and processor/worker.py (mypyc names its `_thread` attribute `__thread`, a C keyword).
# tests/test_compiled_build.py builds exactly this list.
COMPILED = (
    "mre.model",
    "mre.slo",
    "mre.processor.spans",
    "mre.processor.otlp",
    "mre.processor.interactions",
    "mre.processor.dialects",
    "mre.processor.dialects._common",
    "mre.processor.dialects._json",
    "mre.processor.dialects._stage",
    "mre.processor.dialects.otel",
    "mre.processor.dialects.openinference",
    "mre.processor.dialects.openllmetry",
    "mre.processor.dialects.openlit",
    "mre.metadata",
    "mre.semconv",
    "mre.processor.limits",
    "mre.processor.health",
    "mre.processor.calibration",
    "mre.processor.prompt_context",
    "mre.processor.question_drift",
    "mre.processor.pipeline",
    "mre.processor.coverage",
    "mre.processor.triage",
    "mre.processor.assembly",
    "mre.processor.labels",
    "mre.processor.scorers._cache",
    "mre.processor.scorers._context",
    "mre.processor.scorers._support",
    "mre.processor.scorers.abstention",
    "mre.processor.scorers.analysis",
    "mre.processor.scorers.calibration",
    "mre.processor.scorers.consistency",
    "mre.processor.scorers.faithfulness",
    "mre.processor.scorers.faithfulness_evidence",
    "mre.processor.scorers.faithfulness_model",
    "mre.processor.scorers.provenance",
    "mre.processor.scorers.relevance",
    "mre.processor.scorers.retrieval_quality",
    "mre.processor.scorers.safety",
    "mre.processor.scorers.text",
    "mre.exporters.prometheus",
    "mre.exporters.counter_family",
    "mre.exporters.labelled_family",
    "mre.exporters.histogram_family",
)
STAGE = Path("build") / "mypyc-src"
_BUILDS = {"bdist_wheel", "build", "build_ext", "install", "editable_wheel"}  # the commands that compile
# The top-level folders are subpackages of `mre` (DESIGN.md, layout): pyproject.toml's package-dir.
PACKAGE_DIRS: dict[str, str] = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]


def _module_path(module: str) -> Path:
    parts = module.split(".")
    folder = STAGE.joinpath(*parts)
    return folder / "__init__.py" if folder.is_dir() else STAGE.joinpath(*parts[:-1], parts[-1] + ".py")


def _stage() -> None:
    """mypyc names a module after its folders, so it compiles a copy laid out as it is imported."""
    shutil.rmtree(STAGE, ignore_errors=True)
    for package, folder in PACKAGE_DIRS.items():
        shutil.copytree(
            folder,
            STAGE.joinpath(*package.split(".")),
            ignore=shutil.ignore_patterns("__pycache__", "*.so"),
            dirs_exist_ok=True,
        )


def _compiled_extensions() -> list[Any]:
    if os.environ.get("MRE_MYPYC") != "1" or not _BUILDS & set(sys.argv):
        return []  # pure Python; and metadata (dist_info, egg_info) needs no compiler
    if "editable_wheel" in sys.argv:
        # An editable install would leave extensions beside the sources, which would then shadow
        # every later edit of those files.
        raise SystemExit("MRE_MYPYC=1 builds wheels and plain installs, not editable ones")
    from mypyc.build import mypycify

    _stage()
    root = Path.cwd()
    paths = [str(_module_path(m).relative_to(STAGE)) for m in COMPILED]
    os.chdir(STAGE)  # mypy reads the staged package, not the folders of the checkout
    try:
        options = ["--config-file", str(root / "pyproject.toml")]  # mypycify passes these to mypy
        extensions = mypycify([*options, *paths], opt_level="3", target_dir="build", group_name="mre_compiled")
    finally:
        os.chdir(root)
    for ext in extensions:  # mypycify's paths are relative to the stage
        ext.sources = [str(STAGE / s) if not os.path.isabs(s) else s for s in ext.sources]
        ext.include_dirs = [str(STAGE / d) if not os.path.isabs(d) else d for d in ext.include_dirs]
        ext.depends = [str(STAGE / d) if not os.path.isabs(d) else d for d in ext.depends]
    return extensions


setup(ext_modules=_compiled_extensions())
