"""Config + source schemas -> one TablePlan per table: ordered, named Spark Column expressions.

Compiling starts no Spark job and reads no data. The plan also carries the row checks that must
pass before anything is written, and the (input, pseudonym) pairs of key domains that the run
uses to detect collisions.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config.model import Config, TableConfig, Where
from engine.errors import ConfigError, Problem
from engine.keys import MasterKey
from engine.pseudonym import integer_bits_for, output_bits, padded_keys
from engine.techniques import TECHNIQUES, BuildContext
from engine.techniques.base import column_ref
from engine.techniques.keyed import Pseudonymize
from engine.techniques.simple import Sql


@dataclass(frozen=True)
class RowCheck:
    """A boolean Column that is true on rows a rule cannot process, with what to tell the user."""

    column: str
    technique: str
    invalid: Column


@dataclass(frozen=True)
class SqlColumn:
    """An sql rule's result, computed under a working name before any key column exists."""

    hidden: str
    column: str
    expression: Column


@dataclass(frozen=True)
class KeyPair:
    """The canonical input and the pseudonym of one column in a key domain."""

    domain: str
    column: str
    canonical: Column
    output: Column
    bits: int
    numeric: bool = False
    where: Where | None = None


# Columns the engine adds to a frame while it works; a source column may not start with this.
RESERVED_PREFIX = "__anon_"
KEY_COLUMN_PREFIX = f"{RESERVED_PREFIX}key_"
SQL_COLUMN_PREFIX = f"{RESERVED_PREFIX}sql_"


class KeyRing:
    """The padded HMAC keys one table needs, served as columns of a one-row key table.

    Plans then name key columns instead of holding key literals, whose bytes Spark would print
    in the event log. Column names are numbered, so they tell nothing about the key.
    """

    def __init__(self, master: MasterKey) -> None:
        self._master = master
        self._names: dict[tuple[str, str], tuple[str, str]] = {}
        self._values: dict[str, bytes] = {}

    def hmac_key(self, purpose: str, domain: str) -> tuple[Column, Column]:
        """Return the inner and outer padded keys of ``domain`` for ``purpose`` as columns."""
        if (purpose, domain) not in self._names:
            index = len(self._names)
            inner_name, outer_name = f"{KEY_COLUMN_PREFIX}{index}_i", f"{KEY_COLUMN_PREFIX}{index}_o"
            inner, outer = padded_keys(self._master.subkey(purpose, domain))
            self._values[inner_name], self._values[outer_name] = inner, outer
            self._names[(purpose, domain)] = (inner_name, outer_name)
        inner_name, outer_name = self._names[(purpose, domain)]
        return F.col(inner_name), F.col(outer_name)

    def attach(self, frame: DataFrame) -> DataFrame:
        """Return ``frame`` with the key columns added through a broadcast one-row cross join."""
        if not self._values:
            return frame
        schema = T.StructType([T.StructField(name, T.BinaryType(), False) for name in self._values])
        row = tuple(bytearray(value) for value in self._values.values())
        keys = frame.sparkSession.createDataFrame([row], schema)
        return frame.crossJoin(F.broadcast(keys))


@dataclass
class TablePlan:
    """The compiled form of one table: what to select, and what to check first."""

    table: TableConfig
    keys: KeyRing
    columns: list[tuple[str, Column]] = field(default_factory=list)
    checks: list[RowCheck] = field(default_factory=list)
    key_pairs: list[KeyPair] = field(default_factory=list)
    # The results of sql rules, computed before the key columns exist (see with_keys).
    sql_columns: list[SqlColumn] = field(default_factory=list)

    @property
    def output_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def with_sql(self, source: DataFrame) -> DataFrame:
        """Return ``source`` with the results of the sql rules under their working names."""
        if not self.sql_columns:
            return source
        return source.select("*", *[sql.expression.alias(sql.hidden) for sql in self.sql_columns])

    def with_keys(self, source: DataFrame) -> DataFrame:
        """Return ``source`` with the columns the compiled expressions refer to.

        sql rules are evaluated first, in a projection of the source alone: an expression such
        as hex(__anon_key_0_i) or to_json(struct(*)) then finds no key column to read.
        """
        return self.keys.attach(self.with_sql(source))

    def apply(self, source: DataFrame) -> DataFrame:
        """Return ``source`` anonymized: one select of the compiled columns, in source order."""
        return self.with_keys(source).select(*[expression.alias(name) for name, expression in self.columns])


