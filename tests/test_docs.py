"""The docs name only what exists: every command they show composes, every config key, preset, module
and file they name is there, every relative link resolves, and the README stays a front door.

What is checked, in README.md and docs/*.md:

* every ``python train.py ...`` / ``python evaluate.py ...`` / ``make run ARGS="..."`` command, in code blocks
  and inline code, is composed with Hydra as the entry point would (an unknown group option or key fails).
  ``-m`` and ``--help`` are dropped and a swept value (``a,b``) is replaced by its first value; ``hydra/launcher=`` and
  ``hydra.*`` arguments, shell variables (``$S``) and placeholders (``...``, ``[overrides]``, a ``<...>`` key
  or group option) are skipped; any other ``<...>`` becomes a dummy string (``run_dir=<run>``); a command with
  ``--config-dir`` needs the user's own config files and is not composed here (docs/extending.md's recipes
  run end to end, with their files, in tests/test_plugins.py);
* every dotted config key in inline code (``data.…``, ``model.…``, ``scoring.…``, …) exists in the default
  config or in the config composed with one option of some group (``mitigation.sigma`` needs
  ``mitigation=text_noise``); a ``<...>`` segment matches any key; ``+key`` (adding a key) is not checked;
* every ``group=option`` in code names a file of that group; every ``experiment=<name>`` anywhere names a preset;
* every ``clipmem.<dotted name>`` in inline code imports, and every repository path in inline code exists;
* every relative link (and its ``#anchor``) resolves; README.md has at most 250 lines;
* every ``docs/<page>.md, "<Section>"`` that the package and the configs cite names an existing section.
"""

from __future__ import annotations

import functools
import importlib
import re
import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from .conftest import CONF, ROOT, compose_config

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250
KEY_ROOTS = ("data", "model", "scoring", "report", "mitigation", "callbacks", "logger", "hardware", "trainer")
GROUPS = ("model", "data", "mitigation", "design", "hardware", "logger", "callbacks", "experiment", "debug",
          "modality", "hparams_search")
# Names the docs mention on purpose although they no longer exist: what the reshape renamed, so that users of
# older runs can find the new name. Each must stay absent (test_exempt_names_are_really_gone).
EXEMPT_KEYS = {
    "data.seed": "renamed data.split_seed; clipmem/config/legacy.py upgrades older run configs",
    "callbacks.zeroshot": "now callbacks.utility.zeroshot",
    "callbacks.retrieval": "now callbacks.utility.retrieval",
    "callbacks.linear_probe": "now callbacks.utility.linear_probe",
}
EXEMPT_MODULES = {"clipmem.bench": "moved to benchmarks/bench.py"}
# Group options the docs use as examples of what a user adds; each must be registered where the reason says.
EXEMPT_OPTIONS = {
    "mitigation=two_captions_and_noise": ("tests/test_extending.py", 'name="two_captions_and_noise"'),
    "data=bars": ("tests/test_plugins.py", '"data=bars"'),  # docs/extending.md: a user's --config-dir option
}
PLACEHOLDER_TOKENS = {"...", "…", "[overrides]"}
PATH_ROOTS = ("clipmem/", "conf/", "tests/", "benchmarks/", "outputs/examples/", "docs/", ".ci/")

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
COMMAND = re.compile(r"\bpython (train|evaluate)\.py\b(.*)$")
MAKE_RUN = re.compile(r'\bmake run ARGS="([^"]*)"')
KEY = re.compile(r"^({})(\.[A-Za-z0-9_<>]+)+$".format("|".join(KEY_ROOTS)))
GROUP_OPTION = re.compile(r"(?<![\w.+@/])\+?({})=([A-Za-z0-9_]+)\b".format("|".join(GROUPS)))
PLACEHOLDER = re.compile(r"<[^<>\n]*>")
DUMMY = "docs_placeholder"
ZEROSHOT_OPTION = re.compile(r"zeroshot@data\.zeroshot\.\w+=(\w+)")
LAUNCHER = re.compile(r"hydra/launcher=(\w+)")
CITATION = re.compile(r'docs/([\w-]+\.md), "([^"]+)"')


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """The text without its fenced code blocks."""
    return FENCE.sub("", text)


def _inline(text: str) -> list[str]:
    return INLINE.findall(_prose(text))


def _code_lines(text: str) -> list[str]:
    """Lines of the fenced code blocks, backslash continuations joined, and inline code spans."""
    lines = []
    for block in FENCE.findall(text):
        lines += [line for line in block.replace("\\\n", " ").splitlines() if not line.lstrip().startswith("#")]
    return lines + _inline(text)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ---------------------------------------------------------------- commands


