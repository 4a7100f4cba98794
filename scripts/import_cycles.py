"""List the import cycles between vitzoo's modules (imports inside functions included).

    python scripts/import_cycles.py        # prints each cycle; exit status 1 if there is one

Every ``import`` and ``from ... import`` in the installed tree (``vitzoo/``, ``backends/`` as
``vitzoo.backends``, ``weights/`` as ``vitzoo.weights``) counts, wherever it stands, except
under ``if TYPE_CHECKING:``. ``from P import n`` depends on the module ``P.n`` when there is
one, else on ``P``. A package's ``__init__`` counts where the code names it (``import vitzoo``, ``from vitzoo
import __version__``), not where Python merely runs it on the way to a submodule. The test suite runs
this script (tests/test_layout.py), so a new loop fails CI.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"vitzoo": ROOT / "vitzoo", "vitzoo.backends": ROOT / "backends", "vitzoo.weights": ROOT / "weights"}


def module_files() -> dict[str, Path]:
    """Every module of the installed package, by dotted name."""
    modules: dict[str, Path] = {}
    for prefix, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([prefix, *parts])] = path
    return modules


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return isinstance(test, (ast.Name, ast.Attribute)) and ast.unparse(test).endswith("TYPE_CHECKING")


def imported_modules(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``tree`` imports, skipping ``if TYPE_CHECKING:`` bodies."""
    found: set[str] = set()
    pending = [tree]
    while pending:
        node = pending.pop()
        if _type_checking_only(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:  # `import a.b.c`: the longest prefix that is a module
                parts = alias.name.split(".")
                while parts and ".".join(parts) not in modules:
                    parts.pop()
                if parts:
                    found.add(".".join(parts))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in modules else base)
        pending.extend(ast.iter_child_nodes(node))
    return {m for m in found if m in modules and m != module}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        graph[name] = imported_modules(tree, name, path.name == "__init__.py", set(modules))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    graph = import_graph()
    loops = cycles(graph)
    for loop in loops:
        members = set(loop)
        print(f"cycle of {len(loop)} modules:")
        for name in loop:
            print(f"  {name} -> {', '.join(sorted(graph[name] & members))}")
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports, {len(loops)} cycles")
    return 1 if loops else 0


if __name__ == "__main__":
    sys.exit(main())
