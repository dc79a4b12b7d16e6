"""Source readers (csv, parquet, delta, catalog table) and the Delta writer."""

from __future__ import annotations

import json
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config.model import SourceSpec, TargetSpec
from engine.config.validate import CSV_DEFAULTS

# Name of the column where Spark puts the raw text of a CSV row it could not parse.
CORRUPT_COLUMN = "_anon_corrupt_record"
FILE_COLUMN = "_anon_source_file"


@dataclass
class Source:
    """A source DataFrame, its data schema, and whether it carries the corrupt-row column."""

    frame: DataFrame
    schema: T.StructType
    checks_corrupt_rows: bool

    @property
    def data(self) -> DataFrame:
        """The source without the engine's helper columns."""
        return self.frame.select(*[F.col(f"`{f.name}`") for f in self.schema.fields])


def csv_options(spec: SourceSpec) -> dict[str, str]:
    options = dict(CSV_DEFAULTS)
    options.update(spec.options)
    return options


def read_source(spark: SparkSession, spec: SourceSpec) -> Source:
    """Read one source lazily. CSV columns are strings unless the config declares a type."""
    if spec.format == "csv":
        return _read_csv(spark, spec)
    if spec.format == "table":
        frame = spark.read.options(**spec.options).table(str(spec.table))
    else:
        frame = spark.read.format(spec.format).options(**spec.options).load(str(spec.path))
    return Source(frame, frame.schema, checks_corrupt_rows=False)


def _read_csv(spark: SparkSession, spec: SourceSpec) -> Source:
    options = csv_options(spec)
    # Reading only the header row gives the column names; no type inference, which would
    # turn '007' into 7 and read the whole file.
    header = spark.read.options(**options).option("inferSchema", "false").csv(str(spec.path)).schema
    declared = {name.lower(): kind for name, kind in spec.types.items()}
    fields = [
        T.StructField(f.name, _parse_type(declared.get(f.name.lower(), "string")), True)
        for f in header.fields
    ]
    schema = T.StructType(fields)
    with_corrupt = T.StructType(fields + [T.StructField(CORRUPT_COLUMN, T.StringType(), True)])
    frame = (
        spark.read.options(**options)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
        .schema(with_corrupt)
        .csv(str(spec.path))
    )
    return Source(frame, schema, checks_corrupt_rows=True)


def _parse_type(name: str) -> T.DataType:
    return T._parse_datatype_string(name)


def current_version(spark: SparkSession, target: TargetSpec) -> int | None:
    """Return the latest version of the target Delta table, or None if it does not exist yet."""
    table = _delta_table(spark, target)
    if table is None:
        return None
    return int(table.history(1).select("version").first()[0])


def _delta_table(spark: SparkSession, target: TargetSpec) -> DeltaTable | None:
    if target.table:
        if not spark.catalog.tableExists(target.table):
            return None
        return DeltaTable.forName(spark, target.table)
    if not DeltaTable.isDeltaTable(spark, str(target.path)):
        return None
    return DeltaTable.forPath(spark, str(target.path))


def write_delta(frame: DataFrame, target: TargetSpec, metadata: dict[str, str]) -> int:
    """Write ``frame`` to the target in one Delta commit and return the version written."""
    writer = (
        frame.write.format("delta")
        .mode("errorifexists" if target.mode == "error" else target.mode)
        .option("userMetadata", json.dumps(metadata, sort_keys=True))
    )
    if target.mode == "overwrite":
        # An anonymized copy follows its rules: a rule change (say, drop) changes the schema.
        writer = writer.option("overwriteSchema", "true")
    if target.table:
        writer.saveAsTable(target.table)
    else:
        writer.save(str(target.path))
    version = current_version(frame.sparkSession, target)
    assert version is not None, "the table exists after a successful write"
    return version


def _filesystem_path(spark: SparkSession, path: str):  # noqa: ANN202 - a py4j object
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - Hadoop FileSystem is only reachable here
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def path_exists(spark: SparkSession, target: TargetSpec) -> bool:
    """Return whether a path target exists (as anything); catalog targets return False."""
    if target.table:
        return False
    filesystem, hadoop_path = _filesystem_path(spark, str(target.path))
    return bool(filesystem.exists(hadoop_path))


def remove_leftovers(spark: SparkSession, target: TargetSpec) -> None:
    """Remove what a failed first write left at a path that did not exist before the run."""
    if target.table or _delta_table(spark, target) is not None:
        return
    filesystem, hadoop_path = _filesystem_path(spark, str(target.path))
    filesystem.delete(hadoop_path, True)


def roll_back(spark: SparkSession, target: TargetSpec, previous: int | None) -> None:
    """Undo this run's commit: restore the previous version, or remove a table it created."""
    if previous is not None:
        table = _delta_table(spark, target)
        if table is not None:
            table.restoreToVersion(previous)
        return
    if target.table:
        spark.sql(f"DROP TABLE IF EXISTS {target.table}")
        return
    filesystem, hadoop_path = _filesystem_path(spark, str(target.path))
    filesystem.delete(hadoop_path, True)
