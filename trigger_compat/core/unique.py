"""Unique jobs (River's ``UniqueOpts``), pure: the options and the key a job is unique by.

A unique job is added only when no job with the same *unique key* is in one of the
``byState`` states; otherwise the add returns that job and inserts nothing. The key is built
from the task identifier and, as chosen:

* ``byArgs``: ``true`` for the whole payload, or a list of top-level payload fields (a
  missing field counts as null); the payload is compared as canonical JSON (key order does
  not matter);
* ``byQueue``: the job's queue name;
* ``byPeriod``: a duration (``"15m"``, ``"1h30m"``, ``"2d"``, ``"45s"``): the key holds for
  the period, counted from the Unix epoch, in which the job is added (the database clock,
  or the client's clock). Within it the key holds even after the job completed and was
  deleted: ``completed`` is one of the default states.

``byState`` (default: every state but ``failed``, as River leaves out discarded jobs) lists
the states of an existing job that block a new one: ``waiting``, ``scheduled``, ``running``,
``retrying``, ``failed`` (see ``job_state``) and ``completed`` (the job is gone: that state
counts only within ``byPeriod``). ``unique: {}`` makes the task identifier alone the key.

A unique job cannot have a job key (a catalog or a call giving both is refused): a job key
replaces the job holding it, a unique key keeps that job, and the two cannot both hold.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

UniqueState = Literal["waiting", "scheduled", "running", "retrying", "failed", "completed"]
UNIQUE_STATES: tuple[str, ...] = get_args(UniqueState)
DEFAULT_UNIQUE_STATES: tuple[str, ...] = tuple(s for s in UNIQUE_STATES if s != "failed")

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = (86400, 3600, 60, 1)
MAX_PERIOD_SECONDS = 366 * 86400


def parse_duration(value: str) -> int:
    """Seconds in a duration such as ``"15m"``, ``"1h30m"``, ``"2d"``; raises ValueError."""
    m = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if not m or not any(m.groups()):
        raise ValueError(
            f"must be a duration such as '30s', '15m', '1h30m' or '2d' (got {value!r})"
        )
    seconds = sum(int(g) * unit for g, unit in zip(m.groups(), _UNITS, strict=True) if g)
    if not 1 <= seconds <= MAX_PERIOD_SECONDS:
        raise ValueError(f"must be between 1 second and 366 days (got {value!r})")
    return seconds


Field_ = Annotated[str, StringConstraints(min_length=1)]


class UniqueOpts(BaseModel):
    """What makes a job unique (catalog ``unique:`` or the ``unique`` enqueue option)."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", populate_by_name=True)

    by_args: bool | tuple[Field_, ...] = Field(False, alias="byArgs")
    by_period: str | None = Field(
        None,
        alias="byPeriod",
        json_schema_extra={"pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"},
    )
    by_queue: bool = Field(False, alias="byQueue")
    by_state: tuple[UniqueState, ...] | None = Field(None, alias="byState", min_length=1)

    @field_validator("by_args", mode="before")
    @classmethod
    def _args(cls, v: Any) -> Any:
        if isinstance(v, list):
            if not v:
                raise ValueError("list the payload fields (or use true for the whole payload)")
            return tuple(v)
        return v

    @field_validator("by_state", mode="before")
    @classmethod
    def _states(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            bad = [s for s in v if s not in UNIQUE_STATES]
            if bad:
                raise ValueError(
                    f"unknown state {bad[0]!r}; the states are {', '.join(UNIQUE_STATES)}"
                )
            return tuple(dict.fromkeys(v))
        return v

    @field_validator("by_period")
    @classmethod
    def _period(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @property
    def period_seconds(self) -> int | None:
        return None if self.by_period is None else parse_duration(self.by_period)

    @property
    def states(self) -> tuple[str, ...]:
        return self.by_state or DEFAULT_UNIQUE_STATES


NO_CRITERIA = UniqueOpts.model_validate({})  # unique by task identifier alone


def parse_unique(value: object, field: str) -> UniqueOpts | None:
    """A :class:`UniqueOpts` from a model, a dict (either spelling), ``True`` (``{}``) or None;
    raises ValueError naming the problem."""
    if value is None or value is False:
        return None
    if isinstance(value, UniqueOpts):
        return value
    if value is True:
        return NO_CRITERIA
    if not isinstance(value, dict):
        raise ValueError(f"{field}: must be a mapping of byArgs, byPeriod, byQueue, byState")
    return UniqueOpts.model_validate(value)


def unique_key(
    opts: UniqueOpts, identifier: str, queue_name: str | None, payload_text: str | None
) -> str:
    """The unique key of a job, before the period (the database adds it): canonical JSON."""
    args: Any = None
    if opts.by_args:
        payload = {} if payload_text is None else json.loads(payload_text)
        if opts.by_args is True:
            args = payload
        else:
            source = payload if isinstance(payload, dict) else {}
            args = {name: source.get(name) for name in cast("tuple[str, ...]", opts.by_args)}
    return json.dumps(
        [identifier, queue_name if opts.by_queue else None, args],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
