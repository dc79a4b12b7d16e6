"""spark-submit entry point: anonymize the tables of one rule file into Delta.

Exit codes: 0 done; 2 usage error; 3 invalid config; 4 key missing or unusable;
5 input data rejected; 1 anything else. Nothing is written unless the exit code is 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from engine.errors import EXIT_FAILURE, EXIT_USAGE, AnonymizationError, ConfigError, Problem

log = logging.getLogger("anonymize")


def setup_logging() -> None:
    """Send the job's and the engine's INFO lines to stderr, whatever the root logger does."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("anonymize", "engine"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if not logger.handlers:
            logger.addHandler(handler)
    # PySpark logs failed queries with Spark's message, which can quote a row value.
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logging.getLogger(name).disabled = True


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="anonymize",
        description="Anonymize source tables into Delta Lake following the rules of a YAML rule file.",
        epilog="Exit codes: 0 done, 2 usage, 3 invalid config, 4 key unusable, 5 input rejected, 1 other.",
    )
    parser.add_argument("--config", required=True, help="path of the YAML rule file")
    parser.add_argument("--report", help="write the JSON run report to this file as well as stdout")
    parser.add_argument("--source-root", help="folder replacing the config's source base path")
    parser.add_argument("--target-root", help="folder replacing the config's target base path")
    parser.add_argument("--tables", help="comma-separated subset of tables to run")
    parser.add_argument("--explain", metavar="FILE",
                        help="write each table's extended query plan to FILE (binary literals are redacted)")
    parser.add_argument("--debug", action="store_true",
                        help="log the stack trace of unexpected errors; Spark traces may quote row values")
    parser.add_argument("--validate-only", action="store_true",
                        help="check the config, key and source schemas, then stop without reading rows")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else 0
    if args.debug:
        logging.getLogger("engine").setLevel(logging.DEBUG)
    try:
        return run(args)
    except AnonymizationError as exc:
        log.error("%s failed (exit %d):\n%s", exc.code, exc.exit_code, exc)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the job boundary turns any failure into exit 1
        # Spark exceptions can quote row values, so only the class name and Spark's error
        # condition (a fixed name such as CAST_INVALID_INPUT) are logged by default.
        from engine.run import spark_condition

        condition = spark_condition(exc)
        log.error("run failed with %s%s; rerun with --debug for the stack trace", type(exc).__name__,
                  f" [{condition}]" if condition else "", exc_info=args.debug)
        return EXIT_FAILURE


def run(args: argparse.Namespace) -> int:
    from engine.config import load_config
    from engine.keys import load_master_key
    from engine.run import Overrides, apply_overrides, execute, prepare

    config = load_config(args.config)
    if config.draft:
        problem = Problem(
            code="CONFIG_IS_DRAFT",
            message="this config is a draft written by the rule drafter and has not been reviewed",
            fix="review every rule, then delete the line 'draft: true'",
            file=config.file,
            line=1,
            path="draft",
        )
        raise ConfigError([problem])
    tables = tuple(t for t in (args.tables or "").split(",") if t)
    unknown = [t for t in tables if t not in config.tables]
    if unknown:
        log.error("unknown table(s) in --tables: %s; config has %s", ", ".join(unknown), ", ".join(config.tables))
        return EXIT_USAGE
    config = apply_overrides(config, Overrides(args.source_root, args.target_root, tables))
    # The key is checked before Spark starts, so a missing secret fails fast and cheaply.
    key = load_master_key(config.key)
    log.info("config %s (sha256 %s), key fingerprint %s", config.name, config.sha256[:12], key.fingerprint)

    from engine import jvm
    from engine.session import get_session

    spark = get_session(f"anonymize {config.name}")
    log.info("HMAC by %s", "the engine's JVM function" if jvm.ready() else "Spark built-ins (no usable engine jar)")
    if args.validate_only or args.explain:
        sources, plans = prepare(spark, config, key)
        if args.explain:
            write_plans(args.explain, sources, plans)
        if args.validate_only:
            log.info("config is valid for %d table(s); no rows were read or written", len(plans))
            return 0
    report = execute(spark, config, key)
    text = json.dumps(report.to_dict(), indent=2)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def write_plans(path: str, sources: dict, plans: dict) -> None:
    """Write the extended plan of every table, as Spark's explain prints it, to ``path``."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        for name, plan in plans.items():
            print(f"== table {name} ==")
            plan.apply(sources[name].data).explain(extended=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(buffer.getvalue(), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
