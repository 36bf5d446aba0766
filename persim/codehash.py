"""Which package modules a job runs, found from the imports, and one hash of their sources.

Snakemake reruns a job when a ``params:`` value changes. Each rule passes as its ``code`` param
the hash of the ``persim`` modules its script imports, followed transitively through every
``import`` statement of those modules (also the ones inside functions) and through the
``__init__`` of every package on the way (importing ``persim.a.b`` runs ``persim/a/__init__.py``).
Method modules are named by string in :mod:`persim.methods` and imported on use, so a rule that
trains or evaluates a method adds that method's module explicitly; editing ``cadm.py`` then reruns
CaDM's jobs only.
"""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

PACKAGE = "persim"
ROOT = Path(__file__).resolve().parent  # the persim/ directory


def module_path(name: str, root: Path = ROOT) -> Path | None:
    """Source file of package module ``name`` (``persim.a.b``), or None if it is not one."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, current: str, is_package: bool) -> set[str]:
    """Absolute module names named by the import statements of a module (package modules only)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the current package upwards
                base = current.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


@lru_cache(maxsize=None)
def _direct(path: Path, root: Path) -> frozenset[str]:
    source = path.read_text()
    name = _module_name(path, root) if path.is_relative_to(root) else "__main__"
    return frozenset(_imported(ast.parse(source, str(path)), name, path.name == "__init__.py"))


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def closure(entries: list[str | Path], root: Path = ROOT) -> list[Path]:
    """Package source files run by importing ``entries`` (module names, or script paths whose
    imports are followed), sorted."""
    todo: list[str] = []
    for entry in entries:
        if isinstance(entry, Path):
            todo += sorted(_direct(entry.resolve(), root))
        else:
            todo.append(entry)
    seen: dict[str, Path] = {}
    while todo:
        for name in _with_parents(todo.pop()):
            path = module_path(name, root)
            if path is None or name in seen:
                continue
            seen[name] = path
            todo += sorted(_direct(path, root))
    return sorted(set(seen.values()))


def code_hash(entries: list[str | Path], root: Path = ROOT) -> str:
    """16 hex digits of the sources in :func:`closure` and of their native companions (``x.c`` beside
    ``x.py``, the C source the module builds and runs), paths relative to the package, then bytes."""
    h = hashlib.sha256()
    for module in closure(entries, root):
        for path in (module, module.with_suffix(".c")):
            if path.is_file():
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]
