"""Reading configuration files: the daemon's TOML and the agents-only TOML.

Both go through the one converter (``sessionward.converter.structure_config``), so they
share strict types, the one duration syntax and the unknown-key error. Every key is
described in docs/operating.md (the daemon's file) and docs/lanes.md (agents).
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sessionward.config import DaemonConfig
from sessionward.converter import structure_config
from sessionward.errors import InvalidConfigError
from sessionward.lanes.config import AgentConfig, AgentsFile, config_warnings

logger = logging.getLogger("sessionward.lanes.config")
"""Config warnings keep the logger name they always had."""


def load_daemon_config(path: str | os.PathLike[str] | None) -> DaemonConfig:
    """The daemon's settings from a TOML file (defaults without one).

    Raises:
        UnknownConfigKeyError: an unknown section or key, named with its table and the file.
        InvalidConfigError: an unreadable file, bad TOML, or a wrong value.
    """
    if path is None:
        return DaemonConfig()
    try:
        data = _read_toml(path)
    except OSError as exc:
        raise InvalidConfigError(f"cannot read config {os.fspath(path)}: {exc}") from None
    if "agents" in data and not data["agents"]:
        # As in an agents-only file: an empty list is a mistake, not "no agents".
        raise InvalidConfigError(f"{os.fspath(path)}: agents is empty; omit it for none")
    return structure_config(data, DaemonConfig, source=os.fspath(path))


def load_config(source: str | os.PathLike[str]) -> tuple[tuple[AgentConfig, ...], tuple[str, ...]]:
    """Load agent configurations from a TOML file (a path) or TOML text (a ``str``).

    Returns:
        The agents, in file order, and the warnings (also logged at WARNING level).

    Raises:
        UnknownConfigKeyError: a table holds a key no record has.
        InvalidCronExpressionError: a cron job's schedule is invalid.
        InvalidConfigError: the TOML is unreadable, or any other value is wrong.
        OSError: a path cannot be read.
    """
    # A ``str`` is always text: guessing "path or text" from its content would turn a
    # missing file into a confusing TOML error, or a TOML snippet into a file lookup.
    if isinstance(source, str):
        return config_from_mapping(_parse(source, None))
    return config_from_mapping(_read_toml(source), source=os.fspath(source))


def config_from_mapping(
    data: Mapping[str, Any], *, source: str | None = None,
) -> tuple[tuple[AgentConfig, ...], tuple[str, ...]]:
    """Build agent configurations from parsed TOML (or an equal dict built in code).

    Returns and raises as ``load_config``.
    """
    root = structure_config(data, AgentsFile, source=source)
    found = tuple(w for agent in root.agents for w in config_warnings(agent))
    for warning in found:
        logger.warning("%s", warning)
    return root.agents, found


def _read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidConfigError(f"{os.fspath(path)} is not UTF-8: {exc}") from exc
    return _parse(text, os.fspath(path))


def _parse(text: str, source: str | None) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        if source is not None:
            raise InvalidConfigError(f"{source}: not valid TOML: {exc}") from exc
        hint = "" if "\n" in text else " (to load a file, pass a pathlib.Path)"
        raise InvalidConfigError(f"not valid TOML: {exc}{hint}") from exc
