"""Reproducible samples that stay closed under foreign keys.

``sample`` picks N entities of a root table and takes every row that depends on them: their
children, grandchildren and so on. It then adds every row that those rows reference (parents,
and the parents' parents) until no foreign key in the sample points outside it. Joins therefore
work on the sample as on the full data.

Rows are picked with joins against small sets of key values; only counts reach the driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce

from pyspark.sql import Column, DataFrame, Observation
from pyspark.sql import functions as F

from engine.design.html import render_table
from engine.design.relations import Relation, check_relations

# Rounds of the parent closure before giving up. Each round follows references one step up, and
# a cycle of foreign keys (Pagila's store <-> staff) needs one round per step along a chain of rows.
MAX_ROUNDS = 100
_VALUE = "__design_value"


@dataclass
class Sample(Mapping[str, DataFrame]):
    """The sampled tables by name, with their row counts and how they were drawn."""

    tables: dict[str, DataFrame]
    counts: dict[str, int]
    root: str
    size: int
    seed: int
    relations: list[Relation] = field(default_factory=list)
    rounds: int = 0

    def __getitem__(self, name: str) -> DataFrame:
        return self.tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def _repr_html_(self) -> str:
        rows = [[name, f"{self.counts[name]:,}"] for name in self.tables]
        caption = (
            f"Sample of {self.size} '{self.root}' entities (seed {self.seed}), closed under "
            f"{len(self.relations)} foreign key(s)"
        )
        return render_table([["table", "rows"]], rows, caption=caption)


def _text(frame: DataFrame, column: str) -> Column:
    return frame[f"`{column}`"].cast("string")


def _values(frame: DataFrame, column: str) -> DataFrame:
    """Return the non-NULL values of ``column`` as text, in a column named by ``_VALUE``."""
    value = F.col(f"`{column}`").cast("string")
    return frame.select(value.alias(_VALUE)).where(F.col(_VALUE).isNotNull())


def _rows_matching(frame: DataFrame, key_sets: dict[str, list[DataFrame]]) -> DataFrame:
    """Return the rows of ``frame`` whose value in any listed column is in that column's key sets."""
    flags = []
    result = frame
    for index, (column, sets) in enumerate(sorted(key_sets.items())):
        marker = f"__design_match_{index}"
        # One distinct over the union: a shuffle per set would cost more than the sets weigh.
        values = reduce(DataFrame.union, sets).distinct().withColumn(marker, F.lit(True))
        result = result.join(values, _text(result, column) == values[_VALUE], "left")
        result = result.drop(values[_VALUE])
        flags.append(F.coalesce(F.col(marker), F.lit(False)))
    if not flags:
        return frame.limit(0)
    matched = result.where(reduce(Column.__or__, flags))
    return matched.select(*[matched[f"`{name}`"] for name in frame.columns])


def _materialize(frame: DataFrame) -> tuple[DataFrame, int]:
    """Store ``frame`` on the executors and count its rows, in one Spark job."""
    # A local checkpoint keeps the small result on the executors and cuts its lineage, so the
    # closure rounds do not rebuild a growing plan from the sources each time. The observation
    # counts rows during that same job.
    counted = Observation()
    stored = frame.observe(counted, F.count(F.lit(1)).alias("rows")).localCheckpoint(eager=True)
    return stored, int(counted.get["rows"])


def _root_keys(frame: DataFrame, key: str, size: int, seed: int) -> DataFrame:
    """Pick ``size`` distinct keys by a seeded hash: the same keys however the data is split."""
    values = _values(frame, key).distinct()
    order = F.xxhash64(F.lit(seed), F.col(_VALUE))
    # The value itself breaks hash ties, so the order is total.
    return values.orderBy(order, F.col(_VALUE)).limit(size)


def _root_key(root: str, key: str | None, relations: Sequence[Relation]) -> str:
    if key is not None:
        return key
    keys = sorted({relation.key for relation in relations if relation.parent == root})
    if len(keys) != 1:
        found = ", ".join(keys) or "none"
        raise ValueError(
            f"cannot tell the key of root table '{root}' from the relations (keys "
            f"referenced: {found}); pass key='<column>'"
        )
    return keys[0]


def _descendants(root: str, relations: Sequence[Relation]) -> list[str]:
    """Return the tables that depend on ``root`` through foreign keys, parents before children."""
    reached = {root}
    frontier = [root]
    while frontier:
        frontier = sorted({r.child for r in relations if r.parent in frontier and r.child not in reached})
        reached.update(frontier)
    reached.discard(root)
    order: list[str] = []
    pending = sorted(reached)
    # Kahn's order inside the descendants. Tables left on a cycle keep name order, and the
    # fixed-point loop in _take_descendants revisits them.
    while pending:
        ready = [
            t
            for t in pending
            if not any(r.child == t and r.parent in pending and r.parent != t for r in relations)
        ]
        chosen = ready or pending[:1]
        order.extend(chosen)
        pending = [t for t in pending if t not in chosen]
    return order


