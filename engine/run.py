"""Execute a compiled config: check the input, then write every table to Delta.

Order of work, so that a rejected run writes nothing:
1. read source schemas, check the config against them, compile;
2. one checking job per table (malformed CSV rows, values a rule cannot process), then one job
   for the pseudonym collisions of every key domain where the birthday bound is not negligible;
3. one Delta commit per table. If a later table fails, the tables already written are rolled
   back: restored to their previous version, or removed if this run created them.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from functools import reduce

from py4j.protocol import Py4JError, Py4JJavaError
from pyspark.errors import AnalysisException, PySparkException
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine import __version__
from engine.compile import TablePlan, compile_config
from engine.config.model import Config, Rule, SourceSpec, TableConfig, TargetSpec, Where
from engine.errors import ConfigError, DataRejectedError, Problem
from engine.io import (
    CORRUPT_COLUMN,
    Source,
    SourceError,
    current_version,
    path_exists,
    read_source,
    remove_leftovers,
    roll_back,
    target_exists,
    write_delta,
)
from engine.keys import MasterKey
from engine.techniques import TECHNIQUES

log = logging.getLogger("engine.run")
# How many line numbers a malformed-row message lists per file.
MAX_LINES_SHOWN = 5


@dataclass
class TableReport:
    table: str
    target: str
    rows_in: int
    rows_out: int
    seconds: float
    delta_version: int


@dataclass
class RunReport:
    run_id: str
    config_name: str
    config_sha256: str
    engine_version: str
    key_fingerprint: str
    status: str = "running"
    seconds: float = 0.0
    check_seconds: float = 0.0
    tables: list[TableReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Overrides:
    """Command-line replacements for the config's source and target base folders."""

    source_root: str | None = None
    target_root: str | None = None
    only_tables: tuple[str, ...] = ()


def apply_overrides(config: Config, overrides: Overrides) -> Config:
    """Return ``config`` with its tables' paths re-rooted and filtered as ``overrides`` specifies."""
    tables = {}
    for name, table in config.tables.items():
        if overrides.only_tables and name not in overrides.only_tables:
            continue
        source, target = table.source, table.target
        if overrides.source_root and source.format != "table":
            source = _rerooted_source(source, overrides.source_root, name)
        if overrides.target_root:
            target = TargetSpec(path=f"{overrides.target_root.rstrip('/')}/{name}", table=None,
                                mode=target.mode, where=target.where)
        tables[name] = TableConfig(name, source, target, table.rules, table.quasi_identifiers, table.where)
    return Config(config.name, config.file, config.sha256, config.key, config.domains, tables,
                  config.draft, config.description, config.extras)


def _rerooted_source(source: SourceSpec, root: str, name: str) -> SourceSpec:
    leaf = str(source.path).rstrip("/").rsplit("/", 1)[-1] if source.path else name
    return replace(source, path=f"{root.rstrip('/')}/{leaf}")


def target_label(target: TargetSpec) -> str:
    return target.table or str(target.path)


def commit_metadata(config: Config, key: MasterKey, run_id: str) -> dict[str, str]:
    """Return what every Delta commit of the run records; the key appears only as fingerprint."""
    return {
        "anonymizer": "anon-engine",
        "engine_version": __version__,
        "config_name": config.name,
        "config_sha256": config.sha256,
        "key_fingerprint": key.fingerprint,
        "run_id": run_id,
    }


def read_sources(spark: SparkSession, config: Config) -> dict[str, Source]:
    """Read every table's source lazily; raise ConfigError listing each source that cannot be read."""
    sources: dict[str, Source] = {}
    problems: list[Problem] = []
    for name, table in config.tables.items():
        try:
            sources[name] = read_source(spark, table.source)
        except SourceError as exc:
            problems.append(Problem.at(exc.where, exc.code, f"table '{name}': {exc}", exc.fix))
    if problems:
        raise ConfigError(problems)
    return sources


