"""Partial masking of text: keep a few leading or trailing characters, hide the rest."""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config.model import Rule
from engine.techniques.base import BuildContext, Finding, Param, Technique


class Mask(Technique):
    name = "mask"
    summary = "keep the first/last N characters and replace the others with a mask character"
    params = (
        Param("keep_first", (int,), default=0, doc="characters kept at the start"),
        Param("keep_last", (int,), default=0, doc="characters kept at the end"),
        Param("char", (str,), default="*", doc="one mask character"),
    )

    def check_combination(self, params: dict[str, Any]) -> list[Finding]:
        findings = []
        for name in ("keep_first", "keep_last"):
            if params.get(name, 0) < 0:
                findings.append(Finding("PARAM_RANGE", f"'{name}' must be 0 or more", "use 0 or a positive count", name))
        if len(params.get("char", "*")) != 1:
            findings.append(Finding("PARAM_RANGE", "'char' must be exactly one character", "use e.g. '*' or 'X'", "char"))
        return findings

    def check_field(self, rule: Rule, field: T.StructField, ctx: BuildContext) -> list[Finding]:
        if not isinstance(field.dataType, T.StringType):
            return [
                Finding(
                    "TYPE_UNSUPPORTED",
                    f"mask works on strings, but the column is {field.dataType.simpleString()}",
                    "use generalize for numbers and dates, or pseudonymize",
                )
            ]
        return []

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column:
        first = int(self.param(rule, "keep_first"))
        last = int(self.param(rule, "keep_last"))
        char = str(self.param(rule, "char"))
        length = F.char_length(value)
        hidden = length - F.lit(first + last)
        # A value is masked whole when the kept characters would be more than half of it:
        # keeping 4 of a 5-character code would reveal almost all of it.
        fully = F.repeat(F.lit(char), length)
        partly = F.concat(
            F.substring(value, 1, first) if first else F.lit(""),
            F.repeat(F.lit(char), hidden),
            F.substring(value, -last, last) if last else F.lit(""),
        )
        if not first and not last:
            return fully
        return F.when(hidden * 2 < length, fully).otherwise(partly)
