"""No loader in the package may run code from a file (issue 17 §3): a source scan keeps it that way."""
from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kronos_quant"
UNSAFE = {
    r"\bpickle\.loads?\(": "use kronos_quant.safe_pickle.load_pickle",
    r"\bpd\.read_pickle\(|\bpandas\.read_pickle\(": "use kronos_quant.safe_pickle.load_pickle",
    r"\byaml\.(load|unsafe_load|full_load)\(": "use yaml.safe_load or ruamel YAML(typ='safe')",
    r"allow_pickle\s*=\s*True": "store arrays without object dtype",
    r"\bdill\.|\bcloudpickle\.|\bjoblib\.load\(": "these unpickle too",
}


def _calls(pattern: str, text: str) -> list[str]:
    return [m.group(0) for m in re.finditer(pattern, text)]


def test_no_unsafe_loader_in_the_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "safe_pickle.py":
            continue
        text = path.read_text(encoding="utf-8")
        for pattern, fix in UNSAFE.items():
            found += [f"{path.relative_to(PACKAGE)}: {call} ({fix})" for call in _calls(pattern, text)]
        for match in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in match.group(1):
                found.append(f"{path.relative_to(PACKAGE)}: torch.load without weights_only=True")
        for match in re.finditer(r"\.load_object\(([^)]*)\)", text):
            if "unpickler=" not in match.group(1):
                found.append(f"{path.relative_to(PACKAGE)}: load_object without a restricted unpickler")
    assert not found, "\n".join(found)