def _problem(table: TableConfig, column: str | None, code: str, message: str, fix: str,
             where_path: str | None = None) -> Problem:
    # Match the exact name first, so that a second rule for one column is reported at its own line.
    rule = (table.rules.get(column) or table.rule_for(column)) if column else None
    where = rule.where if rule else table.where
    path = where_path or (rule.where.path if rule else f"{table.where.path}.columns")
    return Problem(code=code, message=message, fix=fix, file=where.file, line=where.line, path=path)


def check_table_schema(table: TableConfig, schema: T.StructType, config: Config) -> list[Problem]:
    """List every mismatch between one table's rules and its source schema."""
    problems: list[Problem] = []
    source_names = [f.name for f in schema.fields]
    lowered = {name.lower() for name in source_names}
    missing = [name for name in source_names if table.rule_for(name) is None]
    for name in missing:
        problems.append(
            _problem(
                table, None, "RULE_MISSING",
                f"table '{table.name}': column '{name}' has no rule, and columns without rules are "
                "never copied",
                f"add '{name}: <technique>' under tables.{table.name}.columns "
                "(keep only if it identifies nobody)",
                where_path=f"{table.where.path}.columns.{name}",
            )
        )
    for name in source_names:
        if name.lower().startswith(RESERVED_PREFIX):
            problems.append(
                _problem(table, None, "COLUMN_RESERVED",
                         f"table '{table.name}': column '{name}' starts with '{RESERVED_PREFIX}', "
                         "which the engine keeps for its own working columns",
                         "rename the column in the source (e.g. with a view or a select)",
                         where_path=f"{table.where.path}.columns.{name}")
            )
    seen: dict[str, str] = {}
    for column, rule in table.rules.items():
        key = column.lower()
        if key in seen:
            problems.append(_problem(table, column, "RULE_DUPLICATE",
                                     f"columns '{seen[key]}' and '{column}' are the same column "
                                     "(names match case-insensitively, as in Spark)",
                                     "keep one rule for the column"))
        seen[key] = column
        if key not in lowered:
            close = difflib.get_close_matches(column, source_names, n=1)
            problems.append(_problem(table, column, "COLUMN_NOT_FOUND",
                                     f"table '{table.name}' has no column '{column}' in its source",
                                     f"did you mean '{close[0]}'?" if close else "remove the rule"))
    ctx = BuildContext(table=table, schema=schema, domains=config.domains, hmac_key=_no_key)
    for column, rule in table.rules.items():
        source_field = ctx.field(column)
        if source_field is None:
            continue
        for finding in TECHNIQUES[rule.technique].check_field(rule, source_field, ctx):
            path = rule.where.path + (f".{rule.technique}.{finding.param}" if finding.param else "")
            problems.append(Problem(code=finding.code, message=f"table '{table.name}', column "
                                    f"'{column}': {finding.message}", fix=finding.fix,
                                    file=rule.where.file, line=rule.where.line, path=path))
    for name in table.quasi_identifiers:
        if name.lower() not in lowered:
            problems.append(_problem(table, None, "COLUMN_NOT_FOUND",
                                     f"quasi-identifier '{name}' is not a column of '{table.name}'",
                                     "fix the name in quasi_identifiers",
                                     where_path=f"{table.where.path}.quasi_identifiers"))
    for name in table.source.types:
        if name.lower() not in lowered:
            problems.append(_problem(table, None, "COLUMN_NOT_FOUND",
                                     f"declared type for '{name}', which is not a column of '{table.name}'",
                                     "fix the name under source.types",
                                     where_path=f"{table.where.path}.source.types.{name}"))
    return problems


