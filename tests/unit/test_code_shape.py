"""The layer's shape, as the README describes it: short functions. (The import direction between
its sub-packages is import-linter's job, in `make lint`.)"""

from __future__ import annotations

import ast
from pathlib import Path

LAYER = Path(__file__).resolve().parents[2] / "layers" / "stream_tokens" / "stream_tokens"
MAX_LINES = 40


def functions_of(path: Path, root: Path = LAYER) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    return [
        (f"{path.relative_to(root)}:{node.name}", (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_no_function_in_the_layer_is_longer_than_40_lines():
    measured = [entry for path in sorted(LAYER.rglob("*.py")) for entry in functions_of(path)]
    assert len(measured) > 100  # the walk found the layer's functions
    too_long = [(name, lines) for name, lines in measured if lines > MAX_LINES]
    assert too_long == []


def test_the_measure_counts_a_functions_every_line(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n" + "    x = 1\n" * 41)
    assert functions_of(sample, root=tmp_path) == [("sample.py:f", 42)]
