"""Time ``engine.design.preview`` on 1,000 rows of a 20-column table with 20 rules.

Usage: ``python bench/bench_preview.py [--rows 1000] [--repeat 5]``. The session is warmed up
with one untimed preview first (JVM start, code generation), then the script prints the
seconds of each timed preview and their median. A preview counts the Spark job that selects
the rows and the rendering of its HTML table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyspark.sql import DataFrame, SparkSession  # noqa: E402 - after the path set-up above
from pyspark.sql import functions as F  # noqa: E402

from engine.config import Config, config_from_text  # noqa: E402
from engine.design import key_from_text, preview  # noqa: E402
from engine.keys import MasterKey, new_key_text  # noqa: E402
from engine.session import get_session  # noqa: E402

# Twenty rules that cover every technique a preview may show.
RULES = """
version: 1
name: bench
key: {env: ANON_BENCH_KEY}
source: {format: csv, path: unused}
target: {path: unused}
domains:
  person: {prefix: "P-"}
  account: {type: integer, format: integer, bits: 48}
  email: {case: fold}
  name: {key: false, case: fold}
tables:
  people:
    columns:
      id: {pseudonymize: {domain: person}}
      account: {pseudonymize: {domain: account}}
      first_name: {pseudonymize: {domain: name}}
      last_name: {pseudonymize: {domain: name}}
      email: {pseudonymize: {domain: email}}
      phone: {mask: {keep_last: 2}}
      iban: {mask: {keep_first: 4, keep_last: 2}}
      birth_date: {generalize: {date: year}}
      visit_date: {date_shift: {domain: person, by: id, max_days: 180}}
      visit_time: {date_shift: {domain: person, by: id, max_days: 180, format: "yyyy-MM-dd HH:mm:ss"}}
      zip: {generalize: {prefix: 3}}
      income: {generalize: {bucket: 1000}}
      latitude: {generalize: {round: 1}}
      notes: "null"
      password: drop
      country: {constant: {value: "XX"}}
      city: {sql: {expr: "upper(city)"}}
      gender: keep
      status: keep
      score: keep
"""


def build_table(spark: SparkSession, rows: int) -> DataFrame:
    """Return ``rows`` rows of synthetic people with the 20 columns the rules name."""
    n = F.col("id_number")
    frame = (
        spark.range(rows)
        .withColumnRenamed("id", "id_number")
        .select(
            F.concat(F.lit("person-"), n.cast("string")).alias("id"),
            (n * 7919 + 100000).cast("string").alias("account"),
            F.concat(F.lit("First"), (n % 97).cast("string")).alias("first_name"),
            F.concat(F.lit("Last"), (n % 89).cast("string")).alias("last_name"),
            F.concat(F.lit("user"), n.cast("string"), F.lit("@example.org")).alias("email"),
            F.concat(F.lit("+33 6 "), F.lpad((n * 31 % 100000000).cast("string"), 8, "0")).alias("phone"),
            F.concat(F.lit("FR76"), F.lpad((n * 131).cast("string"), 20, "0")).alias("iban"),
            F.date_format(
                F.date_add(F.lit("1950-01-01").cast("date"), (n * 37 % 20000).cast("int")), "yyyy-MM-dd"
            ).alias("birth_date"),
            F.date_format(
                F.date_add(F.lit("2020-01-01").cast("date"), (n % 700).cast("int")), "yyyy-MM-dd"
            ).alias("visit_date"),
            F.date_format(F.timestamp_seconds(F.lit(1_600_000_000) + n * 3600), "yyyy-MM-dd HH:mm:ss").alias(
                "visit_time"
            ),
            F.lpad((n * 13 % 99999).cast("string"), 5, "0").alias("zip"),
            (n * 1237 % 150000).cast("string").alias("income"),
            (F.lit(43.0) + (n % 1000) / 997).cast("string").alias("latitude"),
            F.concat(F.lit("called on day "), n.cast("string")).alias("notes"),
            F.sha1(n.cast("string")).alias("password"),
            F.lit("FR").alias("country"),
            F.element_at(
                F.array(F.lit("Paris"), F.lit("Lyon"), F.lit("Nantes")), (n % 3 + 1).cast("int")
            ).alias("city"),
            F.when(n % 2 == 0, "F").otherwise("M").alias("gender"),
            F.when(n % 5 == 0, "closed").otherwise("open").alias("status"),
            (n % 100).cast("string").alias("score"),
        )
    )
    # A stored frame, like a design sample, so the timing covers the preview and not the generator.
    return frame.localCheckpoint(eager=True)


def time_preview(config: Config, tables: dict[str, DataFrame], key: MasterKey, rows: int) -> float:
    started = time.perf_counter()
    result = preview(config, tables, key, "people", rows=rows)
    html = result._repr_html_()
    elapsed = time.perf_counter() - started
    assert len(result.before) == rows, "the preview returned fewer rows than requested"
    assert html, "the preview rendered no HTML"
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time a 1,000-row design preview with 20 rules.")
    parser.add_argument("--rows", type=int, default=1000, help="rows previewed (default 1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed previews after the warm-up (default 5)")
    args = parser.parse_args(argv)
    spark = get_session(
        "bench preview",
        master="local[2]",
        extra={"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"},
    )
    spark.sparkContext.setLogLevel("ERROR")
    config = config_from_text(RULES, "<bench rules>")
    tables = {"people": build_table(spark, args.rows)}
    # One throwaway key for the session, as in a notebook; it is never printed.
    key = key_from_text(new_key_text())
    time_preview(config, tables, key, args.rows)
    timings = [time_preview(config, tables, key, args.rows) for _ in range(args.repeat)]
    for index, seconds in enumerate(timings, start=1):
        print(f"preview {index}: {seconds:.3f} s")
    print(f"median preview of {args.rows} rows x 20 rules: {statistics.median(timings):.3f} s (target < 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
