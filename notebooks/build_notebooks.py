"""Build the research notebooks from their percent-format sources, and optionally execute them.

Each ``notebooks/src/NN_name.py`` is the single source of a notebook: ``# %%`` starts a code cell and
``# %% [markdown]`` a markdown cell whose lines drop their leading ``# ``. The ``.ipynb`` beside this file is
generated from it (a test checks that the two agree), so reviews read plain Python diffs.

    python notebooks/build_notebooks.py                  # write every .ipynb without outputs
    python notebooks/build_notebooks.py --execute        # ... and execute them (full setting) with nbclient
    KRONOS_NOTEBOOK_FAST=1 python notebooks/build_notebooks.py --execute 01   # fast setting, one notebook

Executed notebooks keep their outputs, which is what gets committed: figures are PNGs at a modest dpi.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOK_DIR.parent
SOURCE_DIR = NOTEBOOK_DIR / "src"
KEY_OUTPUTS_PREFIX = "KEY_OUTPUTS "  # the last cell of every notebook prints this line + a JSON dict


def parse_cells(text: str) -> list[tuple[str, str]]:
    """[(kind, source)] of a percent-format file; kind is "code" or "markdown"."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
            continue
        if not cells:
            if line.strip():
                raise ValueError(f"text before the first '# %%' marker: {line!r}")
            continue
        kind, lines = cells[-1]
        if kind == "markdown":
            if line.strip() and not line.startswith("#"):
                raise ValueError(f"markdown cell line must start with '#': {line!r}")
            line = line[2:] if line.startswith("# ") else line[1:]
        lines.append(line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def build_notebook(source: Path) -> nbformat.NotebookNode:
    """A notebook (no outputs) from a percent-format source file."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for number, (kind, text) in enumerate(parse_cells(source.read_text())):
        cell = nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text)
        cell.id = f"{source.stem[:2]}-{number:02d}"  # stable ids: rebuilding gives the same file
        notebook.cells.append(cell)
    return notebook


def execute(notebook: nbformat.NotebookNode, *, timeout: int = 3600) -> nbformat.NotebookNode:
    """Run every cell in a fresh python3 kernel, from the repository root (relative paths resolve there)."""
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
    return notebook


def key_outputs(notebook: nbformat.NotebookNode) -> dict:
    """The JSON dict printed by the notebook's KEY_OUTPUTS line (the checks CI makes)."""
    import json

    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            for line in str(output.get("text", "")).splitlines():
                if line.startswith(KEY_OUTPUTS_PREFIX):
                    return json.loads(line[len(KEY_OUTPUTS_PREFIX):])
    raise ValueError("the notebook printed no KEY_OUTPUTS line")


def sources(selection: list[str]) -> list[Path]:
    files = sorted(SOURCE_DIR.glob("[0-9][0-9]_*.py"))
    if selection:
        files = [path for path in files if any(path.name.startswith(prefix) for prefix in selection)]
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="notebook number prefixes, e.g. 01 03 (default: all)")
    parser.add_argument("--execute", action="store_true", help="execute and keep the outputs")
    args = parser.parse_args(argv)
    for source in sources(args.only):
        notebook = build_notebook(source)
        target = NOTEBOOK_DIR / (source.stem + ".ipynb")
        if args.execute:
            started = time.perf_counter()
            execute(notebook)
            print(f"{target.name}: executed in {time.perf_counter() - started:.0f} s "
                  f"(fast={os.environ.get('KRONOS_NOTEBOOK_FAST', '0')})", file=sys.stderr)
        nbformat.write(notebook, target)
        print(f"{target.name}: {target.stat().st_size / 1024:.0f} KiB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
