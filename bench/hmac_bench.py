"""Time HMAC-SHA256 pseudonyms on three text columns against a plain copy, in one Spark session.

Usage::

    python bench/hmac_bench.py --rows 10000000 [--out results.json] [--variants copy,hmac,...]

The script writes one Delta table of N rows with three string columns, built from
``spark.range`` with Spark built-ins (12 to 23 characters per value). Each variant then reads
that table and writes a new Delta table. The ``*_noop`` variants run the same query into
Spark's ``noop`` sink instead, which writes nothing:

``copy``, ``copy_noop``
    the three columns unchanged.
``hmac``, ``hmac_noop``
    ``engine.pseudonym.hmac_sha256_hex`` in its Spark built-in form (sha2, concat, unhex) with a
    fixed 32-byte key on each column: the HMAC core alone, with the padded keys as literals.
``hmac_java``, ``hmac_java_noop``
    the same HMAC through the engine's JVM function (engine/java), which the engine uses
    whenever the session has it.
``rule_plain``
    the engine's pseudonymize rule, compiled by ``engine.compile.compile_table``, in a domain
    with ``normalize: none`` and ``trim: false``: the HMAC core as the engine runs it (keys
    from the engine's key handling, output cut to 128 bits) without the canonical form.
``rule``
    the same rule in a default domain, which adds Unicode NFC and whitespace trimming.
``pandas_udf``
    a pandas UDF calling ``hmac.new(key, value, hashlib.sha256).hexdigest()`` per value.

Every variant first runs once on 20,000 rows so that JVM start and code generation are not
counted. The printed table gives seconds, rows per second and the ratio to ``copy``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402 - after the path set-up above
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from bench.run import BENCH_KEY_MATERIAL, machine_description, source_state  # noqa: E402
from engine.compile import compile_table  # noqa: E402
from engine.config import config_from_text  # noqa: E402
from engine.keys import MasterKey, fingerprint  # noqa: E402
import engine.jvm  # noqa: E402
from engine.pseudonym import hmac_sha256_hex  # noqa: E402
from engine.session import get_session  # noqa: E402

COLUMNS = ("email", "name", "reference")
DEFAULT_VARIANTS = ("copy", "copy_noop", "hmac", "hmac_noop", "hmac_java", "hmac_java_noop", "rule_plain",
                    "rule", "pandas_udf")
VARIANTS = DEFAULT_VARIANTS
WARM_UP_ROWS = 20_000
ROWS_PER_FILE = 1_000_000
# The fixed 32-byte key of the ``hmac``, ``pandas_udf`` and ``hmac_java`` variants. It protects nothing.
HMAC_KEY = hashlib.sha256(b"anon-engine hmac benchmark key").digest()

RULES = """
version: 1
name: hmac-bench
key: {env: ANON_BENCH_KEY}
source: {format: delta, path: unused}
target: {path: unused}
domains:
  plain: {normalize: none, trim: false}
  default: {}
tables:
  plain:
    columns: {email: {pseudonymize: {domain: plain}}, name: {pseudonymize: {domain: plain}},
              reference: {pseudonymize: {domain: plain}}}
  default:
    columns: {email: {pseudonymize: {domain: default}}, name: {pseudonymize: {domain: default}},
              reference: {pseudonymize: {domain: default}}}
