"""Foreign keys between tables: declared by hand, read from a config, or found in the data.

A relation states that the values of ``child.column`` are values of ``parent.key``. The sampler
follows relations to keep a sample closed under its foreign keys, and the checker counts rows
whose foreign key stops joining after anonymization.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config.model import Config, Rule

# Distinct child values that must be found in a parent key for the data to count as a reference.
# Below 1.0 so that a sentinel such as Synthea's '0' for "no insurance" does not hide a real key.
MIN_CONTAINED_SHARE = 0.8
# Types whose values can be keys; fractions, dates and nested values are never compared.
_KEY_TYPES = (T.StringType, T.ByteType, T.ShortType, T.IntegerType, T.LongType)
_RELATION_TEXT = re.compile(r"^\s*([^.\s]+)\.([^\s]+)\s*->\s*([^.\s]+)\.([^\s]+)\s*$")


@dataclass(frozen=True)
class Relation:
    """A foreign key: every non-NULL ``child.column`` value should be a ``parent.key`` value."""

    child: str
    column: str
    parent: str
    key: str
    # Share of distinct child values found in the parent key, when the relation was found in data.
    share: float | None = field(default=None, compare=False)
    # True when the column name names the parent (``store_id`` and table ``store``).
    named: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.child}.{self.column} -> {self.parent}.{self.key}"

    @classmethod
    def parse(cls, text: str) -> Relation:
        """Read ``"encounters.PATIENT -> patients.Id"``."""
        match = _RELATION_TEXT.match(text)
        if match is None:
            raise ValueError(f"invalid relation '{text}': write it as 'child.column -> parent.key'")
        return cls(*match.groups())


def singular(table: str) -> str:
    """Return the English singular of a table name: ``imaging_studies`` -> ``imaging_study``."""
    lowered = table.lower()
    if lowered.endswith("ies"):
        return lowered[:-3] + "y"
    if lowered.endswith(("sses", "xes", "ches", "shes")):
        return lowered[:-2]
    if lowered.endswith("s") and not lowered.endswith("ss"):
        return lowered[:-1]
    return lowered


def is_key_name(table: str, column: str) -> bool:
    """Tell whether ``column`` is named like the primary key of ``table`` (``Id``, ``store_id``)."""
    name = column.lower()
    stems = {table.lower(), singular(table)}
    return name == "id" or any(name in (f"{stem}_id", f"{stem}id") for stem in stems)


def names_table(column: str, table: str) -> bool:
    """Tell whether a column name contains the singular name of ``table`` (``manager_staff_id``)."""
    stem = singular(table).replace("_", "")
    return len(stem) >= 3 and stem in column.lower().replace("_", "")


def is_reference_name(column: str) -> bool:
    """Tell whether a column is named like an id: ``id``, ``PATIENTID``, ``store_id``, ``SERIES_UID``."""
    return column.lower().endswith("id")


def check_relations(tables: Mapping[str, DataFrame], relations: Sequence[Relation]) -> None:
    """Raise ValueError naming the first relation whose table or column does not exist."""
    for relation in relations:
        for table, column in ((relation.child, relation.column), (relation.parent, relation.key)):
            if table not in tables:
                raise ValueError(f"relation {relation}: table '{table}' is not among the tables given")
            if column not in tables[table].columns:
                raise ValueError(f"relation {relation}: table '{table}' has no column '{column}'")


# --- relations declared by a config ---------------------------------------------------------------


def _single_input_domain(rule: Rule) -> str | None:
    """Return the domain of a pseudonymize rule that reads only its own column, else None."""
    if rule.technique != "pseudonymize":
        return None
    inputs = rule.params.get("columns")
    if inputs and [str(name).lower() for name in inputs] != [rule.column.lower()]:
        return None
    return str(rule.params["domain"])


def relations_from_config(config: Config) -> list[Relation]:
    """Infer foreign keys from a config: columns pseudonymized in the domain of a table's id.

    A table's id is a column named like its key (``Id``, ``<table>_id``, ``<singular>_id``)
    and pseudonymized in a domain. Every other column pseudonymized in that same domain
    references it. A domain claimed as id by two tables is ambiguous and yields no relation.
    """
    owners: dict[str, list[tuple[str, str]]] = {}
    for name, table in config.tables.items():
        for column, rule in table.rules.items():
            domain = _single_input_domain(rule)
            if domain is not None and is_key_name(name, column):
                owners.setdefault(domain, []).append((name, column))
    relations = []
    for name, table in config.tables.items():
        for column, rule in table.rules.items():
            domain = _single_input_domain(rule)
            claimed = owners.get(domain or "", [])
            if len(claimed) != 1:
                continue
            parent, key = claimed[0]
            if (parent, key) != (name, column):
                relations.append(Relation(name, column, parent, key, named=names_table(column, parent)))
    return relations


# --- relations found in the data ------------------------------------------------------------------


def key_columns(tables: Mapping[str, DataFrame]) -> dict[str, str]:
    """Find each table's primary key: a column named like its key whose values are unique.

    One aggregation job covers every table; only counts reach the driver.
    """
    frames = []
    for name, frame in tables.items():
        candidates = [column for column in frame.columns if is_key_name(name, column)]
        if candidates:
            frames.append(_column_values(frame, candidates, name, keep_empty=True))
    if not frames:
        return {}
    counted = (
        reduce(DataFrame.unionByName, frames)
        .groupBy("table", "column")
        .agg(F.count("value").alias("values"), F.count_distinct("value").alias("distinct"))
        .orderBy("table", "column")
        .collect()
    )
    keys: dict[str, str] = {}
    for row in counted:
        if row["values"] and row["values"] == row["distinct"]:
            keys.setdefault(row["table"], row["column"])
    return keys


def _reference_candidates(tables: Mapping[str, DataFrame], keys: dict[str, str]) -> list[tuple[str, str]]:
    """List every text or integer column except a table's own key: any of them may reference a key."""
    candidates = []
    for name, frame in tables.items():
        for source_field in frame.schema.fields:
            if keys.get(name) != source_field.name and isinstance(source_field.dataType, _KEY_TYPES):
                candidates.append((name, source_field.name))
    return candidates