def check_targets(spark: SparkSession, config: Config) -> None:
    """Raise ConfigError for each target with mode 'error' that already exists."""
    problems = [
        Problem.at(
            table.target.where, "TARGET_EXISTS",
            f"table '{name}': target {target_label(table.target)} already exists, and mode 'error' "
            "never writes to an existing target",
            "remove the old target, write elsewhere ('target' or --target-root), or set "
            "mode: overwrite or append",
        )
        for name, table in config.tables.items()
        if table.target.mode == "error" and target_exists(spark, table.target)
    ]
    if problems:
        raise ConfigError(problems)


def prepare(spark: SparkSession, config: Config, key: MasterKey) -> tuple[dict[str, Source], dict[str, TablePlan]]:
    """Check targets, read schemas and compile; raises ConfigError when the rules do not fit."""
    check_targets(spark, config)
    sources = read_sources(spark, config)
    schemas = {name: source.schema for name, source in sources.items()}
    plans = compile_config(config, schemas, key)
    problems = [problem for name, plan in plans.items() for problem in _analyze(sources[name], plan)]
    if problems:
        raise ConfigError(problems)
    return sources, plans


def _analyze(source: Source, plan: TablePlan) -> list[Problem]:
    """Resolve each compiled column against the source schema (analysis only, no Spark job).

    This turns a bad sql rule into a config error with its file and line, instead of a failure
    in the middle of the writes. It also rejects columns without a type (a bare NULL), which
    Delta would silently leave out of the table.
    """
    problems = []
    # Each sql rule is resolved alone on the bare source, so one bad expression hides no other.
    for sql in plan.sql_columns:
        problems.extend(_analyze_column(source.data, plan, sql.column, sql.expression))
    if problems:
        return problems
    frame = plan.with_keys(source.data)
    for name, expression in plan.columns:
        problems.extend(_analyze_column(frame, plan, name, expression))
    return problems


def _analyze_column(frame: DataFrame, plan: TablePlan, name: str, expression: Column) -> list[Problem]:
    rule = plan.table.rule_for(name)
    assert rule is not None
    try:
        dtype = frame.select(expression.alias(name)).schema[0].dataType
    except AnalysisException as exc:
        reason = str(exc).splitlines()[0][:300]
        return [_rule_problem(plan, rule, "EXPRESSION_INVALID",
                              f"the rule does not resolve against the source: {reason}",
                              "fix the expression; columns are named as in the source")]
    if isinstance(dtype, T.NullType):
        return [_rule_problem(plan, rule, "EXPRESSION_UNTYPED",
                              "the rule's result has no type (NULL without a cast), and "
                              "Delta would drop the column",
                              "cast it, e.g. CAST(NULL AS STRING), or use the null technique")]
    return []


def _rule_problem(plan: TablePlan, rule: Rule, code: str, message: str, fix: str) -> Problem:
    return Problem(code=code, message=f"table '{plan.table.name}', column '{rule.column}': {message}",
                   fix=fix, file=rule.where.file, line=rule.where.line, path=rule.where.path)


def check_input(sources: dict[str, Source], plans: dict[str, TablePlan]) -> dict[str, int]:
    """Run the pre-write checks; return the row count of each table or raise DataRejectedError."""
    problems: list[Problem] = []
    counts: dict[str, int] = {}
    for name, plan in plans.items():
        rows, table_problems = _check_table(sources[name], plan)
        counts[name] = rows
        problems.extend(table_problems)
    if not problems:
        # The costliest check runs only on input that passed the others.
        problems.extend(_check_collisions(sources, plans, counts))
    if problems:
        raise DataRejectedError(problems)
    return counts


