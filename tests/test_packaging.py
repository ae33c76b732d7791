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


# DESIGN.md: `mre` <- `instrumentation`; `mre` <- `processor` <- `exporters`; the demo above those; the
# CLI outermost. Each layer and what it may import from this package (every import, lazy ones too).
CORE = "mre"
LAYERS: dict[str, tuple[Path, frozenset[str]]] = {
    "core": (ROOT / "mre", frozenset({"core"})),
    "instrumentation": (ROOT / "instrumentation", frozenset({"core", "instrumentation"})),
    "processor": (ROOT / "processor", frozenset({"core", "processor"})),
    "exporters": (ROOT / "exporters", frozenset({"core", "processor", "exporters"})),
    "examples": (ROOT / "examples", frozenset({"core", "instrumentation", "processor", "exporters", "examples"})),
    "cli": (ROOT / "mre" / "cli", frozenset({"core", "instrumentation", "processor", "exporters", "examples", "cli"})),
}
EDGE = {ROOT / "mre" / "__main__.py"}  # `python -m mre`: the CLI's entry point, part of the edge


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != CORE:
        return None  # not ours
    if len(parts) == 1:
        return "core"
    return {"instrumentation": "instrumentation", "processor": "processor", "exporters": "exporters"}.get(
        parts[1], {"examples": "examples", "cli": "cli"}.get(parts[1], "core")
    )


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):  # every import, inside functions too
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from mre import evaluations`: the names may be modules of their own layer
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def _sources(layer: str) -> list[Path]:
    folder = LAYERS[layer][0]
    files = set(folder.rglob("*.py"))
    if layer == "core":
        files -= set((ROOT / "mre" / "cli").rglob("*.py")) | EDGE
    if layer == "cli":
        files |= EDGE
    return sorted(files)


def _violations(layer: str, paths: list[Path]) -> list[str]:
    allowed = LAYERS[layer][1]
    return [
        f"{path.name}:{line} ({layer}) imports {module} ({target})"
        for path in paths
        for line, module in _imports(path)
        if (target := _layer_of(module)) is not None and target not in allowed
    ]


def test_every_layer_imports_only_the_layers_below_it_lazy_imports_included() -> None:
    """Apps that only emit spans must not pay for scoring; the core imports nothing above it; the CLI
    is the outermost layer and nothing imports it (DESIGN.md, dependencies flow one way)."""
    wrong = [v for layer in LAYERS for v in _violations(layer, _sources(layer))]
    assert not wrong, "\n".join(wrong)


def test_the_core_modules_import_no_cycle() -> None:
    """mre/*.py import each other in one direction only (slo <- slo_spec <- slo_formats <- slo_files)."""
    core = {p.stem: p for p in _sources("core") if p.parent == ROOT / "mre" and p.stem != "__init__"}
    graph = {
        name: {m.split(".")[1] for _, m in _imports(path) if m.startswith("mre.") and m.split(".")[1] in core}
        for name, path in core.items()
    }

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start])

    cycles = sorted(name for name in graph if reaches(name, name, {name}))
    assert not cycles, f"core modules in an import cycle: {cycles}"


def test_the_layer_check_sees_lazy_and_aliased_imports(tmp_path: Path) -> None:
    module = tmp_path / "core_module.py"
    module.write_text(
        "from mre import slo_spec, cli\n"
        "def f():\n    from mre.processor.scorers import registry\n"
        "def g():\n    import mre.exporters.serve as serve\n"
    )
    found = _violations("core", [module])
    assert [v.split(" imports ")[1] for v in found] == [
        "mre.cli (cli)",
        "mre.processor.scorers (processor)",
        "mre.processor.scorers.registry (processor)",
        "mre.exporters.serve (exporters)",
    ]


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_opentelemetry_instrument_needs_no_other_distro() -> None:
    distros = {ep.name: ep.value for ep in entry_points(group="opentelemetry_distro")}
    configurators = {ep.name: ep.value for ep in entry_points(group="opentelemetry_configurator")}
    assert distros.get("mre") == "mre.instrumentation.distro:MreDistro"
    assert configurators.get("mre") == "mre.instrumentation.distro:MreConfigurator"
