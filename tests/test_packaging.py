"""The layout DESIGN.md fixes: one distribution, folders mapped into one import package `mre`."""

from __future__ import annotations

import ast
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAPPING = PYPROJECT["tool"]["setuptools"]["package-dir"]


def test_every_package_folder_is_listed_for_packaging() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for package, folder in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]) if rel.parts else package)
    assert found == listed


def test_the_console_script_is_mre() -> None:
    assert PYPROJECT["project"]["scripts"] == {"mre": "mre.cli:main"}
    assert any(ep.name == "mre" for ep in entry_points(group="console_scripts"))


def test_instrumentation_never_imports_the_processor_or_exporters() -> None:
    """Apps that only emit spans must not pay for scoring (DESIGN.md, dependencies flow one way)."""
    for path in (ROOT / "instrumentation").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("mre.processor", "mre.exporters")), path
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(("mre.processor", "mre.exporters")), path


def test_the_core_imports_neither_instrumentation_nor_processor_at_import_time() -> None:
    for path in (ROOT / "mre").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: the CLI imports lazily inside commands
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("mre.processor", "mre.exporters", "mre.instrumentation")), path


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_opentelemetry_instrument_needs_no_other_distro() -> None:
    distros = {ep.name: ep.value for ep in entry_points(group="opentelemetry_distro")}
    configurators = {ep.name: ep.value for ep in entry_points(group="opentelemetry_configurator")}
    assert distros.get("mre") == "mre.instrumentation.distro:MreDistro"
    assert configurators.get("mre") == "mre.instrumentation.distro:MreConfigurator"
