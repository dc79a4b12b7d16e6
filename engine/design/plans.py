"""Compiling one table of a config against a sampled DataFrame, and describing its rules.

Design tools compile with the production compiler (``engine.compile``), so what they show is
what a run would write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.compile import TablePlan, check_table_schema, compile_table
from engine.config.model import Config, Rule
from engine.errors import ConfigError
from engine.keys import MasterKey
from engine.techniques.temporal import DEFAULT_DATE_FORMAT

_MICROS_PER_DAY = 86_400_000_000


def compile_for(config: Config, name: str, frame: DataFrame, key: MasterKey) -> TablePlan:
    """Compile table ``name`` of ``config`` for ``frame``; raise ConfigError if they do not fit."""
    if name not in config.tables:
        raise ValueError(f"config '{config.name}' has no table '{name}'; it has {', '.join(config.tables)}")
    table = config.tables[name]
    problems = check_table_schema(table, frame.schema, config)
    if problems:
        raise ConfigError(problems)
    return compile_table(table, frame.schema, config, key)


def describe_rule(rule: Rule | None) -> str:
    """Return a rule as one short line: ``pseudonymize {"domain": "patient"}``."""
    if rule is None:
        return "(no rule)"
    if not rule.params:
        return rule.technique
    return f"{rule.technique} {json.dumps(rule.params, sort_keys=True)}"


@dataclass(frozen=True)
class Measure:
    """A generalized or date-shifted column, and how to read its values as numbers.

    ``kind`` is ``date`` (read as days since 1970-01-01), ``number``, or ``text`` (only
    distinct counts make sense, so values are read as they are).
    """

    column: str
    rule: Rule
    kind: str
    dtype: T.DataType
    text_format: str

    def view(self, value: Column) -> Column:
        """Return ``value``, this column before or after its rule, as a number (text stays text)."""
        if self.kind == "date":
            return as_days(value, self.dtype, self.text_format)
        if self.kind == "number":
            return value.try_cast("double")
        return value


def measures(plan: TablePlan, schema: T.StructType) -> list[Measure]:
    """List the date-shifted and generalized columns of ``plan`` that reach the output."""
    outputs = dict(plan.columns)
    found = []
    for source_field in schema.fields:
        rule = plan.table.rule_for(source_field.name)
        if (
            rule is None
            or source_field.name not in outputs
            or rule.technique not in ("date_shift", "generalize")
        ):
            continue
        if rule.technique == "date_shift" or "date" in rule.params:
            kind = "date"
        elif "prefix" in rule.params:
            kind = "text"
        else:
            kind = "number"
        text_format = str(rule.params.get("format", DEFAULT_DATE_FORMAT))
        found.append(Measure(source_field.name, rule, kind, source_field.dataType, text_format))
    return found


def as_days(value: Column, dtype: T.DataType, text_format: str) -> Column:
    """Return a date, timestamp or date text as fractional days since 1970-01-01 (UTC session)."""
    if isinstance(dtype, T.DateType):
        return F.unix_date(value).cast("double")
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return F.unix_micros(value.cast("timestamp")) / F.lit(_MICROS_PER_DAY)
    parsed = F.try_to_timestamp(value, F.lit(text_format))
    return F.unix_micros(parsed) / F.lit(_MICROS_PER_DAY)