def _check_table(source: Source, plan: TablePlan) -> tuple[int, list[Problem]]:
    table = plan.table
    aggregates = [F.count(F.lit(1)).alias("rows")]
    if source.checks_corrupt_rows:
        aggregates.append(F.count_if(F.col(CORRUPT_COLUMN).isNotNull()).alias("corrupt"))
    for index, check in enumerate(plan.checks):
        aggregates.append(F.count_if(F.coalesce(check.invalid, F.lit(False))).alias(f"check_{index}"))
    # One aggregation job per table; only counts come back to the driver.
    if source.checks_corrupt_rows:
        # Spark refuses CSV queries that read only the corrupt-record column, and pruned columns
        # are not parsed at all. Hashing every column makes the parser read the whole row.
        every_column = [F.col(f"`{f.name}`") for f in source.schema.fields]
        aggregates.append(F.max(F.xxhash64(*every_column)).alias("_all_columns"))
    # sql rules run here once too: an expression that fails on some row (an ANSI cast, say)
    # then stops the run before any table is written. They are projected before the aggregation,
    # which would reject a nondeterministic expression such as uuid() inside count().
    frame = plan.with_sql(source.frame)
    for index, sql in enumerate(plan.sql_columns):
        aggregates.append(F.count(sql.hidden).alias(f"sql_{index}"))
    try:
        result = frame.agg(*aggregates).first()
    except (PySparkException, Py4JJavaError) as exc:
        if not plan.sql_columns:
            raise
        # Spark's trace can quote the row, so it is only logged at DEBUG (the job's --debug).
        log.debug("the row checks of table %s failed", table.name, exc_info=True)
        return 0, _failing_sql(source, plan, spark_condition(exc))
    assert result is not None
    problems: list[Problem] = []
    if source.checks_corrupt_rows and result["corrupt"]:
        problems.append(_corrupt_problem(source, table, int(result["corrupt"])))
    for index, check in enumerate(plan.checks):
        bad = int(result[f"check_{index}"])
        if bad:
            rule = table.rule_for(check.column)
            assert rule is not None
            rejection = TECHNIQUES[check.technique].rejection(rule)
            problems.append(_rule_problem(plan, rule, rejection.code,
                                          f"{bad} value(s) cannot be processed by '{check.technique}': "
                                          f"{rejection.message}", rejection.fix))
    return int(result["rows"]), problems


def spark_condition(exc: BaseException) -> str | None:
    """Return Spark's error condition (such as CAST_INVALID_INPUT) of ``exc`` or its first cause.

    The condition is a fixed name, unlike the message, which can quote a row value.
    """
    if isinstance(exc, PySparkException) and exc.getCondition():
        return exc.getCondition()
    java = getattr(exc, "java_exception", None)
    while java is not None:
        try:
            condition = java.getCondition()
        except Py4JError:
            condition = None
        if condition and condition not in _WRAPPING_CONDITIONS:
            return str(condition)
        java = java.getCause()
    return None


# Conditions of exceptions that only wrap the row-level failure.
_WRAPPING_CONDITIONS = {"TASK_WRITE_FAILED"}


def _failing_sql(source: Source, plan: TablePlan, condition: str | None) -> list[Problem]:
    """Name every sql rule of ``plan`` that fails on the source, evaluating them one by one."""
    problems = []
    for sql in plan.sql_columns:
        try:
            source.data.select(sql.expression.alias("value")).agg(F.count("value")).first()
        except (PySparkException, Py4JJavaError) as exc:
            rule = plan.table.rule_for(sql.column)
            assert rule is not None
            reason = spark_condition(exc) or condition or "Spark error"
            problems.append(_rule_problem(plan, rule, "SQL_FAILED",
                                          f"the sql expression fails on at least one row ({reason})",
                                          "make it total, e.g. try_cast instead of CAST, or fix the source rows"))
    if problems:
        return problems
    # The table failed with every rule passing alone; report the table's sql rules together.
    rule = plan.table.rule_for(plan.sql_columns[-1].column)
    assert rule is not None
    return [_rule_problem(plan, rule, "SQL_FAILED",
                          f"the row checks failed ({condition or 'Spark error'}) while evaluating sql rules",
                          "run the expressions in a notebook on a sample of the source")]


def _corrupt_problem(source: Source, table: TableConfig, count: int) -> Problem:
    places = _corrupt_lines(source)
    located = "; ".join(
        f"{path} line(s) {', '.join(str(n) for n in lines)}" for path, lines in sorted(places.items())
    )
    return Problem(
        code="MALFORMED_ROW",
        message=f"table '{table.name}': {count} malformed CSV row(s) (wrong number of fields or "
        f"bad quoting) at {located or 'unknown lines'}",
        fix="repair those rows in the source file, or check the delimiter and quote options",
        file=table.source.where.file,
        line=table.source.where.line,
        path=table.source.where.path,
    )


