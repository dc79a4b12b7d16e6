"""Time the engine against a plain Delta copy and a pandas-UDF pseudonymization, in one session.

Usage::

    python bench/run.py --rows 1000000 [--out results.json] [--data DIR] [--keep-data]
    python bench/run.py --scale 1000000,3000000,10000000 [--out results.json]

N is the transaction count, and bench/datagen.py adds N // 8 accounts and N // 20 customers.
For each N the script generates the three Delta tables, or reuses them under ``--data``. It
then times these variants one after the other in the same Spark session:

``copy``
    (a) every table read with ``spark.read.format("delta")`` and written to a new Delta folder.
``engine``
    (b) ``engine.run.execute`` with bench/reference.yaml: checks, then one Delta commit per
    table. Its check phase (``RunReport.check_seconds``) is also shown on its own.
``pandas_udf``
    (c) the reference config's pseudonymize rules done with a pandas UDF that calls
    ``hmac.new(...).hexdigest()`` per value; every other column is copied unchanged.
``engine_pseudonymize``
    (d) the engine's own pseudonymize expressions on the same columns as (c), with no checks:
    (c) and (d) do the same work, so their ratio is the cost of Python against the engine's
    JVM-side expressions.

Before the first timed variant, every variant runs once on 2,000 rows so that JVM start,
class loading and Python worker start are not counted. Each variant writes to a fresh folder.
The results (seconds, rows per second, microseconds per row, driver memory, load average,
the Spark jobs of each variant from the event log) are printed and written as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402 - after the path set-up above
from pyspark.sql import Column, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

import engine.run as engine_run  # noqa: E402
from bench.datagen import TABLE_NAMES, generate, table_path, table_sizes  # noqa: E402
import engine.jvm  # noqa: E402
from engine.canonical import INTEGRAL_TYPES  # noqa: E402
from engine.compile import compile_table  # noqa: E402
from engine.config import Config, Domain, load_config  # noqa: E402
from engine.keys import MasterKey, fingerprint  # noqa: E402
from engine.pseudonym import output_bits  # noqa: E402
from engine.session import get_session  # noqa: E402
from engine.techniques.keyed import PSEUDONYMIZE  # noqa: E402

REFERENCE_CONFIG = Path(__file__).resolve().parent / "reference.yaml"
VARIANTS = ("copy", "engine", "pandas_udf", "engine_pseudonymize")
VARIANT_LABELS = {
    "copy": "(a) plain Delta copy",
    "engine": "(b) engine, reference config",
    "pandas_udf": "(c) pandas UDF pseudonymize",
    "engine_pseudonymize": "(d) engine pseudonymize only",
}
WARM_UP_ROWS = 2_000
MEMORY_SAMPLE_SECONDS = 0.25
# A fixed key, so that runs are comparable. It protects nothing and must not be used elsewhere.
BENCH_KEY_MATERIAL = hashlib.sha256(b"anon-engine benchmark key, not a secret").digest()
MIB = 1024 * 1024


# --- machine and memory ------------------------------------------------------------------


def machine_description(spark: SparkSession) -> dict[str, Any]:
    """Return what a reader needs to compare figures: cores, memory, CPU, versions."""
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - the JVM properties are only reachable here
    runtime = jvm.java.lang.Runtime.getRuntime()
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(_meminfo_kib("MemTotal") / MIB, 1),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "java": str(jvm.java.lang.System.getProperty("java.version")),
        "spark": spark.version,
        "spark_master": spark.sparkContext.master,
        "driver_max_heap_mib": round(int(runtime.maxMemory()) / MIB),
        "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "adaptive_execution": spark.conf.get("spark.sql.adaptive.enabled"),
        "hmac": "engine JVM function" if engine.jvm.ready() else "Spark built-ins",
    }


def source_state() -> dict[str, Any]:
    """Return the git commit of the tree and the engine files changed since it (read-only git)."""
    root = Path(__file__).resolve().parents[1]

    def git(*arguments: str) -> str:
        try:
            result = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return ""
        return result.stdout

    # Porcelain lines are two status letters, a space and the path.
    changed = [line[3:] for line in git("status", "--porcelain", "--", "engine").splitlines()]
    return {"commit": git("rev-parse", "HEAD").strip(), "engine_files_changed": changed}


def _meminfo_kib(name: str) -> int:
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _rss_kib(pid: int | str) -> int:
    """Return the resident set size of a process in KiB, or 0 if it is gone."""
    return _proc_field(f"/proc/{pid}/status", "VmRSS:")


def _pss_kib(pid: int | str) -> int:
    """Return the proportional set size in KiB: shared pages count once across the sharers.

    Python workers are forked from one daemon and share most of their pages, so adding up their
    resident sizes would count those pages once per worker.
    """
    return _proc_field(f"/proc/{pid}/smaps_rollup", "Pss:")


def _proc_field(path: str, name: str) -> int:
    try:
        with open(path, encoding="ascii") as handle:
            for line in handle:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int | str, with_children: bool) -> float:
    """Return the user plus system CPU seconds of a process (and of its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # Fields 14 to 17 of proc(5) are utime, stime, cutime and cstime. Index 0 here is field 3.
    ticks = sum(int(value) for value in fields[11:15 if with_children else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """Return the ids of every process below ``pid`` (the JVM's Python workers)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as handle:
                    children = [int(child) for child in handle.read().split()]
            except OSError:
                continue
            found.extend(children)
            pending.extend(children)
    return found


class MemoryProbe:
    """Peak memory and CPU time of the driver during one variant.

    A background thread samples, every MEMORY_SAMPLE_SECONDS, the JVM heap in use, the resident
    size of the JVM and of this Python process, and the proportional size of the JVM's Python
    workers. Idle workers of an earlier variant may still be alive and are counted. The JVM heap pools
    also keep their own exact peak, reset before each variant after a full GC. In local mode
    the executors run inside the driver JVM, so its heap includes task memory. CPU seconds are
    those of the JVM, its Python workers and this process, read from /proc: unlike wall time,
    they change little when other programs share the cores.
    """

    def __init__(self, spark: SparkSession) -> None:
        jvm = spark.sparkContext._jvm  # noqa: SLF001 - java.lang.management is only reachable here
        factory = jvm.java.lang.management.ManagementFactory
        self._system = jvm.java.lang.System
        self._memory = factory.getMemoryMXBean()
        pools = factory.getMemoryPoolMXBeans()
        self._heap_pools = [pool for pool in pools if pool.getType().name() == "HEAP"]
        self._collectors = list(factory.getGarbageCollectorMXBeans())
        self.jvm_pid = int(factory.getRuntimeMXBean().getPid())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peaks: dict[str, int] = {}
        self._gc_ms_before = 0

    def _gc_milliseconds(self) -> int:
        return sum(max(0, int(collector.getCollectionTime())) for collector in self._collectors)

    def start(self) -> None:
        self._system.gc()
        for pool in self._heap_pools:
            pool.resetPeakUsage()
        self._gc_ms_before = self._gc_milliseconds()
        self._cpu_before = self._process_cpu_seconds()
        self._peaks = {"heap_used": 0, "jvm_rss_kib": 0, "python_rss_kib": 0, "workers_pss_kib": 0}
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample_until_stopped, name="memory-probe", daemon=True)
        self._thread.start()

    def _process_cpu_seconds(self) -> float:
        # A process that ends moves its time, children included, to its parent's children time
        # once the parent reaps it: PySpark's daemon reaps its workers and the JVM reaps the
        # daemon. Counting the children time of the JVM and of every live descendant therefore
        # keeps the time of workers that ended during the variant.
        workers = sum(_cpu_seconds(pid, with_children=True) for pid in _descendants(self.jvm_pid))
        return _cpu_seconds(self.jvm_pid, with_children=True) + workers + _cpu_seconds("self", False)

    def _sample_until_stopped(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(MEMORY_SAMPLE_SECONDS)

    def _sample(self) -> None:
        readings = {
            "heap_used": int(self._memory.getHeapMemoryUsage().getUsed()),
            "jvm_rss_kib": _rss_kib(self.jvm_pid),
            "python_rss_kib": _rss_kib("self"),
            "workers_pss_kib": sum(_pss_kib(pid) for pid in _descendants(self.jvm_pid)),
        }
        for name, value in readings.items():
            self._peaks[name] = max(self._peaks[name], value)

    def stop(self) -> dict[str, float]:
        """Stop sampling; return the peaks in MiB and the GC time of the variant."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        cpu_seconds = self._process_cpu_seconds() - self._cpu_before
        pool_peak = sum(int(pool.getPeakUsage().getUsed()) for pool in self._heap_pools)
        gc_ms = self._gc_milliseconds() - self._gc_ms_before
        self._system.gc()
        live_after = int(self._memory.getHeapMemoryUsage().getUsed())
        return {
            "jvm_heap_peak_mib": round(pool_peak / MIB, 1),
            "jvm_heap_sampled_peak_mib": round(self._peaks["heap_used"] / MIB, 1),
            "jvm_heap_after_gc_mib": round(live_after / MIB, 1),
            "jvm_rss_peak_mib": round(self._peaks["jvm_rss_kib"] / 1024, 1),
            "python_rss_peak_mib": round(self._peaks["python_rss_kib"] / 1024, 1),
            "python_workers_pss_peak_mib": round(self._peaks["workers_pss_kib"] / 1024, 1),
            "jvm_gc_seconds": round(gc_ms / 1000, 2),
            "cpu_seconds": round(cpu_seconds, 1),
        }


# --- engine phases -----------------------------------------------------------------------


@dataclass
class PhaseTimer:
    """Wall seconds of the engine's phases, recorded by wrappers around engine.run functions."""

    spark: SparkSession
    seconds: dict[str, float] = field(default_factory=dict)

    def wrap(self, label: Callable[..., str], function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            name = label(*args, **kwargs)
            context = self.spark.sparkContext
            context.setJobDescription(name)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 3)
                context.setLocalProperty("spark.job.description", None)

        return timed


@contextmanager
def engine_phases(spark: SparkSession) -> Iterator[PhaseTimer]:
    """Time and label the phases of ``engine.run.execute`` while the block runs.

    The wrapped functions run unchanged. The wrappers only set the description of the Spark
    jobs each one starts, which the event log records, and add up their wall time.
    """
    timer = PhaseTimer(spark)
    wrapped = {
        "prepare": lambda *a, **k: "prepare: read schemas, compile",
        "_check_table": lambda source, plan: f"check rows: {plan.table.name}",
        "_check_collisions": lambda *a, **k: "check pseudonym collisions",
        "current_version": lambda *a, **k: "Delta metadata: current version",
        "path_exists": lambda *a, **k: "Delta metadata: path exists",
        "_write_table": lambda source, plan, metadata: f"write: {plan.table.name}",
    }
    originals = {name: getattr(engine_run, name) for name in wrapped}
    try:
        for name, label in wrapped.items():
            setattr(engine_run, name, timer.wrap(label, originals[name]))
        yield timer
    finally:
        for name, original in originals.items():
            setattr(engine_run, name, original)


# --- variants ----------------------------------------------------------------------------


@dataclass
class Workload:
    """One data set and what every variant needs to process it."""

    spark: SparkSession
    config: Config
    key: MasterKey
    sources: dict[str, str]
    rows: int

    @property
    def total_rows(self) -> int:
        return sum(table_sizes(self.rows).values())

    def reference_config(self, target_root: str) -> Config:
        source_root = os.path.dirname(self.sources[TABLE_NAMES[0]])
        overrides = engine_run.Overrides(source_root=source_root, target_root=target_root)
        return engine_run.apply_overrides(self.config, overrides)


def run_copy(work: Workload, target_root: str, details: dict[str, Any]) -> None:
    for name, path in work.sources.items():
        frame = work.spark.read.format("delta").load(path)
        frame.write.format("delta").mode("overwrite").save(table_path(target_root, name))


def run_engine(work: Workload, target_root: str, details: dict[str, Any]) -> None:
    config = work.reference_config(target_root)
    with engine_phases(work.spark) as phases:
        # The same dict object, so a cancelled run still reports the phases it finished.
        details["phase_seconds"] = phases.seconds
        report = engine_run.execute(work.spark, config, work.key)
    details["check_seconds"] = report.check_seconds
    details["engine_seconds"] = report.seconds
    details["table_seconds"] = {table.table: table.seconds for table in report.tables}


def pseudonymize_columns(config: Config, table: str) -> dict[str, Domain]:
    """Return the single-column pseudonymize rules of ``table``: column name and domain."""
    found = {}
    for column, rule in config.tables[table].rules.items():
        if rule.technique != PSEUDONYMIZE:
            continue
        if rule.params.get("columns"):
            raise ValueError(f"{table}.{column}: the pandas UDF variant handles only single-column rules")
        found[column] = config.domains[str(rule.params["domain"])]
    return found


def _pandas_pseudonymizer(subkey: bytes, domain: Domain, dtype: T.DataType) -> Column:
    """Return a pandas UDF that computes the engine's pseudonym of a column in Python.

    It follows engine.canonical and engine.pseudonym: canonical text, HMAC-SHA256 with the
    domain subkey, then the output form. ``--compare`` checks that both give equal values.
    """
    bits = output_bits(domain, dtype)
    integer_input = isinstance(dtype, INTEGRAL_TYPES)
    integer_output = domain.format == "integer" and not isinstance(dtype, T.StringType)
    prefix, output_format, modulus = domain.prefix, domain.format, 2**bits
    compose, trim, fold = domain.normalize == "nfc", domain.trim, domain.case == "fold"

    def canonical(value: object) -> bytes:
        if integer_input:
            return str(value).encode("ascii")
        text = str(value)
        if compose:
            text = unicodedata.normalize("NFC", text)
        if trim:
            text = text.strip()
        return (text.lower() if fold else text).encode("utf-8")

    def render(digest_hex: str) -> object:
        if output_format == "integer":
            number = int(digest_hex[:16], 16) % modulus
            return number if integer_output else str(number)
        if output_format == "base32":
            chunks = (digest_hex[start * 10:start * 10 + 10] for start in range((bits + 39) // 40))
            return prefix + "".join(_base32hex(int(chunk, 16)).rjust(8, "0") for chunk in chunks)[: bits // 5]
        return prefix + digest_hex[: bits // 4]

    def pseudonymize(values: pd.Series) -> pd.Series:
        present = values.notna().tolist()
        results = [
            render(hmac.new(subkey, canonical(value), hashlib.sha256).hexdigest()) if known else None
            for value, known in zip(values.tolist(), present)
        ]
        return pd.Series(results, dtype="Int64" if integer_output else "object")

    return_type: T.DataType = T.StringType()
    if integer_output:
        return_type = dtype if integer_input else T.LongType()
    return F.pandas_udf(pseudonymize, return_type)


_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"


def _base32hex(number: int) -> str:
    digits = []
    while True:
        number, remainder = divmod(number, 32)
        digits.append(_BASE32HEX[remainder])
        if not number:
            return "".join(reversed(digits))


def run_pandas_udf(work: Workload, target_root: str, details: dict[str, Any]) -> None:
    for name, path in work.sources.items():
        frame = work.spark.read.format("delta").load(path)
        rules = pseudonymize_columns(work.config, name)
        columns = []
        for source_field in frame.schema.fields:
            domain = rules.get(source_field.name)
            if domain is None:
                columns.append(F.col(source_field.name))
                continue
            subkey = work.key.subkey(PSEUDONYMIZE, domain.name)
            udf = _pandas_pseudonymizer(subkey, domain, source_field.dataType)
            columns.append(udf(F.col(source_field.name)).alias(source_field.name))
        frame.select(*columns).write.format("delta").mode("overwrite").save(table_path(target_root, name))


def pseudonymize_only(config: Config) -> Config:
    """Return ``config`` with every rule other than pseudonymize replaced by keep."""
    tables = {}
    for name, table in config.tables.items():
        rules = {
            column: rule if rule.technique == PSEUDONYMIZE else replace(rule, technique="keep", params={})
            for column, rule in table.rules.items()
        }
        tables[name] = replace(table, rules=rules)
    return replace(config, tables=tables)


def run_engine_pseudonymize(work: Workload, target_root: str, details: dict[str, Any]) -> None:
    config = pseudonymize_only(work.reference_config(target_root))
    for name, path in work.sources.items():
        frame = work.spark.read.format("delta").load(path)
        plan = compile_table(config.tables[name], frame.schema, config, work.key)
        plan.apply(frame).write.format("delta").mode("overwrite").save(table_path(target_root, name))


# Each runner writes every table under the target folder and may add figures to ``details``.
RUNNERS: dict[str, Callable[[Workload, str, dict[str, Any]], None]] = {
    "copy": run_copy,
    "engine": run_engine,
    "pandas_udf": run_pandas_udf,
    "engine_pseudonymize": run_engine_pseudonymize,
}


def compare_outputs(work: Workload, engine_root: str, other_root: str) -> dict[str, int]:
    """Count pseudonyms that differ between two outputs, per column (0 means equal multisets)."""
    spark = work.spark
    differences = {}
    for name in work.sources:
        engine_frame = spark.read.format("delta").load(table_path(engine_root, name))
        other_frame = spark.read.format("delta").load(table_path(other_root, name))
        for column in pseudonymize_columns(work.config, name):
            left = engine_frame.select(column)
            right = other_frame.select(column)
            differences[f"{name}.{column}"] = left.exceptAll(right).count() + right.exceptAll(left).count()
    return differences


@dataclass
class Measurement:
    variant: str
    status: str
    seconds: float
    rows: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    memory: dict[str, float]
    details: dict[str, Any]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def microseconds_per_row(self) -> float:
        return self.seconds * 1e6 / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "label": VARIANT_LABELS[self.variant],
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "rows": self.rows,
            "rows_per_second": round(self.rows_per_second),
            "microseconds_per_row": round(self.microseconds_per_row, 3),
            "load_average_before": [round(value, 2) for value in self.load_before],
            "load_average_after": [round(value, 2) for value in self.load_after],
            "memory": self.memory,
            **self.details,
        }


def measure(work: Workload, variant: str, target_root: str, probe: MemoryProbe, timeout: float,
            group: str) -> Measurement:
    """Run one variant under its own Spark job group; cancel it after ``timeout`` seconds."""
    context = work.spark.sparkContext
    shutil.rmtree(target_root, ignore_errors=True)
    context.setJobGroup(group, VARIANT_LABELS[variant], interruptOnCancel=True)
    timed_out = threading.Event()

    def cancel() -> None:
        timed_out.set()
        context.cancelJobGroup(group)

    timer = threading.Timer(timeout, cancel)
    load_before = os.getloadavg()
    probe.start()
    started = time.perf_counter()
    timer.start()
    status = "ok"
    details: dict[str, Any] = {}
    try:
        RUNNERS[variant](work, target_root, details)
    except Exception as exc:  # noqa: BLE001 - a cancelled or failed variant is reported, not fatal
        status = f"timed out after {timeout:.0f} s" if timed_out.is_set() else f"failed: {type(exc).__name__}"
        print(f"  {variant}: {status}: {str(exc).splitlines()[0][:200]}", file=sys.stderr)
    finally:
        timer.cancel()
    seconds = time.perf_counter() - started
    memory = probe.stop()
    load_after = os.getloadavg()
    context.setLocalProperty("spark.jobGroup.id", None)
    context.setLocalProperty("spark.job.description", None)
    return Measurement(variant, status, seconds, work.total_rows, load_before, load_after, memory, details)


# --- event log ---------------------------------------------------------------------------


def read_event_log(directory: str, app_id: str) -> dict[str, list[dict[str, Any]]]:
    """Return the Spark jobs of each job group, with their stages, from the event log."""
    candidates = [os.path.join(directory, app_id), os.path.join(directory, app_id + ".inprogress")]
    path = next((candidate for candidate in candidates if os.path.exists(candidate)), None)
    if path is None:
        return {}
    jobs: dict[int, dict[str, Any]] = {}
    stages: dict[int, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerJobStart":
                properties = event.get("Properties") or {}
                jobs[event["Job ID"]] = {
                    "group": properties.get("spark.jobGroup.id"),
                    "description": properties.get("spark.job.description"),
                    "name": (event.get("Stage Infos") or [{}])[-1].get("Stage Name"),
                    "submitted_ms": event["Submission Time"],
                    "stage_ids": event["Stage IDs"],
                }
            elif kind == "SparkListenerJobEnd" and event["Job ID"] in jobs:
                jobs[event["Job ID"]]["completed_ms"] = event["Completion Time"]
            elif kind == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                stages[info["Stage ID"]] = _stage_summary(info)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for job_id in sorted(jobs):
        job = jobs[job_id]
        if not job["group"]:
            continue
        summary = {
            "job": job_id,
            "description": job["description"],
            "name": job["name"],
            "seconds": round((job.get("completed_ms", job["submitted_ms"]) - job["submitted_ms"]) / 1000, 3),
            "stages": [stages[stage] for stage in job["stage_ids"] if stage in stages],
        }
        grouped.setdefault(job["group"], []).append(summary)
    return grouped


def _stage_summary(info: dict[str, Any]) -> dict[str, Any]:
    metrics = {item.get("Name"): item.get("Value") for item in info.get("Accumulables", [])}

    def number(name: str) -> int:
        try:
            return int(metrics.get(name) or 0)
        except (TypeError, ValueError):
            return 0

    submitted = info.get("Submission Time") or 0
    completed = info.get("Completion Time") or submitted
    return {
        "stage": info["Stage ID"],
        "name": info.get("Stage Name"),
        "tasks": info.get("Number of Tasks"),
        "seconds": round((completed - submitted) / 1000, 3),
        "task_run_seconds": round(number("internal.metrics.executorRunTime") / 1000, 2),
        "task_cpu_seconds": round(number("internal.metrics.executorCpuTime") / 1e9, 2),
        "task_gc_seconds": round(number("internal.metrics.jvmGCTime") / 1000, 2),
        "input_mib": round(number("internal.metrics.input.bytesRead") / MIB, 1),
        "output_mib": round(number("internal.metrics.output.bytesWritten") / MIB, 1),
        "shuffle_write_mib": round(number("internal.metrics.shuffle.write.bytesWritten") / MIB, 1),
        "shuffle_read_mib": round(
            (number("internal.metrics.shuffle.read.localBytesRead")
             + number("internal.metrics.shuffle.read.remoteBytesRead")) / MIB, 1),
        "spill_mib": round(number("internal.metrics.diskBytesSpilled") / MIB, 1),
    }


def job_breakdown(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add up the jobs of one variant by description (or stage name): seconds, CPU, shuffle."""
    totals: dict[str, dict[str, Any]] = {}
    for job in jobs:
        name = job["description"] or job["name"] or "?"
        entry = totals.setdefault(name, {"what": name, "jobs": 0, "seconds": 0.0, "task_cpu_seconds": 0.0,
                                         "task_run_seconds": 0.0, "shuffle_write_mib": 0.0, "output_mib": 0.0})
        entry["jobs"] += 1
        entry["seconds"] += job["seconds"]
        for stage in job["stages"]:
            for metric in ("task_cpu_seconds", "task_run_seconds", "shuffle_write_mib", "output_mib"):
                entry[metric] += stage[metric]
    rows = sorted(totals.values(), key=lambda entry: -entry["seconds"])
    for entry in rows:
        for metric in ("seconds", "task_cpu_seconds", "task_run_seconds", "shuffle_write_mib", "output_mib"):
            entry[metric] = round(entry[metric], 2)
    return rows


# --- reporting ---------------------------------------------------------------------------


def print_table(rows: int, measurements: dict[str, Measurement]) -> None:
    total = next(iter(measurements.values())).rows
    print(f"\n{rows:,} transactions ({total:,} rows in 3 tables)")
    header = (f"{'variant':<32}{'seconds':>9}{'rows/s':>11}{'µs/row':>8}{'CPU s':>8}{'heap MiB':>10}"
              f"{'JVM RSS':>9}{'py RSS':>8}{'load 1m':>9}  status")
    print(header)
    print("-" * len(header))
    for variant, result in measurements.items():
        memory = result.memory
        print(f"{VARIANT_LABELS[variant]:<32}{result.seconds:>9.1f}{result.rows_per_second:>11,.0f}"
              f"{result.microseconds_per_row:>8.2f}{memory['cpu_seconds']:>8.1f}{memory['jvm_heap_peak_mib']:>10.0f}"
              f"{memory['jvm_rss_peak_mib']:>9.0f}{memory['python_rss_peak_mib']:>8.0f}"
              f"{result.load_before[0]:>9.2f}  {result.status}")
    engine = measurements.get("engine")
    if engine is not None:
        print(f"  engine check phase: {engine.details.get('check_seconds', 0):.1f} s of {engine.seconds:.1f} s")
    for text, value in ratios(measurements).items():
        print(f"  {text}: {value:.2f}")


def ratios(measurements: dict[str, Measurement]) -> dict[str, float]:
    pairs = {
        "b/a (engine / plain copy)": ("engine", "copy"),
        "c/b (pandas UDF / engine)": ("pandas_udf", "engine"),
        "c/d (pandas UDF / engine pseudonymize only)": ("pandas_udf", "engine_pseudonymize"),
        "d/a (engine pseudonymize only / plain copy)": ("engine_pseudonymize", "copy"),
    }
    found = {}
    for text, (top, bottom) in pairs.items():
        if top in measurements and bottom in measurements and measurements[bottom].seconds:
            found[text] = round(measurements[top].seconds / measurements[bottom].seconds, 3)
            cpu_bottom = measurements[bottom].memory["cpu_seconds"]
            if cpu_bottom:
                found[f"{text}, CPU seconds"] = round(measurements[top].memory["cpu_seconds"] / cpu_bottom, 3)
    return found


def task_cpu_ratios(variants: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Return b/a and d/a on Spark task CPU time, which leaves out Python workers and so (c)."""
    found = {}
    for text, top in (("b/a (engine / plain copy)", "engine"), ("d/a (engine pseudonymize only / plain copy)",
                                                                "engine_pseudonymize")):
        if top in variants and "copy" in variants and variants["copy"]["task_cpu_seconds"]:
            ratio = variants[top]["task_cpu_seconds"] / variants["copy"]["task_cpu_seconds"]
            found[f"{text}, task CPU seconds"] = round(ratio, 3)
    return found


def print_scaling(results: list[dict[str, Any]]) -> None:
    if len(results) < 2:
        return
    variants = [variant for variant in VARIANTS if all(variant in result["variants"] for result in results)]
    print("\nµs per row (all 3 tables), by transaction count: wall time, then CPU time")
    print(f"{'variant':<32}" + "".join(f"{result['rows']:>14,}" for result in results))
    for variant in variants:
        cells = "".join(f"{result['variants'][variant]['microseconds_per_row']:>14.2f}" for result in results)
        print(f"{VARIANT_LABELS[variant]:<32}{cells}")
    for variant in variants:
        cells = "".join(
            f"{result['variants'][variant]['memory']['cpu_seconds'] * 1e6 / result['rows_all_tables']:>14.2f}"
            for result in results
        )
        print(f"{VARIANT_LABELS[variant] + ', CPU':<32}{cells}")
    print("\ndriver JVM heap peak / JVM RSS peak / Python RSS peak (MiB)")
    for variant in variants:
        cells = "".join(
            "{:>14}".format("{jvm_heap_peak_mib:.0f}/{jvm_rss_peak_mib:.0f}/{python_rss_peak_mib:.0f}".format(
                **result["variants"][variant]["memory"])) for result in results
        )
        print(f"{VARIANT_LABELS[variant]:<32}{cells}")


# --- data and main -----------------------------------------------------------------------


def dataset(spark: SparkSession, data_root: str, rows: int) -> dict[str, str]:
    """Return the table paths for ``rows`` transactions under ``data_root``, generating them if missing."""
    folder = os.path.join(data_root, str(rows))
    paths = {name: table_path(folder, name) for name in TABLE_NAMES}
    complete = all(os.path.isdir(os.path.join(path, "_delta_log")) for path in paths.values())
    if complete and spark.read.format("delta").load(paths["transactions"]).count() == rows:
        print(f"reusing {rows:,} transactions in {folder}")
        return paths
    print(f"generating {rows:,} transactions in {folder} ...", flush=True)
    started = time.perf_counter()
    written = generate(spark, folder, rows)
    print(f"generated in {time.perf_counter() - started:.1f} s")
    return written


def bench_rows(work: Workload, variants: list[str], work_root: str, probe: MemoryProbe, timeout: float,
               compare: bool, group_prefix: str = "") -> dict[str, Measurement]:
    # Listing the files computes each source's Delta snapshot, which Delta then caches, so the
    # first variant does not pay for it alone.
    for path in work.sources.values():
        work.spark.read.format("delta").load(path).inputFiles()
    measurements = {}
    for variant in variants:
        target = os.path.join(work_root, f"out-{work.rows}", variant)
        print(f"  {VARIANT_LABELS[variant]} ...", flush=True)
        result = measure(work, variant, target, probe, timeout, group=f"{group_prefix}{work.rows}:{variant}")
        measurements[variant] = result
        print(f"    {result.seconds:.1f} s, {result.status}", flush=True)
    if compare and {"engine", "pandas_udf"} <= set(measurements):
        root = os.path.join(work_root, f"out-{work.rows}")
        differences = compare_outputs(work, os.path.join(root, "engine"), os.path.join(root, "pandas_udf"))
        measurements["pandas_udf"].details["pseudonyms_differing_from_engine"] = differences
        print(f"  pseudonyms differing between engine and pandas UDF: {sum(differences.values())}")
    shutil.rmtree(os.path.join(work_root, f"out-{work.rows}"), ignore_errors=True)
    return measurements


def warm_up(spark: SparkSession, config: Config, key: MasterKey, variants: list[str], work_root: str,
            probe: MemoryProbe) -> None:
    started = time.perf_counter()
    sources = generate(spark, os.path.join(work_root, "warm-up-data"), WARM_UP_ROWS)
    work = Workload(spark, config, key, sources, WARM_UP_ROWS)
    bench_rows(work, variants, os.path.join(work_root, "warm-up"), probe, timeout=600, compare=False,
               group_prefix="warm-up ")
    shutil.rmtree(os.path.join(work_root, "warm-up-data"), ignore_errors=True)
    print(f"warm-up done in {time.perf_counter() - started:.1f} s\n")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the engine with bench/reference.yaml against a plain Delta copy and a "
        "pandas-UDF pseudonymization, in one Spark session.")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--rows", type=int, help="transaction count (accounts: rows // 8, customers: rows // 20)")
    size.add_argument("--scale", help="comma-separated transaction counts, run one after the other, "
                      "e.g. 1000000,3000000,10000000")
    parser.add_argument("--out", help="write the results to this JSON file")
    parser.add_argument("--data", help="folder of generated tables, one subfolder per row count; tables "
                        "missing there are generated and kept (default: a temporary folder)")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the temporary folder of generated tables and print its path")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated variants to run (default: {','.join(VARIANTS)})")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds after which a variant's Spark jobs are cancelled (default: 900)")
    parser.add_argument("--compare", action="store_true",
                        help="check that the pandas UDF gives the engine's pseudonyms (adds jobs after timing)")
    parser.add_argument("--master", default="local[*]", help="Spark master URL (default: local[*])")
    parser.add_argument("--driver-memory", default="4g", help="driver JVM heap, as spark.driver.memory (default: 4g)")
    parser.add_argument("--work", help="folder for outputs and the event log (default: a temporary folder)")
    args = parser.parse_args(argv)
    try:
        args.sizes = [args.rows] if args.rows else [int(text.replace("_", "")) for text in args.scale.split(",")]
    except ValueError:
        parser.error(f"--scale must be comma-separated integers, got {args.scale!r}")
    if any(rows < 1 for rows in args.sizes):
        parser.error(f"row counts must be at least 1, got {args.sizes}")
    args.variant_list = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in args.variant_list if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return args


def start_session(args: argparse.Namespace, event_log: str) -> SparkSession:
    spark = get_session("anon-engine benchmark", master=args.master, extra={
        "spark.driver.memory": args.driver_memory,
        "spark.ui.enabled": "false",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": "file://" + os.path.abspath(event_log),
        # One plain JSON-lines file, which read_event_log parses (Spark 4 rolls and compresses).
        "spark.eventLog.rolling.enabled": "false",
        "spark.eventLog.compress": "false",
    })
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def add_event_log_figures(document: dict[str, Any], event_log: str, app_id: str) -> None:
    """Add each variant's Spark jobs and task CPU time, read from the event log, to ``document``."""
    jobs = read_event_log(event_log, app_id)
    for result in document["results"]:
        for variant, entry in result["variants"].items():
            entry["jobs"] = job_breakdown(jobs.get(f"{result['rows']}:{variant}", []))
            # CPU time of the Spark tasks only: JVM threads, without the Python workers.
            entry["task_cpu_seconds"] = round(sum(job["task_cpu_seconds"] for job in entry["jobs"]), 1)
        result["ratios"].update(task_cpu_ratios(result["variants"]))


def print_engine_profiles(document: dict[str, Any]) -> None:
    for result in document["results"]:
        for text, value in result["ratios"].items():
            if text.endswith("task CPU seconds"):
                print(f"{result['rows']:,} transactions: {text}: {value:.2f}")
    for result in document["results"]:
        entry = result["variants"].get("engine")
        if entry is None:
            continue
        print(f"\nengine at {result['rows']:,} transactions: Spark jobs by phase "
              "(wall s / task CPU s / shuffle MiB)")
        for job in entry["jobs"]:
            print(f"  {job['what'][:60]:<60}{job['seconds']:>8.1f}{job['task_cpu_seconds']:>8.1f}"
                  f"{job['shuffle_write_mib']:>9.1f}")


def remove_work_folder(args: argparse.Namespace, work_root: str, data_root: str) -> None:
    """Remove the temporary work folder, except the generated tables when --keep-data asks for them."""
    if args.keep_data and not args.data:
        print(f"generated tables kept in {data_root}")
    if args.work:
        return
    keep = args.keep_data and not args.data
    for entry in os.listdir(work_root):
        if not (keep and entry == "data"):
            shutil.rmtree(os.path.join(work_root, entry), ignore_errors=True)
    if not keep:
        shutil.rmtree(work_root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    # Python workers (pandas UDFs) must run this interpreter, the one with pandas and pyarrow.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    work_root = args.work or tempfile.mkdtemp(prefix="anon-bench-")
    data_root = args.data or os.path.join(work_root, "data")
    event_log = os.path.join(work_root, "event-log")
    os.makedirs(event_log, exist_ok=True)

    spark = start_session(args, event_log)
    app_id = spark.sparkContext.applicationId
    config = load_config(str(REFERENCE_CONFIG))
    key = MasterKey(BENCH_KEY_MATERIAL, fingerprint(BENCH_KEY_MATERIAL))
    probe = MemoryProbe(spark)
    document: dict[str, Any] = {
        "command": " ".join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_description(spark),
        "source": source_state(),
        "config": str(REFERENCE_CONFIG.relative_to(REFERENCE_CONFIG.parents[1])),
        "results": [],
    }
    print(json.dumps(document["machine"], indent=None))

    try:
        warm_up(spark, config, key, args.variant_list, work_root, probe)
        for rows in args.sizes:
            sources = dataset(spark, data_root, rows)
            work = Workload(spark, config, key, sources, rows)
            measurements = bench_rows(work, args.variant_list, work_root, probe, args.timeout, args.compare)
            print_table(rows, measurements)
            document["results"].append({
                "rows": rows,
                "rows_all_tables": work.total_rows,
                "table_rows": table_sizes(rows),
                "variants": {variant: result.to_dict() for variant, result in measurements.items()},
                "ratios": ratios(measurements),
            })
            _write_json(args.out, document)
            if not args.data and not args.keep_data:
                shutil.rmtree(os.path.join(data_root, str(rows)), ignore_errors=True)
    finally:
        document["python_max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        spark.stop()

    add_event_log_figures(document, event_log, app_id)
    print_scaling(document["results"])
    print_engine_profiles(document)
    _write_json(args.out, document)
    if args.out:
        print(f"\nresults written to {args.out}")
    remove_work_folder(args, work_root, data_root)
    return 0


def _write_json(path: str | None, document: dict[str, Any]) -> None:
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")


if __name__ == "__main__":
    sys.exit(main())
