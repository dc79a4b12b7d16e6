"""Checks of a config on sample data: gaps, rejected values, leaks, broken joins, k-anonymity.

Every figure is computed by Spark, and only counts and aggregates reach the driver. The result
is a ``CheckReport`` (see ``engine.design.report``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.compile import KeyPair, RowCheck, TablePlan, check_table_schema, compile_table
from engine.config.model import Config
from engine.design.plans import describe_rule, measures
from engine.design.relations import Relation, relations_from_config
from engine.design.report import (
    CheckReport,
    DistributionChange,
    DomainCollisions,
    ForeignKeyResult,
    KAnonymity,
    Leak,
    RejectedValues,
)
from engine.keys import MasterKey

# Rules that make a column a direct identifier: its original values must not reach the output.
DIRECT_IDENTIFIER_TECHNIQUES = ("pseudonymize", "mask", "null", "drop", "constant")
DEFAULT_K = 5
# Shorter values are not compared by the leak check: codes like 'M' or '12' match by chance.
DEFAULT_MIN_LEAK_LENGTH = 4


@dataclass
class _Paired:
    """One table's sample with each column before (``b<i>``) and after (``a<i>``) its rule.

    Canonical inputs of key domains sit in ``k<j>``, and the flags of values a rule cannot
    process in ``v<j>``. Every check reads this one stored frame, so each compiled expression
    runs once per table. The store is a local checkpoint, which also cuts the lineage: check
    queries then do not plan the large pseudonym expressions again.
    """

    plan: TablePlan
    schema: T.StructType
    frame: DataFrame
    before: dict[str, str]
    after: dict[str, str]
    canonical: list[tuple[KeyPair, str]]
    invalid: list[tuple[RowCheck, str]]


def _pair(plan: TablePlan, source: DataFrame) -> _Paired:
    outputs = dict(plan.columns)
    selected = []
    before, after = {}, {}
    for index, name in enumerate(source.columns):
        before[name] = f"b{index}"
        selected.append(F.col(f"`{name}`").alias(before[name]))
        if name in outputs:
            after[name] = f"a{index}"
            selected.append(outputs[name].alias(after[name]))
    canonical = []
    for index, pair in enumerate(plan.key_pairs):
        canonical.append((pair, f"k{index}"))
        selected.append(pair.canonical.alias(f"k{index}"))
    invalid = []
    for index, row_check in enumerate(plan.checks):
        invalid.append((row_check, f"v{index}"))
        selected.append(F.coalesce(row_check.invalid, F.lit(False)).alias(f"v{index}"))
    # Only these columns are stored, so the key columns that with_keys adds stay out of it.
    stored = plan.with_keys(source).select(*selected).localCheckpoint(eager=True)
    return _Paired(plan, source.schema, stored, before, after, canonical, invalid)


def _stacked(frame: DataFrame, names: list[str], rows: list[list[Column]]) -> DataFrame:
    """Return, for every row of ``frame``, one row per entry of ``rows`` (columns ``names``).

    This is a union of several projections of one table, read in one scan: a union of many
    small frames would cost a Spark task per part.
    """
    structs = [F.struct(*[value.alias(name) for name, value in zip(names, row, strict=True)]) for row in rows]
    exploded = frame.select(F.explode(F.array(*structs)).alias("cell"))
    return exploded.select(*[F.col(f"cell.{name}") for name in names])


def check(
    config: Config,
    tables: Mapping[str, DataFrame],
    key: MasterKey,
    relations: Sequence[Relation] | None = None,
    k: int = DEFAULT_K,
    min_leak_length: int = DEFAULT_MIN_LEAK_LENGTH,
) -> CheckReport:
    """Check ``config`` on sample ``tables`` and return one report.

    ``relations`` default to those the config declares (``relations_from_config``); pass
    ``find_relations(tables)`` to also test keys the config might have missed. Tables whose
    rules do not fit their schema are listed under problems and left out of the data checks.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    report = CheckReport(config.name, k, min_leak_length, sorted(set(config.tables) & set(tables)))
    report.missing_tables = sorted(set(config.tables) - set(tables))
    report.unconfigured_tables = sorted(set(tables) - set(config.tables))
    paired: dict[str, _Paired] = {}
    for name in report.tables:
        table = config.tables[name]
        problems = check_table_schema(table, tables[name].schema, config)
        if problems:
            report.problems.extend(problem.to_dict() for problem in problems)
        else:
            paired[name] = _pair(compile_table(table, tables[name].schema, config, key), tables[name])
    chosen = relations_from_config(config) if relations is None else list(relations)
    report.rejected = _count_rejected(paired)
    report.leaks = _find_leaks(paired, min_leak_length)
    report.foreign_keys = _check_foreign_keys(chosen, paired)
    report.collisions = _count_collisions(paired)
    report.k_anonymity = [
        _k_anonymity(pairs, k) for pairs in paired.values() if pairs.plan.table.quasi_identifiers
    ]
    report.distributions = _distributions(paired, k)
    return report


