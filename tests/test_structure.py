"""The package keeps its shape: small modules and functions, raw config reads only in the config layer."""

from __future__ import annotations

import ast
import re

from .conftest import ROOT

PACKAGE = ROOT / "clipmem"
MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_PARAMETERS = 300, 50, 6
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


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Parameters a caller must think about: positional and keyword ones, without self/cls and keyword-only
    boolean flags."""
    args = node.args
    positional = [a for a in (*args.posonlyargs, *args.args) if a.arg not in ("self", "cls")]
    keywords = [a for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                if not (isinstance(default, ast.Constant) and isinstance(default.value, bool))]
    return len(positional) + len(keywords) + bool(args.vararg) + bool(args.kwarg)


def hydra_factories() -> set[str]:
    """The functions conf/ names as ``_target_`` (Hydra calls them with the config's keys): module path:name."""
    targets = set()
    for path in ROOT.joinpath("conf").rglob("*.yaml"):
        for dotted in re.findall(r"_target_:\s*clipmem\.([\w.]+)", path.read_text()):
            module, _, name = dotted.rpartition(".")
            targets.add(f"{module.replace('.', '/')}.py:{name}")
    return targets


def test_functions_take_at_most_six_parameters():
    """Long argument lists travel as context objects (RunContext, FitSetup, Estimate); constructors and the
    factories that Hydra instantiates from config (``__init__``, a ``_target_`` in conf/) are exempt."""
    over, factories = [], hydra_factories()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name != "__init__" and \
                    f"{path.relative_to(PACKAGE).as_posix()}:{node.name}" not in factories:
                name = f"{path.relative_to(PACKAGE).as_posix()}:{node.name}"
                if parameter_count(node) > MAX_PARAMETERS:
                    over.append(name)
    assert not over, sorted(over)


def test_raw_config_reads_only_in_the_config_layer():
    pattern = re.compile(r"\bcfg(\.[a-z_]+|\[)")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(CONFIG_LAYER):
            continue
        offenders += [f"{relative}: {m.group(0)}" for m in pattern.finditer(path.read_text())]
    assert not offenders, offenders


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Layout")
    return text[text.index("```", start) + 3:text.index("```", text.index("```", start) + 3)]


def test_readme_layout_names_every_subpackage_and_nothing_else():
    """Every package folder under clipmem/ is in README's Layout, indented under its parent; every folder it names
    under clipmem/ exists."""
    lines = [line for line in _layout_block().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("clipmem/"))
    named, stack = set(), []
    for line in lines[start + 1:]:
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            break
        entry = line.split()[0]
        if not entry.endswith("/"):
            continue
        depth = indent // 2 - 1
        stack[depth:] = [entry.rstrip("/")]
        named.add("/".join(stack))
    packages = {p.parent.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}
    assert packages == named, (sorted(packages - named), sorted(named - packages))


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imported(path) -> set[str]:
    """clipmem modules ``path`` imports anywhere in it (type-only and function-level imports too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name.startswith("clipmem")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("clipmem"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if _is_module(full) else node.module)
    return out


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return []


def test_no_import_circle_between_the_parts_of_any_package():
    """Inside every package, its direct parts (modules and sub-packages) import each other without a circle, so
    they stand in layers; a package's own ``__init__`` (its face) is left out. Type-only imports count."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    circles = []
    for package in sorted(n for n, p in modules.items() if p.name == "__init__.py"):
        graph: dict[str, set[str]] = {}
        for name, path in modules.items():
            if not name.startswith(package + ".") or path.name == "__init__.py" and name == package:
                continue
            part = name[len(package) + 1:].split(".")[0]
            for target in _imported(path):
                if target.startswith(package + "."):
                    other = target[len(package) + 1:].split(".")[0]
                    if other != part:
                        graph.setdefault(part, set()).add(other)
        if cycle := _find_cycle(graph):
            circles.append(f"{package}: {' -> '.join(cycle)}")
    assert not circles, circles
