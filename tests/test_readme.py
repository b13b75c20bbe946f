"""The README's examples run verbatim.

Every ```python block of README.md, in order, is executed top to bottom in
ONE namespace (a later block may use what an earlier one defined, as a
reader would).  Blocks that are ``>>>`` listings (output shown, machine
specific) are not run.  A block that needs torch is skipped only when torch
is not installed (torch is optional).

Besides raising, one silent failure is caught: a statement that overwrites
an array in place (``out=x``) while a later statement still reads that name
as if it held the old values.
"""
from __future__ import annotations

import ast
import importlib.util
import pathlib
import re
import zlib

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(text):
    """[(first line number, source)] of the ```python blocks, in order."""
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start(1)) + 1
        out.append((line, m.group(1)))
    return out


def is_listing(src):
    lines = [ln for ln in src.splitlines() if ln.strip()]
    return bool(lines) and lines[0].lstrip().startswith(">>>")


def needs_torch(src):
    return re.search(r"^\s*(import torch|from torch)|\btorch\.", src, re.M) is not None


def _digests(ns):
    return {k: zlib.crc32(np.ascontiguousarray(v).view(np.uint8).reshape(-1))
            for k, v in ns.items() if isinstance(v, np.ndarray) and not k.startswith("_")}


def _names(node, ctx):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def run_readme(text, filename="README.md"):
    """Execute the README's python blocks; raises AssertionError naming the
    README line of the first failure."""
    ns = {"__name__": "readme"}
    overwritten = {}  # name -> README line of the statement that wrote into it in place
    ran = 0
    for line0, src in python_blocks(text):
        if is_listing(src):
            continue
        if needs_torch(src) and importlib.util.find_spec("torch") is None:
            continue
        ran += 1
        tree = ast.parse(src, filename=filename)
        for stmt in tree.body:
            line = line0 + stmt.lineno - 1
            reads = _names(stmt, ast.Load)
            stale = sorted(reads & overwritten.keys())
            assert not stale, (f"{filename}:{line} reads {stale[0]!r}, which line {overwritten[stale[0]]} "
                               f"overwrote in place")
            before = _digests(ns)
            code = compile(ast.Module(body=[stmt], type_ignores=[]), filename, "exec")
            try:
                exec(code, ns)
            except Exception as e:  # noqa: BLE001 - reported with its README line
                raise AssertionError(f"{filename}:{line}: {type(e).__name__}: {e}\n"
                                     f"    {ast.get_source_segment(src, stmt)}") from e
            stored = _names(stmt, ast.Store)
            for name in stored:
                overwritten.pop(name, None)
            after = _digests(ns)
            for name, d in before.items():
                if name not in stored and name in after and after[name] != d and ns[name] is not None:
                    overwritten[name] = line
    return ran


def test_readme_has_python_examples():
    assert len(python_blocks(README.read_text())) >= 3


def test_readme_examples_run_verbatim():
    pytest.importorskip("softmax_c")
    ran = run_readme(README.read_text())
    assert ran > 0
