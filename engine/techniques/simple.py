"""Techniques that need no key: keep, drop, null, constant and the sql escape hatch."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from pyspark.errors import PySparkException
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.canonical import INTEGRAL_TYPES, NUMERIC_TYPES
from engine.config.model import Rule
from engine.techniques.base import BuildContext, Finding, Param, Technique


class Keep(Technique):
    name = "keep"
    summary = "copy the value unchanged (for columns that identify nobody)"
    keeps_values = True

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column:
        return value


class Drop(Technique):
    name = "drop"
    summary = "leave the column out of the output table"

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> None:
        return None


class Null(Technique):
    name = "null"
    summary = "replace every value with NULL, keeping the column and its type"

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column:
        return F.lit(None).cast(field.dataType)


class Constant(Technique):
    name = "constant"
    summary = "replace every non-NULL value with one constant of the column's type"
    params = (
        # YAML reads an unquoted 1900-01-01 as a date, so dates and timestamps are accepted too.
        Param("value", (str, int, float, bool, date, datetime), required=True, doc="the replacement value"),
    )

    def check_field(self, rule: Rule, field: T.StructField, ctx: BuildContext) -> list[Finding]:
        if isinstance(field.dataType, (T.StructType, T.ArrayType, T.MapType, T.BinaryType)):
            return [
                Finding(
                    "TYPE_UNSUPPORTED",
                    f"constant cannot produce a {field.dataType.simpleString()} column",
                    "use null, drop, or an sql rule",
                )
            ]
        # The value is cast with try_cast, which would turn a misfit into NULL on every row.
        if not _fits(self.param(rule, "value"), field.dataType):
            return [
                Finding(
                    "PARAM_TYPE",
                    f"the constant does not convert to the column type {field.dataType.simpleString()}",
                    "write a value of the column's type: a number, true/false, or an ISO date such as 1900-01-01",
                    "value",
                )
            ]
        return []

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column:
        # NULL stays NULL, so the constant does not invent values where the source had none.
        replacement = F.lit(self.param(rule, "value")).try_cast(field.dataType)
        return F.when(value.isNotNull(), replacement)


# Functions that reach outside the row: Java methods by reflection (System.getenv would read
# the key in local mode) and Databricks secrets. A match anywhere in the text rejects the rule.
_OUTSIDE_CALL = re.compile(
    r"(?<![\w$])`?(reflect|try_reflect|java_method|secret|try_secret)`?\s*\(", re.IGNORECASE
)


# Resolved expression classes that reach outside the row: a subquery can read any table or
# file (the key file among them), and reflection calls any static Java method.
_OUTSIDE_CLASSES = {
    "org.apache.spark.sql.catalyst.expressions.SubqueryExpression": "a subquery",
    "org.apache.spark.sql.catalyst.expressions.CallMethodViaReflection": "a Java method call",
}


def _outside_reach(expression: Column, schema: T.StructType) -> str | None:
    """Resolve ``expression`` on an empty frame of ``schema``; name the first outside reach in it.

    The spelling check above misses IDENTIFIER('java_method')(...) or a comment before the
    parenthesis, so the resolved expression tree is checked as well. An expression that does
    not resolve is left for the analysis step, which reports it with its message.
    """
    spark = SparkSession.getActiveSession()
    if spark is None:
        return None
    try:
        analyzed = spark.createDataFrame([], schema).select(expression)._jdf.queryExecution().analyzed()
    except PySparkException:
        return None
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - the expression tree is only reachable through py4j
    classes = {jvm.java.lang.Class.forName(name): label for name, label in _OUTSIDE_CLASSES.items()}
    pending = [analyzed.expressions().apply(i) for i in range(analyzed.expressions().size())]
    while pending:
        node = pending.pop()
        for java_class, label in classes.items():
            if java_class.isInstance(node):
                return label
        children = node.children()
        pending.extend(children.apply(i) for i in range(children.size()))
    return None


class Sql(Technique):
    name = "sql"
    summary = "any Spark SQL expression over the source columns (the escape hatch)"
    params = (Param("expr", (str,), required=True, doc="a Spark SQL expression, e.g. upper(CITY)"),)

    def check_combination(self, params: dict[str, object]) -> list[Finding]:
        if not str(params["expr"]).strip():
            return [Finding("PARAM_EMPTY", "parameter 'expr' of 'sql' is empty", "write an expression", "expr")]
        return []

    def check_field(self, rule: Rule, field: T.StructField, ctx: BuildContext) -> list[Finding]:
        called = _OUTSIDE_CALL.search(str(rule.params["expr"]))
        if called:
            return [
                Finding(
                    "SQL_FORBIDDEN",
                    f"the sql expression calls {called.group(1).lower()}(), which reaches outside "
                    "the row (Java methods, secrets) and could copy key material into the output",
                    "use built-in functions on the source columns only",
                    "expr",
                )
            ]
        # Parsing needs the JVM but no data; analysis errors surface when the plan is built.
        try:
            expression = F.expr(str(rule.params["expr"]))
        except PySparkException as exc:
            return [
                Finding(
                    "SQL_INVALID",
                    f"the sql expression does not parse ({type(exc).__name__})",
                    "check the expression in a notebook with spark.sql('SELECT ...')",
                    "expr",
                )
            ]
        reached = _outside_reach(expression, ctx.schema)
        if reached:
            return [
                Finding(
                    "SQL_FORBIDDEN",
                    f"the sql expression contains {reached}, which can read outside the row (files, "
                    "tables, Java methods) and so copy key material into the output",
                    "use built-in functions on the source columns only",
                    "expr",
                )
            ]
        return []

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column:
        return F.expr(str(rule.params["expr"]))


def _fits(value: object, dtype: T.DataType) -> bool:
    """Tell whether ``value`` reads as a ``dtype`` value: numbers, true/false or ISO dates.

    This is a rough check of the forms Spark casts. A rare form that Python parses but Spark
    does not, such as an ISO week date, still passes and becomes NULL.
    """
    if isinstance(dtype, T.StringType):
        return True
    if isinstance(dtype, T.BooleanType) or isinstance(value, bool):
        return isinstance(dtype, T.BooleanType) and isinstance(value, bool)
    text = str(value).strip()
    try:
        if isinstance(dtype, INTEGRAL_TYPES):
            int(text)
        elif isinstance(dtype, NUMERIC_TYPES):
            Decimal(text)
        elif isinstance(dtype, T.DateType):
            date.fromisoformat(text)
        elif isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
            datetime.fromisoformat(text)
    except (ValueError, InvalidOperation):
        return False
    return True
