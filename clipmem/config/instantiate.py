"""Config → objects, one way: ``hydra.utils.instantiate`` per ``_target_``, with one-line errors."""

from __future__ import annotations

import difflib
import inspect
import re
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from clipmem.errors import ClipmemError, ConfigError, one_line

UNEXPECTED = re.compile(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'")


def _clipmem_cause(err: BaseException) -> ClipmemError | None:
    cause = err.__cause__
    while cause is not None and not isinstance(cause, ClipmemError):
        cause = cause.__cause__
    return cause


def instantiate_checked(config: Any, key: str = "", **kwargs: Any) -> Any:
    """``hydra.utils.instantiate`` whose errors are one line: clipmem's own errors unwrapped, others
    (unknown ``_target_``, a wrong argument) as a ConfigError naming ``key``, the config's path."""
    try:
        return instantiate(config, _convert_="all", **kwargs)
    except InstantiationException as err:
        cause = _clipmem_cause(err)
        if cause is not None:
            raise cause from None
        raise ConfigError(f"{key or 'config'}: {describe_failure(err, config)}") from err
    except OmegaConfBaseException as err:
        raise ConfigError(f"{key or 'config'}: {one_line(err)}") from err


def describe_failure(err: InstantiationException, config: Any) -> str:
    """What went wrong instantiating ``config``, in one line: a ``_target_`` that cannot be found, or the
    innermost error of the call (its type named unless it is a ValueError, whose message says it all)."""
    root: BaseException = err
    while root.__cause__ is not None:
        root = root.__cause__
    if str(err).startswith("Error locating target"):
        target = config.get("_target_") if hasattr(config, "get") else None
        return f"cannot find _target_ {target!r} ({one_line(root)})"
    if root is err:
        return one_line(err)
    unexpected = UNEXPECTED.search(str(root)) if isinstance(root, TypeError) else None
    if unexpected is not None:
        owner, name = unexpected.groups()
        allowed = settings_of(config, owner)
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else f" (its settings: {allowed})" if allowed else ""
        return (f"{owner} has no setting {name!r}{hint}: a misspelt override, or a preset (experiment=, debug=) "
                "that set it for another class")
    return one_line(root) if isinstance(root, ValueError) else f"{type(root).__name__}: {one_line(root)}"


def settings_of(config: Any, owner: str) -> list[str]:
    """The keyword names of the class ``owner`` where a ``_target_`` of ``config`` (at any depth) names it; [] where
    none does or it cannot be found."""
    nodes = [config]
    while nodes:
        node = nodes.pop()
        if not (OmegaConf.is_dict(node) or isinstance(node, dict)):
            continue
        target = str(node.get("_target_", ""))
        if target.rsplit(".", 1)[-1] == owner:
            try:
                return [k for k in inspect.signature(get_object(target)).parameters if k not in ("self", "kwargs")]
            except (ImportError, AttributeError, ValueError, TypeError):
                return []
        nodes += [node[k] for k in node if k != "_target_"]
    return []


def entries(group: DictConfig | dict | None, key: str) -> dict[str, Any]:
    """The enabled entries of a dict-of-objects group (``callbacks``, ``logger``): null entries are off.

    Each entry must be a mapping with a ``_target_``; ConfigError names the first that is not.
    """
    if group is None:
        return {}
    if not OmegaConf.is_dict(group) and not isinstance(group, dict):
        raise ConfigError(f"{key} must be a mapping of name -> {{_target_: ...}}, got {group!r}")
    out = {}
    for name, entry in group.items():
        if entry is None:
            continue
        if not (OmegaConf.is_dict(entry) or isinstance(entry, dict)) or "_target_" not in entry:
            raise ConfigError(f"{key}.{name} needs a _target_ (a class or function path), got {entry!r}")
        out[str(name)] = entry
    return out


def instantiate_entries(group: DictConfig | dict | None, key: str, **kwargs: Any) -> dict[str, Any]:
    """Instantiate every enabled entry of ``group`` in order (the template's instantiate_callbacks loop)."""
    objects = {}
    for name, entry in entries(group, key).items():
        made = instantiate_checked(entry, f"{key}.{name}", **kwargs)
        if made is not None:  # a factory may decline (e.g. a W&B logger in mode=disabled)
            objects[name] = made
    return objects