def _column_values(frame: DataFrame, columns: list[str], table: str, keep_empty: bool = False) -> DataFrame:
    """Return (table, column, value) for the values of ``columns`` as trimmed text, in one scan.

    NULL and empty values are left out unless ``keep_empty`` is set.
    """
    cells = [
        F.struct(F.lit(column).alias("column"), F.trim(F.col(f"`{column}`").cast("string")).alias("value"))
        for column in columns
    ]
    exploded = frame.select(F.lit(table).alias("table"), F.explode(F.array(*cells)).alias("cell"))
    values = exploded.select("table", "cell.column", "cell.value")
    return values if keep_empty else values.where(F.col("value") != "")


def find_relations(tables: Mapping[str, DataFrame], min_share: float = MIN_CONTAINED_SHARE) -> list[Relation]:
    """Find foreign keys in the data: id-like columns whose values are contained in a table's key.

    Every text or integer column is a candidate. It references the key that contains at
    least ``min_share`` of its distinct values. A column of whole numbers must also name the
    key's table (``store_id`` and ``store``). When several keys qualify, a key whose table the
    column names wins, then the larger share. Values are compared as trimmed text. Two Spark
    jobs (keys, then containment) cover all tables, and only counts reach the driver.
    """
    keys = key_columns(tables)
    candidates: dict[str, list[str]] = {}
    for table, column in _reference_candidates(tables, keys):
        candidates.setdefault(table, []).append(column)
    if not keys or not candidates:
        return []
    values = reduce(
        DataFrame.unionByName,
        [_column_values(tables[table], columns, table) for table, columns in candidates.items()],
    ).distinct()
    parents = reduce(
        DataFrame.unionByName,
        [
            _column_values(tables[table], [key], table).select(F.col("table").alias("parent"), "value")
            for table, key in keys.items()
        ],
    )
    # Rows with a NULL parent carry each column's count of distinct values, and of those that
    # are whole numbers.
    totals = values.groupBy("table", "column").agg(
        F.lit(None).cast("string").alias("parent"),
        F.count(F.lit(1)).alias("count"),
        F.count_if(F.col("value").rlike(r"^[0-9]+$")).alias("integers"),
    )
    matches = (
        values.join(parents, "value")
        .groupBy("table", "column", "parent")
        .agg(F.count(F.lit(1)).alias("count"), F.lit(0).cast("bigint").alias("integers"))
    )
    counted = totals.unionByName(matches).collect()
    distinct_values = {(row["table"], row["column"]): row for row in counted if row["parent"] is None}
    best: dict[tuple[str, str], Relation] = {}
    for row in counted:
        child, column, parent = row["table"], row["column"], row["parent"]
        if parent is None:
            continue
        total = distinct_values[(child, column)]
        share = row["count"] / total["count"]
        named = names_table(column, parent)
        # Small whole numbers fit the key of almost any table with integer ids, so containment
        # alone proves nothing for them: the column must also name the table.
        if share < min_share or (not named and total["integers"] == total["count"]):
            continue
        found = Relation(child, column, parent, keys[parent], share=round(share, 4), named=named)
        current = best.get((child, column))
        if current is None or _rank(found) > _rank(current):
            best[(child, column)] = found
    return sorted(best.values(), key=lambda relation: (relation.child, relation.column))


def _rank(relation: Relation) -> tuple[bool, float, str]:
    # The parent name breaks ties so that the choice does not depend on row order.
    return relation.named, relation.share or 0.0, relation.parent
