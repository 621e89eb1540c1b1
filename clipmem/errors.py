"""Exceptions whose message is the whole story: entry points print them on one line and exit 1."""


class ClipmemError(Exception):
    """A problem with the user's input (config, data, run directory), not a bug in clipmem."""


class ConfigError(ClipmemError):
    """A configuration value is invalid; the message names the field and the allowed values."""


class SplitError(ClipmemError):
    """Split sizes do not fit the data, overlap, or are empty."""


class RunDirError(ClipmemError):
    """A run directory is missing something that was asked of it (models, manifest, config)."""


class IncompatibleModelsError(ClipmemError):
    """Models f and g differ in more than their training subset (S_C vs S_I)."""


def one_line(err: BaseException, limit: int = 400) -> str:
    """An exception's message (Hydra's span several lines) as one line, at most ``limit`` characters."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


class DiskFullError(ClipmemError):
    """A write failed because the device is full (``OSError`` ENOSPC, or safetensors' "StorageFull")."""


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` (or what caused it) is a full disk: errno ENOSPC, or a library's text for it."""
    import errno

    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(err) or "StorageFull" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False