"""


def build_table(spark: SparkSession, rows: int) -> DataFrame:
    """Return ``rows`` rows of three text columns computed from the row number only."""
    n = F.col("id")
    partitions = max(2, -(-rows // ROWS_PER_FILE))
    return spark.range(0, rows, 1, partitions).select(
        F.concat(F.lit("user"), n.cast("string"), F.lit("@example.org")).alias("email"),
        F.concat(F.lit("Name "), F.substring(F.sha1(n.cast("string")), 1, 8)).alias("name"),
        F.lpad(F.conv(F.pmod(F.xxhash64(n), F.lit(2**62)).cast("string"), 10, 36), 12, "0").alias("reference"),
    )


def hmac_columns(frame: DataFrame, key: MasterKey) -> DataFrame:
    return frame.select(*[hmac_sha256_hex(HMAC_KEY, F.col(name), jvm=False).alias(name) for name in COLUMNS])


def rule_columns(table: str) -> Callable[[DataFrame, MasterKey], DataFrame]:
    config = config_from_text(RULES, "<hmac bench rules>")

    def apply(frame: DataFrame, key: MasterKey) -> DataFrame:
        plan = compile_table(config.tables[table], frame.schema, config, key)
        return plan.apply(frame)

    return apply


def pandas_columns(frame: DataFrame, key: MasterKey) -> DataFrame:
    secret = HMAC_KEY

    def pseudonymize(values: pd.Series) -> pd.Series:
        return pd.Series([
            None if value is None else hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()
            for value in values.tolist()
        ], dtype="object")

    udf = F.pandas_udf(pseudonymize, "string")
    return frame.select(*[udf(F.col(name)).alias(name) for name in COLUMNS])


def java_udf_columns(frame: DataFrame, key: MasterKey) -> DataFrame:
    return frame.select(*[hmac_sha256_hex(HMAC_KEY, F.col(name), jvm=True).alias(name) for name in COLUMNS])


TRANSFORMS: dict[str, Callable[[DataFrame, MasterKey], DataFrame]] = {
    "copy": lambda frame, key: frame,
    "hmac": hmac_columns,
    "rule_plain": rule_columns("plain"),
    "rule": rule_columns("default"),
    "pandas_udf": pandas_columns,
    "hmac_java": java_udf_columns,
}


def run_variant(spark: SparkSession, variant: str, source: str, target: str, key: MasterKey) -> float:
    """Return the wall seconds of one variant, from reading ``source`` to the end of the write."""
    transform = TRANSFORMS[variant.removesuffix("_noop")]
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    output = transform(spark.read.format("delta").load(source), key)
    if variant.endswith("_noop"):
        output.write.format("noop").mode("overwrite").save()
    else:
        output.write.format("delta").mode("overwrite").save(target)
    seconds = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    return seconds


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time HMAC-SHA256 on three text columns against a plain Delta copy.")
    parser.add_argument("--rows", type=int, required=True, help="rows of the generated table")
    parser.add_argument("--out", help="write the results to this JSON file")
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help=f"comma-separated variants to run, from {', '.join(VARIANTS)} "
                        f"(default: {','.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--master", default="local[*]", help="Spark master URL (default: local[*])")
    parser.add_argument("--driver-memory", default="4g", help="driver JVM heap, as spark.driver.memory (default: 4g)")
    parser.add_argument("--work", help="folder for the generated table and outputs (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error(f"--rows must be at least 1, got {args.rows}")
    args.variant_list = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in args.variant_list if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    work_root = args.work or tempfile.mkdtemp(prefix="anon-hmac-bench-")
    options = {"spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false"}
    spark = get_session("anon-engine hmac benchmark", master=args.master, extra=options)
    spark.sparkContext.setLogLevel("ERROR")
    if any(name.startswith("hmac_java") for name in args.variant_list) and not engine.jvm.ready():
        raise SystemExit("the engine's HMAC jar is missing (no javac?): run python -m engine.jvm")
    key = MasterKey(BENCH_KEY_MATERIAL, fingerprint(BENCH_KEY_MATERIAL))
    document: dict[str, Any] = {
        "command": " ".join(["python", "bench/hmac_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_description(spark),
        "source": source_state(),
        "rows": args.rows,
        "variants": {},
    }
    try:
        for rows, folder in ((WARM_UP_ROWS, "warm-up"), (args.rows, "data")):
            source = os.path.join(work_root, folder, "source")
            build_table(spark, rows).write.format("delta").mode("overwrite").save(source)
            # Lists the files so that the Delta snapshot is computed and cached before timing.
            spark.read.format("delta").load(source).inputFiles()
            for variant in args.variant_list:
                load_before = os.getloadavg()
                seconds = run_variant(spark, variant, source, os.path.join(work_root, folder, variant), key)
                if folder == "data":
                    document["variants"][variant] = {
                        "seconds": round(seconds, 3),
                        "rows_per_second": round(rows / seconds),
                        "microseconds_per_value": round(seconds * 1e6 / (rows * len(COLUMNS)), 3),
                        "load_average_before": [round(value, 2) for value in load_before],
                        "load_average_after": [round(value, 2) for value in os.getloadavg()],
                    }
                    print(f"  {variant:<12}{seconds:>9.1f} s  (load {load_before[0]:.2f})", flush=True)
            if folder == "warm-up":
                print(f"warm-up done; timing {args.rows:,} rows x {len(COLUMNS)} columns", flush=True)
    finally:
        spark.stop()
        if not args.work:
            shutil.rmtree(work_root, ignore_errors=True)
    print_results(document)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        print(f"results written to {args.out}")
    return 0


def print_results(document: dict[str, Any]) -> None:
    results = document["variants"]
    baselines = {"": results.get("copy"), "_noop": results.get("copy_noop")}
    print(f"\n{document['rows']:,} rows x {len(COLUMNS)} text columns")
    print(f"{'variant':<12}{'seconds':>9}{'rows/s':>12}{'µs/value':>10}{'x copy':>8}")
    for variant, result in results.items():
        baseline = baselines["_noop" if variant.endswith("_noop") else ""]
        ratio = result["seconds"] / baseline["seconds"] if baseline else float("nan")
        result["ratio_to_copy"] = round(ratio, 3)
        print(f"{variant:<12}{result['seconds']:>9.1f}{result['rows_per_second']:>12,}"
              f"{result['microseconds_per_value']:>10.3f}{ratio:>8.2f}")
    print("(x copy: to copy for Delta outputs, to copy_noop for noop outputs)")


if __name__ == "__main__":
    sys.exit(main())
