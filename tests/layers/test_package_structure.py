"""The shape of `seqtasks.layers`: no import cycles, and the fast paths know no concrete cell classes."""

from __future__ import annotations

import ast
from pathlib import Path

import seqtasks.layers

PACKAGE = Path(seqtasks.layers.__file__).parent
CELL_CLASSES = ("SimpleRNNCell", "LSTMCell", "GRUCell", "SimpleRNN", "LSTM", "GRU")


def _imports(path: Path) -> set[str]:
    """Modules of seqtasks.layers that `path` imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqtasks.layers"):
            if node.module == "seqtasks.layers":
                found |= {alias.name for alias in node.names}
            else:
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("seqtasks.layers.")}
    return found


def test_no_import_cycles():
    graph = {p.stem: _imports(p) - {p.stem} for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "active"
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != "active", f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_fast_paths_know_no_cell_classes():
    for name in ("fused.py", "cudnn.py", "rnn.py"):
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not names & set(CELL_CLASSES), (name, names & set(CELL_CLASSES))