# --- values a rule cannot process -------------------------------------------------------------


def _count_rejected(paired: dict[str, _Paired]) -> list[RejectedValues]:
    """Count the rows each rule cannot process (a date in another format, text in an integer domain)."""
    flags = []
    for name, pairs in paired.items():
        rows = []
        for row_check, column in pairs.invalid:
            rule = describe_rule(pairs.plan.table.rule_for(row_check.column))
            rows.append([F.lit(name), F.lit(row_check.column), F.lit(rule), F.col(column)])
        if rows:
            flags.append(_stacked(pairs.frame, ["table", "column", "rule", "invalid"], rows))
    if not flags:
        return []
    counted = (
        reduce(DataFrame.unionByName, flags)
        .groupBy("table", "column", "rule")
        .agg(F.count_if("invalid").alias("rows"))
        .where(F.col("rows") > 0)
        .orderBy("table", "column")
        .collect()
    )
    return [RejectedValues(row["table"], row["column"], row["rule"], int(row["rows"])) for row in counted]


# --- leaks ----------------------------------------------------------------------------------------


def _find_leaks(paired: dict[str, _Paired], min_length: int) -> list[Leak]:
    """Join the values of every direct-identifier column with every output cell, as text."""
    identifiers = []
    cells = []
    rules = {}
    for name, pairs in paired.items():
        rows = []
        for column, before in pairs.before.items():
            rule = pairs.plan.table.rule_for(column)
            if rule is None or rule.technique not in DIRECT_IDENTIFIER_TECHNIQUES:
                continue
            rules[(name, column)] = describe_rule(rule)
            rows.append([F.lit(name), F.lit(column), F.trim(F.col(before).cast("string"))])
        if rows:
            identifiers.append(_stacked(pairs.frame, ["source_table", "source_column", "value"], rows))
        outputs = [
            [F.lit(name), F.lit(column), F.trim(F.col(after).cast("string"))]
            for column, after in pairs.after.items()
        ]
        if outputs:
            cells.append(_stacked(pairs.frame, ["output_table", "output_column", "value"], outputs))
    if not identifiers or not cells:
        return []
    long_enough = F.char_length("value") >= min_length
    sources = reduce(DataFrame.unionByName, identifiers).where(long_enough).distinct()
    targets = reduce(DataFrame.unionByName, cells).where(long_enough).distinct()
    found = (
        sources.join(targets, "value")
        .groupBy("source_table", "source_column", "output_table", "output_column")
        .agg(F.count_distinct("value").alias("values"))
        .orderBy("source_table", "source_column", "output_table", "output_column")
        .collect()
    )
    return [
        Leak(
            row["source_table"],
            row["source_column"],
            rules[(row["source_table"], row["source_column"])],
            row["output_table"],
            row["output_column"],
            int(row["values"]),
        )
        for row in found
    ]


# --- foreign keys ---------------------------------------------------------------------------------


