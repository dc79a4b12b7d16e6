"""Generalization: dates to year or month, numbers to buckets or rounding, text to a prefix."""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.canonical import NUMERIC_TYPES
from engine.config.model import Rule
from engine.techniques.base import BuildContext, Finding, Param, Technique
from engine.techniques.temporal import DEFAULT_DATE_FORMAT, check_temporal, read_temporal

_MODES = ("date", "bucket", "round", "prefix")
# Text holding a number is parsed with this type: 26 integer digits and 12 decimals.
_TEXT_NUMBER = T.DecimalType(38, 12)


class Generalize(Technique):
    name = "generalize"
    summary = "coarsen values: date to year/month, number to bucket/rounding, text to a prefix"
    params = (
        Param("date", (str,), choices=("year", "month"), doc="year or month"),
        Param("bucket", (int, float), doc="bucket width; values become the bucket's lower bound"),
        Param("round", (int,), doc="decimal places kept; negative rounds to tens, hundreds, ..."),
        Param("prefix", (int,), doc="number of leading characters kept"),
        Param("format", (str,), default=DEFAULT_DATE_FORMAT, doc="date pattern of text columns"),
    )

    def mode(self, params: dict[str, Any]) -> str:
        return next(mode for mode in _MODES if mode in params)

    def check_combination(self, params: dict[str, Any]) -> list[Finding]:
        given = [mode for mode in _MODES if mode in params]
        if len(given) != 1:
            return [
                Finding(
                    "PARAM_CHOICE",
                    f"generalize needs exactly one of {', '.join(_MODES)}, got {len(given)}",
                    "e.g. {generalize: {date: year}} or {generalize: {bucket: 10}}",
                )
            ]
        mode = given[0]
        if mode == "bucket" and params["bucket"] <= 0:
            return [Finding("PARAM_RANGE", "'bucket' must be greater than 0", "use a positive width", "bucket")]
        if mode == "prefix" and params["prefix"] < 0:
            return [Finding("PARAM_RANGE", "'prefix' must be 0 or more", "use a character count", "prefix")]
        if "format" in params and mode != "date":
            return [Finding("PARAM_UNUSED", "'format' only applies with 'date'", "remove 'format'", "format")]
        return []

    def check_field(self, rule: Rule, field: T.StructField, ctx: BuildContext) -> list[Finding]:
        mode = self.mode(rule.params)
        dtype = field.dataType
        if mode == "date":
            return check_temporal(dtype, "generalize.date")
        if mode in ("bucket", "round") and not isinstance(dtype, NUMERIC_TYPES + (T.StringType,)):
            return [
                Finding(
                    "TYPE_UNSUPPORTED",
                    f"generalize.{mode} needs a number or text column, not {dtype.simpleString()}",
                    "use generalize.date for dates",
                )
            ]
        if mode == "prefix" and not isinstance(dtype, T.StringType):
            return [
                Finding(
                    "TYPE_UNSUPPORTED",
                    f"generalize.prefix needs a text column, not {dtype.simpleString()}",
                    "use bucket or round for numbers",
                )
            ]
        return []

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column:
        mode = self.mode(rule.params)
        dtype = field.dataType
        if mode == "prefix":
            return F.substring(value, 1, int(rule.params["prefix"]))
        if mode == "date":
            view = read_temporal(value, dtype, str(self.param(rule, "format")))
            unit = str(rule.params["date"])
            if view.is_date:
                return view.restore(F.trunc(view.value, unit))
            return view.restore(F.date_trunc(unit, view.value))
        number = value.try_cast(_TEXT_NUMBER) if isinstance(dtype, T.StringType) else value
        if mode == "round":
            result = F.round(number, int(rule.params["round"]))
        else:
            width = rule.params["bucket"]
            result = F.floor(number / F.lit(width)) * F.lit(width)
            if isinstance(width, int) and isinstance(dtype, T.StringType):
                result = result.cast(T.DecimalType(38, 0))
        return result.cast("string") if isinstance(dtype, T.StringType) else result.cast(dtype)

    def invalid(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column | None:
        mode = self.mode(rule.params)
        if not isinstance(field.dataType, T.StringType) or mode == "prefix":
            return None
        if mode == "date":
            return read_temporal(value, field.dataType, str(self.param(rule, "format"))).invalid
        return value.isNotNull() & value.try_cast(_TEXT_NUMBER).isNull()
