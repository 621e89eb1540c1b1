"""The package keeps its shape: small modules and functions, raw config reads only in the config layer."""

from __future__ import annotations

import ast
import re

from .conftest import ROOT

PACKAGE = ROOT / "clipmem"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 50
CONFIG_LAYER = ("config/",)


def _sources():
    return sorted((*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")))


def test_modules_and_functions_are_small():
    too_long = []
    for path in _sources():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, too_long


def test_raw_config_reads_only_in_the_config_layer():
    pattern = re.compile(r"\bcfg(\.[a-z_]+|\[)")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(CONFIG_LAYER):
            continue
        offenders += [f"{relative}: {m.group(0)}" for m in pattern.finditer(path.read_text())]
    assert not offenders, offenders
