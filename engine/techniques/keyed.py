"""Keyed techniques: pseudonymize (HMAC-SHA256 in a domain) and date_shift (per-entity offset)."""

from __future__ import annotations

import difflib
import operator
from functools import reduce
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.canonical import NUMERIC_TYPES, canonical_text, encode_tuple
from engine.config.model import Domain, Rule
from engine.pseudonym import INTEGER_BITS, hmac_sha256_long, integer_bits_for, pseudonym
from engine.techniques.base import BuildContext, Finding, Param, Technique, column_ref
from engine.techniques.temporal import DEFAULT_DATE_FORMAT, check_temporal, near_range_end, read_temporal

PSEUDONYMIZE = "pseudonymize"
DATE_SHIFT = "date_shift"


def canonical_inputs(
    names: list[str], rule_domain: Domain, ctx: BuildContext
) -> tuple[Column, Column | None]:
    """Return the injective canonical encoding of the named columns and their invalid flag."""
    parts = []
    invalid: Column | None = None
    for name in names:
        field = ctx.field(name)
        assert field is not None, "validate() checks that every input column exists"
        text, flag = canonical_text(column_ref(field.name), field.dataType, rule_domain)
        parts.append(text)
        if flag is not None:
            invalid = flag if invalid is None else (invalid | flag)
    return encode_tuple(parts), invalid


def check_domain_fits(domain: Domain, field: T.StructField, role: str) -> list[Finding]:
    """Check that a column's type can be read in ``domain``; ``role`` names the column's use."""
    dtype = field.dataType
    if domain.type == "integer" and not isinstance(dtype, NUMERIC_TYPES + (T.StringType,)):
        return [
            Finding(
                "TYPE_UNSUPPORTED",
                f"domain '{domain.name}' holds integer ids, but {role} '{field.name}' is "
                f"{dtype.simpleString()}",
                "use a domain with type: string for this column",
            )
        ]
    if isinstance(dtype, (T.StructType, T.ArrayType, T.MapType)):
        return [
            Finding(
                "TYPE_UNSUPPORTED",
                f"{role} '{field.name}' is {dtype.simpleString()}, which has no canonical form",
                "pseudonymize its fields with an sql rule, or drop it",
            )
        ]
    return []


