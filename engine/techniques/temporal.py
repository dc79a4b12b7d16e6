"""Reading dates from DATE, TIMESTAMP or text columns and writing them back in the same type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.techniques.base import Finding

DEFAULT_DATE_FORMAT = "yyyy-MM-dd"
TEMPORAL_TYPES = (T.DateType, T.TimestampType, T.TimestampNTZType)
# The range Spark documents for DATE and TIMESTAMP. Spark computes dates past it, but other
# readers may fail on them: Python's datetime, for one, stops at year 9999.
FIRST_DATE = date(1, 1, 1)
LAST_DATE = date(9999, 12, 31)


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


def near_range_end(view: Temporal, margin_days: int) -> Column:
    """Return a flag, true where the day is less than ``margin_days`` from FIRST_DATE or LAST_DATE.

    Days outside that range are flagged too, and NULL gives false.
    """
    day = view.value if view.is_date else F.to_date(view.value)
    # ISO text, because py4j sends a date through strftime, which writes year 1 without zeros.
    first = F.lit((FIRST_DATE + timedelta(days=margin_days)).isoformat()).cast("date")
    last = F.lit((LAST_DATE - timedelta(days=margin_days)).isoformat()).cast("date")
    return F.coalesce((day < first) | (day > last), F.lit(False))
