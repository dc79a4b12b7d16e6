"""Column profiles for the rule drafter: counts, value shapes and date formats.

One aggregation job for all tables; only the aggregates reach the driver, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.canonical import INTEGRAL_TYPES, NUMERIC_TYPES
from engine.techniques.temporal import TEMPORAL_TYPES

# Java regular expressions, matched against trimmed text.
SHAPES = {
    "email": r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$",
    "uuid": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    "integer": r"^[+-]?[0-9]+$",
    "decimal": r"^[+-]?[0-9]*\.[0-9]+$",
    "ssn": r"^[0-9]{3}-[0-9]{2}-[0-9]{4}$",
    "words": r"\s",
}
# Phone numbers: 7 to 15 digits with a leading '+' or a separator; dates and decimals are not.
_PHONE = r"^\+?[0-9(][0-9 ().-]{5,}[0-9]$"
_DATE_START = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
# Tried in order; the first that parses nearly every value wins. Whole-second patterns come
# before the optional-fraction one so that values keep their exact layout when rewritten.
DATE_FORMATS = (
    "yyyy-MM-dd",
    "yyyy-MM-dd'T'HH:mm:ss'Z'",
    "yyyy-MM-dd'T'HH:mm:ss",
    "yyyy-MM-dd HH:mm:ss",
    "yyyy-MM-dd HH:mm:ssx",
    "yyyy-MM-dd HH:mm:ss[.SSSSSS]x",
    "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XXX",
    "dd/MM/yyyy",
    "MM/dd/yyyy",
)
# Share of non-NULL values that must match a shape or parse as a date for it to count.
MIN_SHAPE_SHARE = 0.95


@dataclass
class ColumnProfile:
    """Counts and value shapes of one column, as the drafter reads them; shares are of non-NULL values."""

    name: str
    dtype: T.DataType
    rows: int
    non_null: int
    distinct: int
    shares: dict[str, float] = field(default_factory=dict)
    average_length: float | None = None
    mean: float | None = None
    date_format: str | None = None

    @property
    def is_text(self) -> bool:
        return isinstance(self.dtype, T.StringType)

    @property
    def is_temporal(self) -> bool:
        return isinstance(self.dtype, TEMPORAL_TYPES) or self.date_format is not None

    @property
    def is_numeric(self) -> bool:
        if isinstance(self.dtype, NUMERIC_TYPES):
            return True
        return self.is_text and self.share("integer") + self.share("decimal") >= MIN_SHAPE_SHARE

    @property
    def is_integer(self) -> bool:
        return isinstance(self.dtype, INTEGRAL_TYPES) or (self.is_text and self.share("integer") >= 1.0)

    @property
    def distinct_ratio(self) -> float:
        return self.distinct / self.non_null if self.non_null else 0.0

    def share(self, shape: str) -> float:
        return self.shares.get(shape, 0.0)

    def has_shape(self, shape: str) -> bool:
        return self.share(shape) >= MIN_SHAPE_SHARE


def _long_values(frame: DataFrame, table: str) -> DataFrame:
    """Return one (table, column, value) row per cell, values as trimmed text."""
    cells = [
        F.struct(F.lit(name).alias("column"), F.trim(F.col(f"`{name}`").cast("string")).alias("value"))
        for name in frame.columns
    ]
    exploded = frame.select(F.lit(table).alias("table"), F.explode(F.array(*cells)).alias("cell"))
    return exploded.select("table", "cell.column", "cell.value")


def _aggregates() -> list[Column]:
    value = F.col("value")
    aggregates = [
        F.count(F.lit(1)).alias("rows"),
        F.count(value).alias("non_null"),
        F.count_distinct(value).alias("distinct"),
        F.avg(F.char_length(value)).alias("length"),
        F.avg(value.try_cast("double")).alias("mean"),
    ]
    aggregates += [F.count_if(value.rlike(pattern)).alias(shape) for shape, pattern in SHAPES.items()]
    digits = F.char_length(F.regexp_replace(value, "[^0-9]", ""))
    separated = value.rlike(r"^\+") | value.rlike(r"[ ().-]")
    phone = value.rlike(_PHONE) & separated & digits.between(7, 15) & ~value.rlike(_DATE_START)
    phone = phone & ~value.rlike(SHAPES["decimal"])
    aggregates.append(F.count_if(phone).alias("phone"))
    for position, pattern in enumerate(DATE_FORMATS):
        parsed = F.try_to_timestamp(value, F.lit(pattern))
        aggregates.append(F.count_if(parsed.isNotNull()).alias(f"date{position}"))
    return aggregates


def profile_tables(tables: Mapping[str, DataFrame]) -> dict[str, dict[str, ColumnProfile]]:
    """Profile every column of every table in one aggregation job.

    Cells are turned into (table, column, value) rows first, so the job has the same few
    aggregates however wide the tables are.
    """
    frames = [_long_values(frame, table) for table, frame in tables.items() if frame.columns]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    if frames:
        long = reduce(DataFrame.unionByName, frames)
        for row in long.groupBy("table", "column").agg(*_aggregates()).collect():
            found[(row["table"], row["column"])] = row.asDict()
    profiles: dict[str, dict[str, ColumnProfile]] = {}
    for table, frame in tables.items():
        profiles[table] = {}
        for source_field in frame.schema.fields:
            counts = found.get((table, source_field.name), {})
            profiles[table][source_field.name] = _profile(source_field, counts)
    return profiles


def _profile(source_field: T.StructField, counts: dict[str, Any]) -> ColumnProfile:
    non_null = int(counts.get("non_null") or 0)
    profile = ColumnProfile(
        source_field.name,
        source_field.dataType,
        int(counts.get("rows") or 0),
        non_null,
        int(counts.get("distinct") or 0),
    )
    if not non_null:
        return profile
    if isinstance(source_field.dataType, T.StringType):
        for shape in (*SHAPES, "phone"):
            profile.shares[shape] = int(counts[shape]) / non_null
        profile.average_length = float(counts["length"])
        for position, pattern in enumerate(DATE_FORMATS):
            if int(counts[f"date{position}"]) / non_null >= MIN_SHAPE_SHARE:
                profile.date_format = pattern
                break
    if counts.get("mean") is not None and isinstance(source_field.dataType, NUMERIC_TYPES + (T.StringType,)):
        profile.mean = float(counts["mean"])
    return profile
