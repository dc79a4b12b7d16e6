"""Before and after histograms of shifted dates and generalized numbers.

Bins are counted by Spark; only the counts of each bin reach the driver.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from matplotlib.figure import Figure
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from engine.config.model import Config
from engine.design.plans import Measure, compile_for, measures
from engine.keys import MasterKey

DEFAULT_BINS = 20
_COLUMNS_PER_ROW = 2


@dataclass(frozen=True)
class Histogram:
    """Counts per bin of one column before and after its rule, over the same bin edges."""

    table: str
    column: str
    kind: str
    edges: list[float]
    before: list[int]
    after: list[int]


def histograms(
    config: Config, tables: Mapping[str, DataFrame], key: MasterKey, table: str, bins: int = DEFAULT_BINS
) -> list[Histogram]:
    """Count values per bin for every date-shifted and number-generalized column of ``table``."""
    if table not in tables:
        raise ValueError(f"table '{table}' is not among the tables given")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    frame = tables[table]
    plan = compile_for(config, table, frame, key)
    outputs = dict(plan.columns)
    return [
        _histogram(table, plan.with_keys(frame), measure, outputs[measure.column], bins)
        for measure in measures(plan, frame.schema)
        if measure.kind != "text"
    ]


def _histogram(table: str, keyed: DataFrame, measure: Measure, output: Column, bins: int) -> Histogram:
    """Count the values of one column per bin; ``keyed`` carries the key columns of the plan."""
    before = measure.view(F.col(f"`{measure.column}`"))
    # Aggregates reject non-deterministic expressions such as the Unicode normalization inside
    # pseudonyms and date shifts, so values are projected before they are aggregated.
    values = keyed.select(before.alias("before"), measure.view(output).alias("after"))
    bounds = values.agg(
        F.least(F.min("before"), F.min("after")).alias("low"),
        F.greatest(F.max("before"), F.max("after")).alias("high"),
    ).first()
    assert bounds is not None
    low, high = bounds["low"], bounds["high"]
    if low is None or high is None:
        return Histogram(table, measure.column, measure.kind, [], [], [])
    low, high = float(low), float(high)
    width = (high - low) / bins if high > low else 1.0
    edges = [low + width * index for index in range(bins + 1)]
    counts = {"before": [0] * bins, "after": [0] * bins}
    long = values.select(F.lit("before").alias("side"), F.col("before").alias("value")).unionByName(
        values.select(F.lit("after").alias("side"), F.col("after").alias("value"))
    )
    position = F.floor((F.col("value") - F.lit(low)) / F.lit(width)).cast("int")
    # The maximum lands on the upper edge; it belongs to the last bin.
    index = F.least(position, F.lit(bins - 1)).alias("bin")
    for row in long.where(F.col("value").isNotNull()).groupBy("side", index).count().collect():
        counts[row["side"]][int(row["bin"])] = int(row["count"])
    return Histogram(table, measure.column, measure.kind, edges, counts["before"], counts["after"])


def plot_distributions(
    config: Config, tables: Mapping[str, DataFrame], key: MasterKey, table: str, bins: int = DEFAULT_BINS
) -> Figure:
    """Draw before and after histograms of the shifted and generalized columns of ``table``.

    The figure is built without pyplot, so it
    leaves no global state behind; a notebook displays it when it is a cell's last value.
    """
    found = [item for item in histograms(config, tables, key, table, bins) if item.edges]
    rows = max(1, math.ceil(len(found) / _COLUMNS_PER_ROW))
    figure = Figure(figsize=(6 * _COLUMNS_PER_ROW, 3 * rows), layout="constrained")
    if not found:
        axes = figure.add_subplot(1, 1, 1)
        axes.set_axis_off()
        axes.text(
            0.5, 0.5, f"table '{table}' has no shifted date or generalized number", ha="center", va="center"
        )
        return figure
    for position, item in enumerate(found, start=1):
        axes = figure.add_subplot(rows, _COLUMNS_PER_ROW, position)
        widths = [right - left for left, right in zip(item.edges[:-1], item.edges[1:], strict=True)]
        axes.bar(item.edges[:-1], item.before, width=widths, align="edge", alpha=0.5, label="before")
        axes.bar(item.edges[:-1], item.after, width=widths, align="edge", alpha=0.5, label="after")
        axes.set_title(f"{item.table}.{item.column}")
        if item.kind == "date":
            # Matplotlib reads date axes as days since 1970-01-01 too, so only the labels change.
            axes.xaxis_date()
            axes.set_xlabel("date")
        else:
            axes.set_xlabel("value")
        axes.set_ylabel("rows")
        axes.legend()
    return figure