def _corrupt_lines(source: Source) -> dict[str, list[int]]:
    """Find the file and line numbers of malformed rows without bringing their text to the driver.

    Only runs once a malformed row is known to exist: it numbers the lines of the affected files
    and joins them with the first line of each malformed record, all inside Spark.
    """
    spark = source.frame.sparkSession
    # Spark rejects CSV queries that read only the corrupt-record column. Caching the malformed
    # rows with every column (few rows, on the executors) lets later queries select from them.
    bad = (
        source.frame.where(F.col(CORRUPT_COLUMN).isNotNull())
        .select(
            F.col("_metadata.file_path").alias("file"),
            F.substring_index(F.col(CORRUPT_COLUMN), "\n", 1).alias("text"),
            *[F.col(f"`{f.name}`") for f in source.schema.fields],
        )
        .cache()
    )
    files = [row["file"] for row in bad.select("file").distinct().limit(20).collect()]
    result: dict[str, list[int]] = {}
    for path in files:
        numbered = spark.read.text(path).rdd.zipWithIndex().map(lambda pair: (pair[0][0], pair[1] + 1))
        lines = spark.createDataFrame(numbered, "text string, line long")
        matches = (
            lines.join(bad.where(F.col("file") == path).select("text"), "text")
            .select("line")
            .orderBy("line")
            .limit(MAX_LINES_SHOWN)
        )
        result[path] = [int(row["line"]) for row in matches.collect()]
    bad.unpersist()
    return result


def _check_collisions(sources: dict[str, Source], plans: dict[str, TablePlan],
                      counts: dict[str, int]) -> list[Problem]:
    """Find pseudonyms shared by two or more distinct values of one key domain.

    A domain is skipped when the birthday bound makes a collision negligible for the rows it
    could hold (``collision_bound``). The others go through one aggregation job: each table is
    read once, and its (domain, pseudonym, hash of the input) rows are grouped by pseudonym.
    """
    rows_per_domain: dict[str, int] = {}
    bits_per_domain: dict[str, int] = {}
    places = {pair.domain: pair.where for plan in plans.values() for pair in plan.key_pairs}
    for name, plan in plans.items():
        for pair in plan.key_pairs:
            rows_per_domain[pair.domain] = rows_per_domain.get(pair.domain, 0) + counts[name]
            bits_per_domain[pair.domain] = min(pair.bits, bits_per_domain.get(pair.domain, pair.bits))
    checked = []
    skipped: dict[str, float] = {}
    for domain, rows in sorted(rows_per_domain.items()):
        bound = collision_bound(rows, bits_per_domain[domain])
        if bound < NEGLIGIBLE_COLLISION:
            skipped[domain] = bound
        else:
            checked.append(domain)
    if skipped:
        log.info("collision check skipped for %d domain(s) whose collision chance is below %.0e "
                 "(largest %.0e): %s", len(skipped), NEGLIGIBLE_COLLISION, max(skipped.values()),
                 ", ".join(skipped))
    frames = []
    for name, plan in plans.items():
        pairs = [pair for pair in plan.key_pairs if pair.domain in checked]
        if not pairs:
            continue
        rows = F.array(*[
            # Integer pseudonyms group as BIGINT, which shuffles less than their text.
            F.struct(F.lit(checked.index(pair.domain)).alias("domain"),
                     (pair.output.cast("bigint") if pair.numeric else F.lit(None).cast("bigint")).alias("number"),
                     (F.lit(None).cast("string") if pair.numeric else pair.output.cast("string")).alias("text"),
                     # A hash keeps the aggregation buffer fixed-width (hash aggregation, no sort).
                     # Two colliding inputs that also share their hash would hide each other:
                     # a chance of 2**-64 per collision.
                     F.when(pair.canonical.isNotNull(), F.xxhash64(pair.canonical)).alias("input"))
            for pair in pairs
        ])
        frames.append(plan.with_keys(sources[name].frame).select(F.inline(rows)).where(F.col("input").isNotNull()))
    if not frames:
        return []
    shared = (
        reduce(DataFrame.unionAll, frames)
        .groupBy("domain", "number", "text")
        .agg(F.min("input").alias("low"), F.max("input").alias("high"))
        .where(F.col("low") != F.col("high"))
        .groupBy("domain")
        .count()
        .collect()
    )
    return [_collision_problem(checked[row["domain"]], int(row["count"]), places[checked[row["domain"]]])
            for row in sorted(shared, key=lambda row: row["domain"])]


