"""Every dependency pyproject.toml declares is used by the package, its workflows or its benchmarks."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

REPO = Path(__file__).resolve().parents[1]
# distribution name -> the module it installs (when they differ)
IMPORT_NAMES = {"pyqlib": "qlib", "pyyaml": "yaml", "huggingface_hub": "huggingface_hub", "ruamel.yaml": "ruamel.yaml"}
# used without an import statement: by name in a qrun YAML (class: LGBModel needs lightgbm)
USED_BY_NAME = {"lightgbm": "LGBModel", "pyarrow": "read_parquet"}  # pyarrow: pandas' parquet engine


def _declared() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower() for spec in project["dependencies"]]


def _sources() -> str:
    files = [*(REPO / "kronos_quant").rglob("*.py"), *(REPO / "benchmarks").rglob("*.py"),
             *(REPO / "workflows").glob("*.yaml")]
    return "\n".join(path.read_text() for path in files)


def test_every_declared_dependency_is_used():
    text = _sources()
    unused = []
    for name in _declared():
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        imported = re.search(rf"^\s*(import|from)\s+{re.escape(module)}\b", text, flags=re.M)
        if not imported and not (name in USED_BY_NAME and USED_BY_NAME[name] in text):
            unused.append(name)
    assert not unused, f"declared in pyproject.toml but never used: {unused}; use them or drop them"