def _no_key(purpose: str, domain: str) -> tuple[Column, Column]:
    raise AssertionError("schema checks never build key material")


def check_schemas(config: Config, schemas: dict[str, T.StructType]) -> None:
    """Raise ConfigError listing every table/rule mismatch; return quietly when all fit."""
    problems: list[Problem] = []
    for name, table in config.tables.items():
        problems.extend(check_table_schema(table, schemas[name], config))
    problems.extend(_mixed_integer_widths(config, schemas))
    if problems:
        raise ConfigError(problems)


def _mixed_integer_widths(config: Config, schemas: dict[str, T.StructType]) -> list[Problem]:
    """Report integer domains without 'bits' whose columns have different integer widths.

    Without 'bits', an integer pseudonym takes the width of its column, so an INT column and a
    BIGINT column of one domain would get different pseudonyms for the same id and stop joining.
    """
    widths: dict[str, dict[int, str]] = {}
    for name, table in config.tables.items():
        fields = {f.name.lower(): f for f in schemas[name].fields}
        for column, rule in table.rules.items():
            domain = config.domains.get(str(rule.params.get("domain")))
            source_field = fields.get(column.lower())
            if rule.technique != "pseudonymize" or domain is None or source_field is None:
                continue
            if domain.format != "integer" or domain.bits is not None:
                continue
            width = integer_bits_for(source_field.dataType)
            widths.setdefault(domain.name, {}).setdefault(width, f"{name}.{source_field.name}")
    problems = []
    for domain_name, seen in sorted(widths.items()):
        if len(seen) < 2:
            continue
        listed = ", ".join(f"{column} ({bits} bits)" for bits, column in sorted(seen.items()))
        problems.append(Problem.at(
            config.domains[domain_name].where, "DOMAIN_WIDTH_MIXED",
            f"domain '{domain_name}' has integer columns of different widths: {listed}, so the same "
            "id would get different pseudonyms and joins would break",
            f"set bits: {min(seen)} in the domain, or give the columns one type under source.types",
            path=f"domains.{domain_name}",
        ))
    return problems


def compile_table(table: TableConfig, schema: T.StructType, config: Config, key: MasterKey) -> TablePlan:
    """Compile one table's rules into Column expressions, in source column order."""
    ring = KeyRing(key)
    ctx = BuildContext(table=table, schema=schema, domains=config.domains, hmac_key=ring.hmac_key)
    plan = TablePlan(table=table, keys=ring)
    for source_field in schema.fields:
        rule = table.rule_for(source_field.name)
        assert rule is not None, "check_schemas() runs first and reports columns without rules"
        technique = TECHNIQUES[rule.technique]
        value = column_ref(source_field.name)
        expression = technique.build(value, source_field, rule, ctx)
        invalid = technique.invalid(value, source_field, rule, ctx)
        if invalid is not None:
            plan.checks.append(RowCheck(source_field.name, rule.technique, invalid))
        if expression is None:
            continue
        if isinstance(technique, Sql):
            hidden = f"{SQL_COLUMN_PREFIX}{len(plan.sql_columns)}"
            plan.sql_columns.append(SqlColumn(hidden, source_field.name, expression))
            expression = F.col(hidden)
        plan.columns.append((source_field.name, expression))
        if isinstance(technique, Pseudonymize):
            domain = config.domains[str(rule.params["domain"])]
            if domain.key:
                canonical, _ = technique.encoded_input(rule, ctx)
                bits = output_bits(domain, source_field.dataType)
                plan.key_pairs.append(KeyPair(domain.name, source_field.name, canonical, expression, bits,
                                              domain.format == "integer", domain.where))
    return plan


def compile_config(config: Config, schemas: dict[str, T.StructType], key: MasterKey) -> dict[str, TablePlan]:
    """Check the config against ``schemas`` and compile every table."""
    check_schemas(config, schemas)
    return {name: compile_table(table, schemas[name], config, key) for name, table in config.tables.items()}