def _collision_problem(domain: str, shared: int, where: Where | None) -> Problem:
    return Problem.at(where, "PSEUDONYM_COLLISION",
                      f"domain '{domain}': {shared} pseudonym(s) are shared by two or more distinct "
                      "values, so joins would merge different entities",
                      "raise 'bits' for this domain (or use a wider column type)", path=f"domains.{domain}")


# Below this chance of any collision, a domain's collision check is not run: one in a trillion.
NEGLIGIBLE_COLLISION = 1e-12


def collision_bound(values: int, bits: int) -> float:
    """Return the birthday bound on the chance that ``values`` random ``bits``-bit values collide."""
    return values * (values - 1) / 2 / 2.0**bits


def execute(spark: SparkSession, config: Config, key: MasterKey) -> RunReport:
    """Check, anonymize and write every table of ``config``; return the run report."""
    started = time.monotonic()
    run_id = uuid.uuid4().hex
    report = RunReport(run_id, config.name, config.sha256, __version__, key.fingerprint)
    sources, plans = prepare(spark, config, key)
    check_input(sources, plans)
    report.check_seconds = round(time.monotonic() - started, 3)
    log.info("input checks passed for %d table(s) in %.1f s", len(plans), report.check_seconds)
    metadata = commit_metadata(config, key, run_id)
    previous = {name: current_version(spark, config.tables[name].target) for name in plans}
    existed = {name: path_exists(spark, config.tables[name].target) for name in plans}
    written: list[str] = []
    current = ""
    try:
        for name, plan in plans.items():
            current = name
            report.tables.append(_write_table(sources[name], plan, metadata))
            written.append(name)
    except BaseException:
        report.status = "failed"
        if not existed[current]:
            remove_leftovers(spark, config.tables[current].target)
        for name in reversed(written):
            if previous[name] is None and existed[name]:
                # The folder was there before the run but held no Delta table: never delete it.
                log.warning("table %s was written into an existing non-Delta folder; not removed", name)
                continue
            log.warning("rolling back table %s", name)
            roll_back(spark, config.tables[name].target, previous[name])
        raise
    report.status = "succeeded"
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _write_table(source: Source, plan: TablePlan, metadata: dict[str, str]) -> TableReport:
    started = time.monotonic()
    counted_in = Observation(f"rows_in_{plan.table.name}")
    counted_out = Observation(f"rows_out_{plan.table.name}")
    frame = source.data.observe(counted_in, F.count(F.lit(1)).alias("rows"))
    output = plan.apply(frame).observe(counted_out, F.count(F.lit(1)).alias("rows"))
    version = write_delta(output, plan.table.target, metadata)
    seconds = round(time.monotonic() - started, 3)
    table_report = TableReport(
        table=plan.table.name,
        target=target_label(plan.table.target),
        rows_in=int(counted_in.get["rows"]),
        rows_out=int(counted_out.get["rows"]),
        seconds=seconds,
        delta_version=version,
    )
    log.info("table %s: %d rows in, %d rows out, %.1f s, Delta version %d", table_report.table,
             table_report.rows_in, table_report.rows_out, seconds, version)
    return table_report


def output_schema(plan: TablePlan, source: Source) -> T.StructType:
    """Return the schema the table will have, without running anything."""
    return plan.apply(source.data).schema
