"""The JSON form of sessionward's records: one converter, every hook registered here.

Shaped like cattrs' ``preconf/json.py``: ``make_converter()`` builds a fresh converter
and ``configure_converter`` registers the hooks; ``cattrs.global_converter`` is left
alone. Records have no JSON methods of their own (attrs and cattrs both advise against
classes that are their own wire format).

The admin replies travel as a tagged union (``"kind"`` names the record), so a reader of
``sessionward ... --json`` can tell them apart. The daemon's config is structured with
``forbid_extra_keys``, so a misspelt key is an error, not a silently ignored setting, and
structuring errors are turned into readable messages with ``transform_error``.
"""

from __future__ import annotations

from typing import Any

import cattrs
from cattrs.errors import ClassValidationError
from cattrs.preconf.json import make_converter as make_json_converter
from cattrs.strategies import configure_tagged_union

from sessionward.actors.messages import OwnerState, SessionsPage, SystemStatus, TurnRecord
from sessionward.config import RecoveryConfig, RuntimeConfig
from sessionward.errors import BadInputError
from sessionward.outcomes import TurnOutcome
from sessionward.recovery.history import RecoveryAction

AdminReply = OwnerState | SessionsPage | SystemStatus | TurnOutcome | RecoveryAction
"""Everything the admin CLI prints with ``--json``."""

TAG_KEY = "kind"


def configure_converter(converter: cattrs.Converter) -> cattrs.Converter:
    """Register every hook sessionward needs on ``converter`` and return it."""
    # Addresses and pickled blobs never reach JSON: the admin records hold none.
    configure_tagged_union(
        AdminReply, converter, tag_name=TAG_KEY, tag_generator=lambda cls: _snake(cls.__name__)
    )
    for cls in (RuntimeConfig, RecoveryConfig):
        converter.register_structure_hook(
            cls, cattrs.gen.make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True)
        )
    converter.register_unstructure_hook(TurnRecord, cattrs.gen.make_dict_unstructure_fn(TurnRecord, converter))
    return converter


def make_converter() -> cattrs.Converter:
    """A new JSON converter with sessionward's hooks."""
    return configure_converter(make_json_converter(forbid_extra_keys=True))


def to_json_data(record: Any) -> Any:
    """A record (or a list of records) as JSON-ready data, tagged with its kind."""
    if isinstance(record, list | tuple):
        return [to_json_data(r) for r in record]
    return converter.unstructure(record, AdminReply)


def from_json_data(data: Any) -> Any:
    """The inverse of ``to_json_data`` for one record."""
    return converter.structure(data, AdminReply)


def structure_config(data: dict[str, Any], cls: type = RuntimeConfig) -> Any:
    """A config record from TOML/JSON data.

    Raises:
        BadInputError: unknown keys or wrong types, with every problem named.
    """
    try:
        return converter.structure(data, cls)
    except ClassValidationError as exc:
        raise BadInputError("; ".join(cattrs.transform_error(exc, path=cls.__name__))) from None


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


converter = make_converter()
"""The module's converter; build another with ``make_converter()`` to customise."""
