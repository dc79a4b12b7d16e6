"""The SparkSession the engine runs in: Delta enabled, binary literals redacted, UTC dates.

An active session (a notebook's, or the one spark-submit created) is reused; the engine only sets
the SQL options it depends on.
"""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

from engine import jvm

DELTA_VERSION = "4.4.0"
DELTA_PACKAGE = f"io.delta:delta-spark_4.2_2.13:{DELTA_VERSION}"
# Keys reach plans as columns of a key table, never as literals (see engine.compile.KeyRing).
# Redacting long binary literals anyway covers literals written in sql rules; Spark applies it
# to explain output and the SQL UI's plan description, but not to the event log's plan tree.
BINARY_LITERAL_REDACTION = r"(?i)0x[0-9a-f]{16,}"
SESSION_SQL_OPTIONS = {
    # Date shifting parses and formats text in the session time zone; UTC has no DST gaps.
    "spark.sql.session.timeZone": "UTC",
}
DELTA_OPTIONS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
# Set ANON_SPARK_JARS to a comma-separated list of local jars when Maven Central is unreachable.
JARS_ENV = "ANON_SPARK_JARS"


def redaction_pattern(existing: str | None) -> str:
    """Return ``existing`` extended with the binary-literal pattern, or the pattern alone."""
    if not existing or BINARY_LITERAL_REDACTION in existing:
        return existing or BINARY_LITERAL_REDACTION
    return f"{existing}|{BINARY_LITERAL_REDACTION}"


def configure(spark: SparkSession) -> SparkSession:
    """Apply the SQL options the engine relies on to an existing session."""
    current = spark.conf.get("spark.sql.redaction.string.regex", None)
    spark.conf.set("spark.sql.redaction.string.regex", redaction_pattern(current))
    for key, value in SESSION_SQL_OPTIONS.items():
        spark.conf.set(key, value)
    jvm.register(spark)
    return spark


def get_session(app_name: str = "anonymize", master: str | None = None,
                extra: dict[str, str] | None = None) -> SparkSession:
    """Return the active session configured for the engine, or build a local one with Delta."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return configure(active)
    builder = SparkSession.builder.appName(app_name)
    # Under spark-submit the JVM already runs with --master and --packages from the command
    # line (it hands Python the gateway port), and those must win over local defaults.
    launched_by_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    if master or not launched_by_submit:
        builder = builder.master(master or "local[*]")
    options = dict(DELTA_OPTIONS)
    options["spark.sql.redaction.string.regex"] = BINARY_LITERAL_REDACTION
    options["spark.ui.showConsoleProgress"] = "false"
    options.update(SESSION_SQL_OPTIONS)
    jars = [jar for jar in os.environ.get(JARS_ENV, "").split(",") if jar]
    if not jars and not launched_by_submit:
        options["spark.jars.packages"] = DELTA_PACKAGE
    # spark-submit.sh passes the HMAC jar with --jars; a session built here adds it itself.
    built = None if launched_by_submit else jvm.build()
    if built is not None:
        jars.append(str(built))
    if jars:
        options["spark.jars"] = ",".join(jars)
    options.update(extra or {})
    for key, value in options.items():
        builder = builder.config(key, value)
    return configure(builder.getOrCreate())
