"""The rooms stay as labeling/README.md draws them: who may import whom.

These read the source (every import statement, those inside functions included),
so a shortcut through the layers fails here before it can grow into a circle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABELING = ROOT / "labeling"

# The layers allowed to import the background work: the tasks wrap the jobs, and
# the entry points (views, API, sockets, commands) sit beside them. Nothing else.
ENTRY_POINTS = ("labeling.tasks", "labeling.jobs", "labeling.celery_app", "labeling.management")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute names, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the file's package
                anchor = (package or module_name(path)).split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def sources(under: Path) -> list[Path]:
    return sorted(p for p in under.rglob("*.py") if "migrations" not in p.parts)


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_engine_loads_without_django_or_the_app() -> None:
    # A fresh interpreter: this test process has Django loaded already.
    script = (
        "import sys, inference, inference.model, inference.loading, inference.automatic, "
        "inference.candidates, inference.masks, inference.polygons\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'labeling'))\n"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_engine_never_imports_the_app() -> None:
    for path in sources(ROOT / "inference"):
        bad = {m for m in imported_modules(path) if within(m, ("django", "labeling"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("forbidden", ["labeling.tasks", "labeling.jobs"])
def test_nothing_below_the_entry_points_imports_the_background_work(forbidden: str) -> None:
    entry = (*ENTRY_POINTS, "labeling.views", "labeling.api", "labeling.realtime")
    for path in sources(LABELING):
        name = module_name(path)
        if within(name, entry):
            continue
        bad = {m for m in imported_modules(path) if within(m, (forbidden,))}
        assert not bad, f"{name} imports {sorted(bad)}: queue work by name (labeling.queueing)"


def test_services_import_no_transport() -> None:
    transports = ("labeling.views", "labeling.api", "labeling.realtime", "labeling.tasks")
    for path in sources(LABELING / "services"):
        bad = {m for m in imported_modules(path) if within(m, (*transports, "labeling.jobs"))}
        assert not bad, f"{module_name(path)} imports {sorted(bad)}"


def test_the_app_never_imports_torch() -> None:
    # All model code lives in the engine: the app asks it, and loads torch only
    # through it.
    for path in sources(LABELING):
        bad = {m for m in imported_modules(path) if within(m, ("torch", "transformers"))}
        assert not bad, f"{module_name(path)} imports {sorted(bad)}"


def test_every_task_has_a_queue_and_queueing_names_only_real_tasks(settings: object) -> None:
    from labeling import queueing
    from labeling.celery_app import app

    app.loader.import_default_modules()
    ours = {name for name in app.tasks if name.startswith("labeling.")}
    assert ours == set(settings.ANYMASK_TASK_QUEUES)  # type: ignore[attr-defined]
    named = {v for k, v in vars(queueing).items() if k.isupper() and isinstance(v, str)}
    assert named == ours


def test_rooms_stay_small() -> None:
    # The sockets' package and the labeling page's modules were split so each holds
    # one job; these bounds keep them from growing back into one file.
    for path in sources(LABELING / "realtime"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 360, f"{path.relative_to(ROOT)} has {lines} lines"
    for path in sorted((ROOT / "static" / "js" / "label").glob("*.js")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 300, f"{path.relative_to(ROOT)} has {lines} lines"
