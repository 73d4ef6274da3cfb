"""The layout's rules hold: layering and acyclic imports (import-linter), module size, one error root.

The same contracts run in ``make lint``; running them here too means a breach fails the test suite,
and the deliberate-breach test proves the contracts can fail at all.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resources.errors import DicomLakeError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestration", "assets", "resources")
MAX_MODULE_LINES = 400
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _copy_project(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def test_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "breach"),
    [
        ("resources/site_config.py", "import orchestration.definitions  # a resource importing the wiring"),
        ("assets/partitions.py", "import orchestration.jobs  # an asset importing the wiring"),
        ("resources/warehouse/lineage.py", "import resources.dose.resource  # the store importing an engine"),
    ],
)
def test_a_deliberate_breach_fails_the_contracts(tmp_path: Path, module: str, breach: str) -> None:
    project = _copy_project(tmp_path)
    with (project / module).open("a", encoding="utf-8") as handle:
        handle.write(f"\n{breach}\n")
    result = _lint_imports(project)
    assert result.returncode != 0, result.stdout[-3000:]
    assert "BROKEN" in result.stdout


def test_no_module_is_over_the_size_limit() -> None:
    too_long = {
        path.relative_to(ROOT).as_posix(): lines
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations/versions" not in path.as_posix()
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert too_long == {}


def _project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        imported = importlib.import_module(package)
        for info in pkgutil.walk_packages(imported.__path__, prefix=f"{package}."):
            if ".migrations" not in info.name:
                names.append(info.name)
    return names


def test_every_error_class_derives_from_the_one_root() -> None:
    strays = []
    for name in _project_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == name
                and issubclass(cls, BaseException)
                and not issubclass(cls, DicomLakeError)
            ):
                strays.append(f"{name}.{cls.__name__}")
    assert strays == []
