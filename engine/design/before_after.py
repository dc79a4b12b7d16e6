"""Before and after values of a few sampled rows, side by side, for one table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from engine.config.model import Config
from engine.design.html import Cell, render_table
from engine.design.plans import compile_for, describe_rule
from engine.keys import MasterKey


@dataclass(frozen=True)
class Preview:
    """Sampled rows of one table before and after anonymization, aligned row by row.

    ``before[i][j]`` and ``after[i][j]`` are row ``i``, column ``columns[j]``, and ``after``
    contains None for a dropped column. Build one from sample data only: it contains real values.
    """

    table: str
    columns: list[str]
    rules: list[str]
    dropped: list[bool]
    before: list[tuple[object, ...]]
    after: list[tuple[object, ...]]

    def _repr_html_(self) -> str:
        first = ["#"]
        second = [""]
        for name, rule, dropped in zip(self.columns, self.rules, self.dropped, strict=True):
            first.append(Cell(name, colspan=2))
            second.extend([Cell("before"), Cell("dropped" if dropped else f"after: {rule}")])
        rows = []
        for index, (before, after) in enumerate(zip(self.before, self.after, strict=True), start=1):
            cells: list[object] = [index]
            for position, dropped in enumerate(self.dropped):
                old, new = before[position], after[position]
                cells.append(Cell(old))
                if dropped:
                    cells.append(Cell("", "null"))
                else:
                    cells.append(Cell(new, "" if new == old else "changed"))
            rows.append(cells)
        caption = f"{self.table}: {len(rows)} sampled row(s), before and after"
        return render_table([first, second], rows, caption=caption)


def preview(
    config: Config, tables: Mapping[str, DataFrame], key: MasterKey, table: str, rows: int = 5
) -> Preview:
    """Anonymize ``rows`` rows of ``tables[table]`` with ``config`` and pair them with the originals.

    Before and after values come from one select over the same rows, so they always line up.
    Rows are ordered by a hash of their values, so a preview repeats across runs.
    """
    if table not in tables:
        raise ValueError(f"table '{table}' is not among the tables given")
    frame = tables[table]
    plan = compile_for(config, table, frame, key)
    outputs = dict(plan.columns)
    names = list(frame.columns)
    selected = []
    # Positions of each column's before and after value in a collected row (None: dropped).
    positions: list[tuple[int, int | None]] = []
    for index, name in enumerate(names):
        before_position = len(selected)
        selected.append(F.col(f"`{name}`").alias(f"before_{index}"))
        after_position = None
        if name in outputs:
            after_position = len(selected)
            selected.append(outputs[name].alias(f"after_{index}"))
        positions.append((before_position, after_position))
    order = F.xxhash64(*[F.col(f"`{name}`") for name in names])
    # Key columns join after the limit, so they never enter the sort.
    chosen = plan.with_keys(frame.orderBy(order).limit(rows))
    collected = chosen.select(*selected).collect()
    before = [tuple(row[old] for old, _ in positions) for row in collected]
    after = [tuple(None if new is None else row[new] for _, new in positions) for row in collected]
    return Preview(
        table=table,
        columns=names,
        rules=[describe_rule(plan.table.rule_for(name)) for name in names],
        dropped=[name not in outputs for name in names],
        before=before,
        after=after,
    )
