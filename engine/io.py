"""Source readers (csv, parquet, delta, catalog table) and the Delta writer."""

from __future__ import annotations

import json
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config.model import SourceSpec, TargetSpec, Where
from engine.config.validate import CSV_DEFAULTS

# Name of the column where Spark puts the raw text of a CSV row it could not parse.
CORRUPT_COLUMN = "_anon_corrupt_record"
FILE_COLUMN = "_anon_source_file"


# Spark and Delta error conditions that mean the source path or table is not there.
_NOT_FOUND_CONDITIONS = {"PATH_NOT_FOUND", "TABLE_OR_VIEW_NOT_FOUND", "DELTA_TABLE_NOT_FOUND"}


class SourceError(ValueError):
    """A source that cannot be read as a table, with a problem code, the fix and the rule file place."""

    def __init__(self, code: str, message: str, fix: str, where: Where) -> None:
        super().__init__(message)
        self.code = code
        self.fix = fix
        self.where = where


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
    """Read one source lazily. CSV columns are strings unless the config declares a type.

    Raises SourceError when the source is missing, a declared type is invalid, or a CSV file
    has no header row or repeats a column name in it.
    """
    try:
        if spec.format == "csv":
            return _read_csv(spark, spec)
        if spec.format == "table":
            frame = spark.read.options(**spec.options).table(str(spec.table))
        else:
            frame = spark.read.format(spec.format).options(**spec.options).load(str(spec.path))
    except AnalysisException as exc:
        if exc.getCondition() not in _NOT_FOUND_CONDITIONS:
            raise
        raise _not_found(spec, exc.getCondition()) from None
    return Source(frame, frame.schema, checks_corrupt_rows=False)


def _not_found(spec: SourceSpec, condition: str | None) -> SourceError:
    if spec.format == "table":
        return SourceError("SOURCE_NOT_FOUND", f"source table {spec.table} does not exist",
                           "create the table, correct 'source' (table or database), or remove the table "
                           "from the config", spec.where)
    if condition == "DELTA_TABLE_NOT_FOUND":
        message = f"source path {spec.path} contains no Delta table"
    else:
        message = f"source path {spec.path} does not exist"
    return SourceError("SOURCE_NOT_FOUND", message,
                       "correct 'source.path' (or --source-root), or remove the table from the config",
                       spec.where)


def _read_csv(spark: SparkSession, spec: SourceSpec) -> Source:
    options = csv_options(spec)
    declared = {name.lower(): _declared_type(spec, name) for name in spec.types}
    # Reading only the header row gives the column names; no type inference, which would
    # turn '007' into 7 and read the whole file.
    header = spark.read.options(**options).option("inferSchema", "false").csv(str(spec.path)).schema
    if not header.fields:
        raise SourceError("SOURCE_EMPTY", f"CSV source {spec.path} is empty, so it has no header row "
                          "with column names",
                          "write the header row and the data into the file, or remove the table from the config",
                          spec.where)
    if options.get("header", "").lower() == "true":
        _check_unique_header(spark, spec, options, header)
    fields = [
        T.StructField(f.name, declared.get(f.name.lower(), T.StringType()), True)
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


def _declared_type(spec: SourceSpec, column: str) -> T.DataType:
    """Parse the type declared for ``column`` under 'types', or raise SourceError naming it."""
    text = spec.types[column]
    where = spec.type_places.get(column, spec.where)
    try:
        dtype = T._parse_datatype_string(text)
    except AnalysisException:  # pyspark's ParseException is an AnalysisException
        dtype = None
    # An empty text parses as an empty struct, which no CSV field can hold.
    if dtype is None or dtype == T.StructType([]):
        raise SourceError("TYPE_INVALID", f"'{text}' declared for column '{column}' is not a Spark SQL type",
                          "use a Spark SQL type such as string, int, bigint, double, date, timestamp or "
                          "'decimal(12,2)'", where)
    return dtype


def _check_unique_header(spark: SparkSession, spec: SourceSpec, options: dict[str, str],
                         header: T.StructType) -> None:
    """Raise SourceError if the CSV header repeats a column name.

    Spark renames a repeated name by appending the column's index (name, Name -> name1, Name2),
    so the rules would silently miss it. Only when two names end in their own index are the
    header cells read, with header=false, to tell renamed copies from names such as q1, q2.
    """
    stems: dict[str, int] = {}
    for index, column in enumerate(header.fields):
        suffix = str(index)
        if column.name.endswith(suffix) and len(column.name) > len(suffix):
            stem = column.name[: -len(suffix)].lower()
            stems[stem] = stems.get(stem, 0) + 1
    if all(count < 2 for count in stems.values()):
        return
    first = spark.read.options(**options).option("header", "false").csv(str(spec.path)).first()
    if first is None:
        return
    case_sensitive = spark.conf.get("spark.sql.caseSensitive", "false").lower() == "true"
    seen: set[str] = set()
    repeated: list[str] = []
    for cell in first:
        if cell is None:
            continue
        name = cell if case_sensitive else cell.lower()
        if name in seen and cell not in repeated:
            repeated.append(cell)
        seen.add(name)
    if repeated:
        names = ", ".join(f"'{name}'" for name in repeated)
        raise SourceError("DUPLICATE_COLUMN", f"the header row of CSV source {spec.path} repeats the column "
                          f"name(s) {names}, which Spark renames by appending the column number",
                          "give every column a unique name in the header row; names are compared "
                          "case-insensitively", spec.where)


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


def target_exists(spark: SparkSession, target: TargetSpec) -> bool:
    """Return whether the target exists: a catalog table, or anything at a target path."""
    if target.table:
        return bool(spark.catalog.tableExists(target.table))
    return path_exists(spark, target)


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
