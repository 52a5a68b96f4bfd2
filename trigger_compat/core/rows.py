"""How result rows become dicts (pure): like psycopg's ``dict_row``, but the column names are
read straight from the result, without building a ``Column`` description per column — a
measurable share of a single add_job or fetch call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import BaseRowFactory, RowMaker, no_result


def name_row(cursor: Any) -> RowMaker[dict[str, Any]]:
    result = cursor.pgresult
    if result is None or not result.nfields:
        return no_result
    encoding = cursor._encoding  # the connection's client encoding, as psycopg decodes it
    names = [result.fname(i).decode(encoding) for i in range(result.nfields)]

    def make(values: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(names, values, strict=True))

    return make


row_factory: BaseRowFactory[dict[str, Any]] = name_row


def has_rows(cursor: Any) -> bool:
    """Whether the last statement returned a result set (``cursor.description`` builds one
    ``Column`` per column to answer that)."""
    result = cursor.pgresult
    return result is not None and bool(result.nfields)