def _check_foreign_keys(relations: Sequence[Relation], paired: dict[str, _Paired]) -> list[ForeignKeyResult]:
    """Count orphan rows of every relation, before and after, with a single join.

    Child values are tagged with their relation and side, and parent keys with their table, key
    and side. One left join on (tag, value) then finds every orphan at once.
    """
    children: dict[str, list[list[Column]]] = {}
    parents: dict[str, dict[str, list[Column]]] = {}
    checked = []
    for index, relation in enumerate(relations):
        child, parent = paired.get(relation.child), paired.get(relation.parent)
        if child is None or parent is None:
            continue
        checked.append((index, relation))
        for side, child_columns, parent_columns in (
            ("before", child.before, parent.before),
            ("after", child.after, parent.after),
        ):
            if relation.column not in child_columns or relation.key not in parent_columns:
                continue
            target = f"{relation.parent}.{relation.key}:{side}"
            value = F.col(child_columns[relation.column]).cast("string")
            children.setdefault(relation.child, []).append([F.lit(f"{index}:{side}"), F.lit(target), value])
            key = F.col(parent_columns[relation.key]).cast("string")
            parents.setdefault(relation.parent, {})[target] = [F.lit(target), key]
    if not children:
        return []
    values = reduce(
        DataFrame.unionByName,
        [
            _stacked(paired[table].frame, ["label", "target", "value"], rows)
            for table, rows in children.items()
        ],
    ).where(F.col("value").isNotNull())
    keys = (
        reduce(
            DataFrame.unionByName,
            [
                _stacked(paired[table].frame, ["target", "value"], list(rows.values()))
                for table, rows in parents.items()
            ],
        )
        .distinct()
        .withColumn("found", F.lit(True))
    )
    joined = values.join(keys, ["target", "value"], "left")
    counted = (
        joined.groupBy("label")
        .agg(F.count(F.lit(1)).alias("rows"), F.count_if(F.col("found").isNull()).alias("orphans"))
        .collect()
    )
    found = {row["label"]: (int(row["rows"]), int(row["orphans"])) for row in counted}
    results = []
    for index, relation in checked:
        rows, before = found.get(f"{index}:before", (0, 0))
        after = found.get(f"{index}:after")
        if (
            relation.column not in paired[relation.child].after
            or relation.key not in paired[relation.parent].after
        ):
            status, orphans_after = "not checked: a key column is dropped", None
        else:
            orphans_after = after[1] if after else 0
            status = "broken" if orphans_after > before else "ok"
        results.append(ForeignKeyResult(str(relation), rows, before, orphans_after, status))
    return results


# --- pseudonym collisions -------------------------------------------------------------------------


def _count_collisions(paired: dict[str, _Paired]) -> list[DomainCollisions]:
    """Count, per key domain, distinct inputs and pseudonyms and pseudonyms shared by two inputs.

    Domains declared with ``key: false`` (names, addresses) are left out, as in a production run:
    two inputs may share a pseudonym there by design.
    """
    pairs = []
    for table in paired.values():
        rows = [
            [F.lit(pair.domain), F.col(canonical), F.col(table.after[pair.column]).cast("string")]
            for pair, canonical in table.canonical
        ]
        if rows:
            pairs.append(_stacked(table.frame, ["domain", "input", "output"], rows))
    if not pairs:
        return []
    known = reduce(DataFrame.unionByName, pairs).where(F.col("input").isNotNull())
    per_pseudonym = known.groupBy("domain", "output").agg(F.count_distinct("input").alias("inputs"))
    # Each input has exactly one pseudonym, so summing inputs per pseudonym counts distinct inputs.
    rows = (
        per_pseudonym.groupBy("domain")
        .agg(
            F.sum("inputs").alias("inputs"),
            F.count(F.lit(1)).alias("pseudonyms"),
            F.count_if(F.col("inputs") > 1).alias("colliding"),
        )
        .orderBy("domain")
        .collect()
    )
    return [
        DomainCollisions(row["domain"], int(row["inputs"]), int(row["pseudonyms"]), int(row["colliding"]))
        for row in rows
    ]


# --- k-anonymity ----------------------------------------------------------------------------------