class Pseudonymize(Technique):
    name = PSEUDONYMIZE
    summary = "replace values with keyed HMAC-SHA256 pseudonyms, equal for equal values in a domain"
    params = (
        Param("domain", (str,), required=True, doc="the name of a domain under 'domains:'"),
        Param("columns", (list,), doc="columns whose tuple is pseudonymized (composite key)"),
    )

    def inputs(self, rule: Rule) -> list[str]:
        return [str(name) for name in rule.params.get("columns") or [rule.column]]

    def check_combination(self, params: dict[str, Any]) -> list[Finding]:
        columns = params.get("columns")
        if columns is not None and (not columns or not all(isinstance(c, str) for c in columns)):
            return [Finding("PARAM_TYPE", "'columns' must be a non-empty list of column names", "e.g. columns: [FIRST, LAST]", "columns")]
        return []

    def check_field(self, rule: Rule, field: T.StructField, ctx: BuildContext) -> list[Finding]:
        domain = ctx.domains[str(rule.params["domain"])]
        findings = []
        for name in self.inputs(rule):
            source = ctx.field(name)
            if source is None:
                findings.append(_missing_input(name, "columns", ctx))
            else:
                findings.extend(check_domain_fits(domain, source, "column"))
        if domain.format == "integer" and isinstance(field.dataType, tuple(INTEGER_BITS)):
            widest = integer_bits_for(field.dataType)
            if domain.bits and domain.bits > widest:
                findings.append(
                    Finding(
                        "PSEUDONYM_TOO_WIDE",
                        f"domain '{domain.name}' asks for {domain.bits}-bit pseudonyms, but the "
                        f"column is {field.dataType.simpleString()} ({widest} bits without sign)",
                        f"set bits: {widest} or less in the domain, or widen the column",
                    )
                )
        return findings

    def encoded_input(self, rule: Rule, ctx: BuildContext) -> tuple[Column, Column | None]:
        domain = ctx.domains[str(rule.params["domain"])]
        return canonical_inputs(self.inputs(rule), domain, ctx)

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column:
        domain = ctx.domains[str(rule.params["domain"])]
        encoded, _ = self.encoded_input(rule, ctx)
        return pseudonym(ctx.hmac_key(PSEUDONYMIZE, domain.name), encoded, domain, field.dataType)

    def invalid(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column | None:
        return self.encoded_input(rule, ctx)[1]


class DateShift(Technique):
    name = DATE_SHIFT
    summary = "move dates by a per-entity number of days, the same in every table and run"
    params = (
        Param("domain", (str,), required=True, doc="domain of the entity whose dates move together"),
        Param("by", (str,), required=True, doc="column holding the entity's key, e.g. PATIENT"),
        Param("max_days", (int,), default=365, doc="largest shift in days, both directions"),
        Param("format", (str,), default=DEFAULT_DATE_FORMAT, doc="date pattern of text columns"),
    )

    def check_combination(self, params: dict[str, Any]) -> list[Finding]:
        if not 1 <= params.get("max_days", 365) <= 36500:
            return [Finding("PARAM_RANGE", "'max_days' must be between 1 and 36500", "e.g. max_days: 365", "max_days")]
        return []

    def check_field(self, rule: Rule, field: T.StructField, ctx: BuildContext) -> list[Finding]:
        findings = check_temporal(field.dataType, DATE_SHIFT)
        by = ctx.field(str(rule.params["by"]))
        if by is None:
            findings.append(_missing_input(str(rule.params["by"]), "by", ctx))
        else:
            findings.extend(check_domain_fits(ctx.domains[str(rule.params["domain"])], by, "'by' column"))
        return findings

    def offset_days(self, rule: Rule, ctx: BuildContext) -> tuple[Column, Column | None]:
        """Return the entity's shift in days, in [-max_days, -1] or [1, max_days]."""
        domain = ctx.domains[str(rule.params["domain"])]
        encoded, invalid = canonical_inputs([str(rule.params["by"])], domain, ctx)
        first_64_bits = hmac_sha256_long(ctx.hmac_key(DATE_SHIFT, domain.name), encoded)
        span = int(self.param(rule, "max_days"))
        # The first 32 bits of the HMAC as an unsigned number, as the first 8 hex digits read.
        draw = F.pmod(F.shiftrightunsigned(first_64_bits, 32), F.lit(2 * span))
        # Zero is left out so that no entity keeps its true dates.
        offset = F.when(draw < span, -(draw + 1)).otherwise(draw - span + 1).cast("int")
        return offset, invalid

    def build(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column:
        view = read_temporal(value, field.dataType, str(self.param(rule, "format")))
        offset, _ = self.offset_days(rule, ctx)
        # An entity with a NULL key has no offset, so its dates become NULL rather than stay true.
        if view.is_date:
            return view.restore(F.date_add(view.value, offset))
        return view.restore(F.timestamp_add("DAY", offset, view.value))

    def invalid(self, value: Column, field: T.StructField, rule: Rule, ctx: BuildContext) -> Column:
        view = read_temporal(value, field.dataType, str(self.param(rule, "format")))
        _, key_invalid = self.offset_days(rule, ctx)
        # Any date that some offset could move out of range is flagged, whatever this entity's
        # offset is, so which rows are rejected reveals nothing about the offsets.
        flags = [near_range_end(view, int(self.param(rule, "max_days")))]
        flags += [flag for flag in (view.invalid, key_invalid) if flag is not None]
        return reduce(operator.or_, flags)

    def rejection(self, rule: Rule) -> Finding:
        max_days = int(self.param(rule, "max_days"))
        return Finding(
            "VALUE_REJECTED",
            "text not in the rule's date format, a 'by' key that the domain cannot read, or a date "
            f"less than max_days ({max_days}) days from 0001-01-01 or 9999-12-31, which the shift "
            "could move out of the date range that readers other than Spark support",
            "fix those source rows (e.g. replace placeholder dates such as 9999-12-31 with NULL), "
            "or adjust 'format' or the domain type",
        )


def _missing_input(name: str, param: str, ctx: BuildContext) -> Finding:
    names = [field.name for field in ctx.schema.fields]
    close = difflib.get_close_matches(name, names, n=1)
    fix = f"did you mean '{close[0]}'?" if close else f"columns are: {', '.join(names)}"
    return Finding("COLUMN_NOT_FOUND", f"column '{name}' does not exist in the source", fix, param)
