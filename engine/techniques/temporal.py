"""Reading dates from DATE, TIMESTAMP or text columns and writing them back in the same type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.techniques.base import Finding

DEFAULT_DATE_FORMAT = "yyyy-MM-dd"
TEMPORAL_TYPES = (T.DateType, T.TimestampType, T.TimestampNTZType)


@dataclass(frozen=True)
class Temporal:
    """A column seen as a date or timestamp, with the way back to its own type."""

    value: Column
    restore: Callable[[Column], Column]
    invalid: Column | None
    is_date: bool


def read_temporal(value: Column, dtype: T.DataType, text_format: str) -> Temporal:
    """View ``value`` as a date or timestamp; text is parsed with ``text_format``."""
    if isinstance(dtype, T.DateType):
        return Temporal(value, lambda result: result, None, is_date=True)
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        # date_trunc returns TIMESTAMP even for TIMESTAMP_NTZ input, so the cast restores the type.
        return Temporal(value, lambda result: result.cast(dtype), None, is_date=False)
    parsed = F.try_to_timestamp(value, F.lit(text_format))
    invalid = value.isNotNull() & parsed.isNull()
    # Parsing and formatting use the same pattern and session time zone, so a value moves by
    # whole days and keeps its own layout (a 'Z' suffix, say).
    return Temporal(parsed, lambda result: F.date_format(result, text_format), invalid, False)


def check_temporal(dtype: T.DataType, technique: str) -> list[Finding]:
    if isinstance(dtype, TEMPORAL_TYPES + (T.StringType,)):
        return []
    return [
        Finding(
            "TYPE_UNSUPPORTED",
            f"{technique} needs a date, timestamp or text column, not {dtype.simpleString()}",
            "use a rule made for this type, or convert it with an sql rule",
        )
    ]