def _commands() -> list[tuple[str, str, list[str]]]:
    """(doc, config name, argument tokens) of every command the docs show."""
    found = []
    for doc in DOCS:
        for line in _code_lines(_text(doc)):
            line = PLACEHOLDER.sub(DUMMY, line)
            match = COMMAND.search(line)
            if match and "--config-dir" not in match.group(2):
                found.append((_rel(doc), match.group(1), shlex.split(match.group(2), comments=True)))
            match = MAKE_RUN.search(line)
            if match:
                found.append((_rel(doc), "train", shlex.split(match.group(1))))
    return found


def _is_group(key: str) -> bool:
    return (CONF / key).is_dir()


def _overrides(tokens: list[str]) -> list[str]:
    """The Hydra overrides of one command line, as ``compose`` takes them (see the module docstring)."""
    parser, out = OverridesParser.create(), []
    for token in tokens:
        if token in ("-m", "--multirun", "--help") or token.startswith("$") or token in PLACEHOLDER_TOKENS:
            continue
        if token.startswith("~") and "=" not in token:  # deleting a key or group: nothing to check
            out.append(token)
            continue
        assert "=" in token, f"not an override: {token!r}"
        key, _, value = token.partition("=")
        name = key.lstrip("+~")
        if name.startswith(("hydra/", "hydra.")) or DUMMY in name or (DUMMY in value and _is_group(name)):
            continue
        override = parser.parse_override(token)
        if override.is_sweep_override():
            token = f"{override.get_key_element()}={next(iter(override.sweep_string_iterator()))}"
        out.append(token)
    return out


COMMANDS = _commands()


def test_the_docs_show_commands():
    docs = {doc for doc, _, _ in COMMANDS}
    assert len(COMMANDS) > 50 and {"README.md", "docs/configuration.md", "docs/sweeps.md"} <= docs, docs


@pytest.mark.parametrize(("doc", "config", "tokens"), COMMANDS,
                         ids=[f"{d}:{' '.join(t)[:60]}" for d, _, t in COMMANDS])
def test_every_command_composes(doc, config, tokens):
    overrides, error = _overrides(tokens), None
    try:
        compose_config(overrides, config_name=config)
    except Exception as err:  # any composition error fails, with the doc named
        error = " ".join(str(err).split())
    assert error is None, f"{doc}: `python {config}.py {' '.join(tokens)}` does not compose: {error}"


# ---------------------------------------------------------------- config keys


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


@functools.cache
def _configs() -> tuple[dict, ...]:
    """The default config and one config per option of every group, as plain (unresolved) containers."""
    variants: list[list[str]] = [[]]
    for group in GROUPS:
        prefix = "+" if group == "modality" else ""  # not in train.yaml's defaults list
        variants += [[f"{prefix}{group}={option}"] for option in _options(group)]
    variants += [[f"+zeroshot@data.zeroshot.example={option}"] for option in _options("zeroshot")]
    return tuple(OmegaConf.to_container(compose_config(v), resolve=False) for v in variants)


def _has(node, parts: list[str]) -> bool:
    if not parts:
        return True
    if not isinstance(node, dict):
        return False
    head, rest = parts[0], parts[1:]
    if head.startswith("<") and head.endswith(">"):  # a placeholder: any key at this level
        return any(_has(child, rest) for child in node.values())
    return head in node and _has(node[head], rest)


def _key_mentions() -> list[tuple[str, str]]:
    found = set()
    for doc in DOCS:
        for span in _inline(_text(doc)):
            for token in span.split():
                key = token.partition("=")[0].rstrip(",.;:")
                if key.startswith("+"):
                    continue  # adds a key; the commands that add one are composed above
                if KEY.match(key.lstrip("~")):
                    found.add((_rel(doc), key.lstrip("~")))
    return sorted(found)


KEYS = _key_mentions()


def test_the_docs_name_keys():
    assert len(KEYS) > 80, KEYS


@pytest.mark.parametrize(("doc", "key"), KEYS, ids=[f"{d}:{k}" for d, k in KEYS])
def test_every_named_key_exists(doc, key):
    if key in EXEMPT_KEYS:
        return
    parts = key.split(".")
    assert any(_has(cfg, parts) for cfg in _configs()), (
        f"{doc} names `{key}`, which is in neither the default config nor any group option's config")


def test_exempt_names_are_really_gone():
    for key in EXEMPT_KEYS:
        assert not any(_has(cfg, key.split(".")) for cfg in _configs()), f"{key} exists again: drop its exemption"
    for name in EXEMPT_MODULES:
        with pytest.raises(ImportError):
            importlib.import_module(name)
    for option, (path, registration) in EXEMPT_OPTIONS.items():
        assert registration in _text(ROOT / path), f"{option} is no longer registered in {path}"