def sample(
    tables: Mapping[str, DataFrame],
    root: str,
    size: int = 10,
    seed: int = 0,
    relations: Sequence[Relation] = (),
    key: str | None = None,
) -> Sample:
    """Draw ``size`` entities of ``root`` and every row linked to them, closed under foreign keys.

    ``relations`` are the foreign keys to follow: pass ``find_relations(tables)`` (found in
    the data), ``relations_from_config(config)`` (declared by a config) or your own. ``key``
    is the root's key column; by default it is the key the relations reference. Tables that
    are neither linked to the root nor referenced get ``size`` rows of their own, picked by the
    same seeded hash. The same seed gives the same rows whatever the partitioning.
    """
    if root not in tables:
        raise ValueError(f"root table '{root}' is not among the tables given")
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    check_relations(tables, relations)
    root_key = _root_key(root, key, relations)
    if root_key not in tables[root].columns:
        raise ValueError(f"root table '{root}' has no column '{root_key}'")
    # key_sets[table][column] lists frames of values. A row whose column has one of them is selected.
    key_sets: dict[str, dict[str, list[DataFrame]]] = {name: {} for name in tables}
    key_sets[root][root_key] = [_root_keys(tables[root], root_key, size, seed)]
    selected: dict[str, DataFrame] = {}
    counts: dict[str, int] = {}
    selected[root], counts[root] = _materialize(_rows_matching(tables[root], key_sets[root]))
    _take_descendants(tables, relations, root, key_sets, selected, counts)
    parents = {relation.parent for relation in relations}
    for name in tables:
        if name not in selected and name not in parents:
            selected[name], counts[name] = _materialize(_own_rows(tables[name], size, seed))
    rounds = _close_over_parents(tables, relations, key_sets, selected, counts)
    return Sample(
        {name: selected.get(name, tables[name].limit(0)) for name in tables},
        {name: counts.get(name, 0) for name in tables},
        root,
        size,
        seed,
        list(relations),
        rounds,
    )


def _take_descendants(
    tables: Mapping[str, DataFrame],
    relations: Sequence[Relation],
    root: str,
    key_sets: dict[str, dict[str, list[DataFrame]]],
    selected: dict[str, DataFrame],
    counts: dict[str, int],
) -> None:
    """Select the rows of every table below ``root`` that reference rows already selected."""
    order = _descendants(root, relations)
    down = set(order) | {root}
    for _ in range(MAX_ROUNDS):
        changed = False
        for name in order:
            # Rebuilt on every pass: a parent on a cycle may have grown since the last one.
            columns: dict[str, list[DataFrame]] = {}
            for relation in relations:
                if relation.child == name and relation.parent in down and relation.parent in selected:
                    keys = _values(selected[relation.parent], relation.key)
                    columns.setdefault(relation.column, []).append(keys)
            key_sets[name] = columns
            rows, count = _materialize(_rows_matching(tables[name], columns))
            changed = changed or count != counts.get(name)
            selected[name], counts[name] = rows, count
        # Without a cycle among the descendants, parents come first and one pass suffices.
        if not changed or not _has_cycle(order, relations):
            return
    raise RuntimeError(f"the descendants of '{root}' did not settle in {MAX_ROUNDS} rounds")


def _has_cycle(order: list[str], relations: Sequence[Relation]) -> bool:
    position = {name: index for index, name in enumerate(order)}
    return any(
        r.child in position and r.parent in position and position[r.parent] >= position[r.child]
        for r in relations
    )


def _own_rows(frame: DataFrame, size: int, seed: int) -> DataFrame:
    """Pick ``size`` rows of an unlinked table by a seeded hash of all their columns."""
    columns = [frame[f"`{name}`"] for name in frame.columns]
    order = F.xxhash64(F.lit(seed), *columns)
    tie_breakers = [column.cast("string") for column in columns]
    return frame.orderBy(order, *tie_breakers).limit(size)


def _close_over_parents(
    tables: Mapping[str, DataFrame],
    relations: Sequence[Relation],
    key_sets: dict[str, dict[str, list[DataFrame]]],
    selected: dict[str, DataFrame],
    counts: dict[str, int],
) -> int:
    """Add every row that a selected row references, until no new row comes in.

    Returns the number of rounds. Each round revisits only the parents of tables that grew.
    """
    grown = set(selected)
    for round_number in range(1, MAX_ROUNDS + 1):
        to_visit = sorted({r.parent for r in relations if r.child in grown and r.child in selected})
        grown = set()
        for name in to_visit:
            columns = {column: list(sets) for column, sets in key_sets[name].items()}
            for relation in relations:
                if relation.parent == name and relation.child in selected:
                    keys = _values(selected[relation.child], relation.column)
                    columns[relation.key] = columns.get(relation.key, []) + [keys]
            rows, count = _materialize(_rows_matching(tables[name], columns))
            if count != counts.get(name):
                grown.add(name)
            selected[name], counts[name] = rows, count
        if not grown:
            return round_number
    raise RuntimeError(f"the sample did not close over its foreign keys in {MAX_ROUNDS} rounds")
