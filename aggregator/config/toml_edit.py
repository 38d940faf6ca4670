"""Edit a config file in place: read it byte for byte, parse it keeping its layout, write it back atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.toml_document import TOMLDocument

from aggregator.errors import ConfigError


def read_config(path: Path) -> str:
    # Bytes, not read_text: universal newlines would turn CRLF into LF and change every line of the file.
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config: {path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config: {path}: not UTF-8: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"config: {path}: cannot read: {exc}") from exc


def parse_config(text: str, path: Path) -> TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"config: {path}: not valid TOML: {exc}") from exc


def write_config(path: Path, text: str) -> None:
    """Write a sibling temp file, fsync it, then rename it over `path`: readers see the old file or the new one."""
    target = path.resolve()  # replace the file a symlink points to, not the symlink
    try:
        mode = target.stat().st_mode & 0o7777 if target.exists() else _new_file_mode()
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"config: {path}: cannot write: {exc}") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise ConfigError(f"config: {path}: cannot write: {exc}") from exc
        raise
    # The rename itself is durable only once the directory is synced (not possible on every platform).
    with contextlib.suppress(OSError):
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _new_file_mode() -> int:
    """What open() would give a new file here: 0o666 less the umask (mkstemp's own 0o600 would hide it)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
