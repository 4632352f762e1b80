"""The layers are folders and imports only go down (docs/architecture.md): a test, so the house
keeps its shape. Each module's imports of the package (top level and inside functions) are read
with ``ast`` and must come from its own folder or a lower layer."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "greeksmargin"
# folder (or top-level module) -> layer; lower numbers are lower layers
LAYER = {"errors": 0, "enums": 0, "_typing": 0, "_version": 0,
         "_arrays": 1, "kernels": 1, "reference": 1,
         "pricing": 2, "model": 3, "io": 4, "measures": 5, "methodology": 5, "margin": 6,
         "accounts": 7, "analysis": 7, "front": 8, "__init__": 9}


def _room(parts: tuple[str, ...]) -> str:
    room = parts[0].removesuffix(".py") if parts else "__init__"
    return room if room in LAYER else "__init__"  # a name of the package root


def _imports(path: Path) -> list[tuple[int, str]]:
    here = path.relative_to(PACKAGE).with_suffix("").parts
    package = here[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            target = (*base, *(node.module.split(".") if node.module else ()))
            names = [target] if node.module else [(*target, a.name) for a in node.names]
            out += [(node.lineno, _room(t)) for t in names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("greeksmargin."):
            out.append((node.lineno, _room(tuple(node.module.split(".")[1:]))))
    return out


def test_every_import_goes_down_a_layer_or_stays_in_its_folder():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        room = _room(path.relative_to(PACKAGE).parts)
        assert room in LAYER, f"{path}: a folder or module with no layer; add it to LAYER"
        for line, target in _imports(path):
            if target == "__init__" and room != "__init__":
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports the package root")
            elif target != room and LAYER[target] >= LAYER[room]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({room}, layer {LAYER[room]})"
                             f" imports {target} (layer {LAYER[target]})")
    assert not wrong, "imports that do not go down:\n" + "\n".join(wrong)