def test_every_group_option_and_preset_exists():
    missing = []
    for doc in DOCS:
        text = _text(doc)
        code = "\n".join(_code_lines(text))
        for group, option in GROUP_OPTION.findall(code):
            if option not in _options(group) and option != "null" and f"{group}={option}" not in EXEMPT_OPTIONS:
                missing.append(f"{_rel(doc)}: {group}={option}")
        for option in ZEROSHOT_OPTION.findall(code):
            if option not in _options("zeroshot"):
                missing.append(f"{_rel(doc)}: zeroshot option {option}")
        for option in LAUNCHER.findall(code):
            if option != "basic" and option not in _options("hydra/launcher"):
                missing.append(f"{_rel(doc)}: hydra/launcher={option}")
        for name in re.findall(r"\bexperiment=(\w+)", text):  # anywhere, prose included
            if not (CONF / "experiment" / f"{name}.yaml").is_file():
                missing.append(f"{_rel(doc)}: experiment={name}")
    assert not missing, missing


# ---------------------------------------------------------------- modules and paths


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_named_module_and_path_exists():
    missing = []
    for doc in DOCS:
        for span in _inline(_text(doc)):
            for token in span.split():
                token = token.strip("(),;:")
                if re.fullmatch(r"clipmem(\.[A-Za-z_]\w*)+", token) and token not in EXEMPT_MODULES:
                    if not _resolves(token):
                        missing.append(f"{_rel(doc)}: {token}")
                elif (token.startswith(PATH_ROOTS) and "<" not in token and "*" not in token
                      and not (ROOT / token.partition(":")[0]).exists()):
                    missing.append(f"{_rel(doc)}: {token}")
    assert not missing, missing


# ---------------------------------------------------------------- links and the README


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6} (.+)$", _prose(_text(path)), re.M):
        slug = _slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS:
        for target in LINK.findall(_prose(_text(doc))):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            path_part, _, anchor = target.partition("#")
            path = (doc.parent / path_part).resolve() if path_part else doc
            if not path.exists():
                broken.append(f"{_rel(doc)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{_rel(doc)}: {target} (no such section)")
    assert not broken, broken


def test_every_docs_page_is_linked_from_the_readme():
    readme = _text(ROOT / "README.md")
    assert all(f"(docs/{page.name})" in readme for page in DOCS[1:]), "a docs page is missing from the README"


def test_readme_is_a_front_door():
    lines = len(_text(ROOT / "README.md").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_sections_cited_by_the_code_exist():
    missing = []
    for source in (*sorted((ROOT / "clipmem").rglob("*.py")), *sorted(CONF.rglob("*.yaml"))):
        text = _text(source)
        for page in re.findall(r"docs/([\w-]+\.md)", text):
            if not (ROOT / "docs" / page).is_file():
                missing.append(f"{_rel(source)}: docs/{page}")
        for page, section in CITATION.findall(text):
            path = ROOT / "docs" / page
            if path.is_file() and _slug(section) not in _anchors(path):
                missing.append(f'{_rel(source)}: docs/{page}, "{section}"')
    assert not missing, missing


# ---------------------------------------------------------------- defaults stated in configuration.md

DEFAULT_ROW = re.compile(r"^\| `([a-z_]+(?:\.[a-z_]+)+)` \| ([^|]+) \|", re.M)
UNCHECKED_DEFAULT = re.compile(r"[(;]|\bnano\b|\bothers\b|\bsynthetic\b")  # a default that depends on a choice


def _literal(cell: str):
    """A table cell's value as YAML reads it (``5e-4`` as a float, which YAML 1.1 reads as a string)."""
    import yaml

    value = yaml.safe_load(cell.strip().strip("`"))
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def test_defaults_stated_in_configuration_md_are_the_codes():
    """Every ``| `key` | default |`` row of docs/configuration.md whose default is one plain value equals the
    default config's value (the YAML group or the dataclass behind it): the docs are not a third copy that drifts."""
    config = OmegaConf.to_container(compose_config([]), resolve=False)
    checked, wrong = 0, []
    for key, cell in DEFAULT_ROW.findall(_text(ROOT / "docs" / "configuration.md")):
        if UNCHECKED_DEFAULT.search(cell):
            continue
        node = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None and cell.strip().strip("`") != "null":
            continue  # the key lives in a group option that is not the default; test_every_named_key_exists has it
        if isinstance(node, dict) and "_target_" in node:  # a component: the docs name its class
            node = node["_target_"]
        checked += 1
        if _literal(cell) != node:
            wrong.append(f"{key}: docs say {cell.strip()}, the config has {node!r}")
    assert checked >= 40, checked
    assert not wrong, wrong