def _group_sizes(frame: DataFrame, columns: list[str], k: int) -> tuple[int, int, int, int]:
    """Return (rows, groups, smallest group, rows in groups smaller than k) over ``columns``."""
    groups = frame.groupBy(*[F.col(f"`{name}`") for name in columns]).count()
    row = groups.agg(
        F.sum("count").alias("rows"),
        F.count(F.lit(1)).alias("groups"),
        F.min("count").alias("smallest"),
        F.sum(F.when(F.col("count") < k, F.col("count")).otherwise(0)).alias("below"),
    ).first()
    assert row is not None
    return int(row["rows"] or 0), int(row["groups"]), int(row["smallest"] or 0), int(row["below"] or 0)


def _k_anonymity(pairs: _Paired, k: int) -> KAnonymity:
    """Measure group sizes over the quasi-identifiers; dropped ones no longer split groups."""
    by_lower = {name.lower(): name for name in pairs.before}
    columns = [by_lower[name.lower()] for name in pairs.plan.table.quasi_identifiers]
    rows, groups_before, smallest_before, below_before = _group_sizes(
        pairs.frame, [pairs.before[name] for name in columns], k
    )
    _, groups_after, smallest_after, below_after = _group_sizes(
        pairs.frame, [pairs.after[name] for name in columns if name in pairs.after], k
    )
    return KAnonymity(
        table=pairs.plan.table.name,
        quasi_identifiers=columns,
        k=k,
        rows=rows,
        groups_before=groups_before,
        smallest_group_before=smallest_before,
        share_below_k_before=round(below_before / rows, 4) if rows else 0.0,
        groups_after=groups_after,
        smallest_group_after=smallest_after,
        rows_below_k_after=below_after,
        share_below_k_after=round(below_after / rows, 4) if rows else 0.0,
    )


# --- distributions --------------------------------------------------------------------------------


def _distributions(paired: dict[str, _Paired], k: int) -> list[DistributionChange]:
    """Compare statistics of every generalized or shifted column, all tables in one job.

    Means and standard deviations of fewer than ``k`` values are left out: the mean of one
    value is that value.
    """
    found = []
    frames = []
    for name, pairs in paired.items():
        rows = []
        for measure in measures(pairs.plan, pairs.schema):
            found.append((name, measure))
            for side, column in (
                ("before", pairs.before[measure.column]),
                ("after", pairs.after[measure.column]),
            ):
                number = measure.view(F.col(column)) if measure.kind != "text" else F.lit(None)
                rows.append(
                    [
                        F.lit(f"{name}.{measure.column}:{side}"),
                        number.cast("double"),
                        F.col(column).cast("string"),
                    ]
                )
        if rows:
            frames.append(_stacked(pairs.frame, ["label", "number", "text"], rows))
    if not frames:
        return []
    rows = (
        reduce(DataFrame.unionByName, frames)
        .groupBy("label")
        .agg(
            F.count("text").alias("count"),
            F.count_distinct("text").alias("distinct"),
            F.avg("number").alias("mean"),
            F.stddev_samp("number").alias("stddev"),
            F.min("number").alias("min"),
            F.max("number").alias("max"),
        )
        .collect()
    )
    stats = {row["label"]: row.asDict() for row in rows}
    # A table with no sampled rows produces no group at all.
    empty = {"count": 0, "distinct": 0, "mean": None, "stddev": None, "min": None, "max": None}
    results = []
    for name, measure in found:
        before = stats.get(f"{name}.{measure.column}:before", empty)
        after = stats.get(f"{name}.{measure.column}:after", empty)
        results.append(
            DistributionChange(
                table=name,
                column=measure.column,
                rule=describe_rule(measure.rule),
                kind=measure.kind,
                count_before=int(before["count"]),
                count_after=int(after["count"]),
                distinct_before=int(before["distinct"]),
                distinct_after=int(after["distinct"]),
                mean_before=_statistic(before, "mean", k),
                mean_after=_statistic(after, "mean", k),
                stddev_before=_statistic(before, "stddev", k),
                stddev_after=_statistic(after, "stddev", k),
                min_change=_difference(after["min"], before["min"]),
                max_change=_difference(after["max"], before["max"]),
            )
        )
    return results


def _statistic(row: dict[str, Any], name: str, k: int) -> float | None:
    value = row[name]
    if value is None or row["count"] < k:
        return None
    return round(float(value), 3)


def _difference(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(float(after) - float(before), 3)
