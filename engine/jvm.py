"""The engine's JVM functions: HMAC-SHA256 in one call, compiled from engine/java with javac.

One function returns the hex text, the other the first 64 bits as a BIGINT. Both give what the
built-in form in engine.pseudonym (sha2, concat, unhex, conv) gives, at a fraction of its cost.
Where the jar is missing (no javac, a cluster without the library), the engine falls back to
the built-ins: the pseudonyms are the same, only slower.

    python -m engine.jvm        # builds build/anon-engine-jvm.jar if needed and prints its path
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql import types as T

log = logging.getLogger("engine.jvm")

SOURCE_ROOT = Path(__file__).parent / "java"
FUNCTION = "anon_hmac_sha256_hex"
LONG_FUNCTION = "anon_hmac_sha256_long"
# Function name -> (Java class, Spark return type).
FUNCTIONS = {
    FUNCTION: ("org.anonengine.spark.HmacSha256Hex", T.StringType()),
    LONG_FUNCTION: ("org.anonengine.spark.HmacSha256Long", T.LongType()),
}
# Environment variable with the jar's path. The value "off" makes sessions and spark-submit.sh
# leave the jar out.
JAR_ENV = "ANON_JVM_JAR"
JAR_OFF = "off"


def jar_path() -> Path | None:
    configured = os.environ.get(JAR_ENV)
    if configured == JAR_OFF:
        return None
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "build" / "anon-engine-jvm.jar"


def _javac() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "javac").is_file():
        return str(Path(java_home) / "bin" / "javac")
    return shutil.which("javac")


def build(jar: Path | None = None) -> Path | None:
    """Return the jar, compiling it first when it is missing or older than its sources.

    Returns None when ANON_JVM_JAR is "off", and with a log line when there is no javac or the
    compilation fails.
    """
    jar = jar or jar_path()
    if jar is None:
        return None
    sources = sorted(SOURCE_ROOT.rglob("*.java"))
    newest = max(source.stat().st_mtime for source in sources)
    if jar.is_file() and jar.stat().st_mtime >= newest:
        return jar
    javac = _javac()
    if javac is None:
        log.info("no javac found: the engine will use Spark built-ins for HMAC (slower, same output)")
        return None
    import pyspark

    classpath = str(Path(pyspark.__file__).parent / "jars" / "*")
    with tempfile.TemporaryDirectory() as classes:
        compiled = subprocess.run(
            [javac, "--release", "17", "-nowarn", "-cp", classpath, "-d", classes, *map(str, sources)],
            capture_output=True, text=True, check=False,
        )
        if compiled.returncode != 0:
            log.warning("javac failed, so HMAC uses Spark built-ins: %s", compiled.stderr.strip()[:500])
            return None
        try:
            _write_jar(Path(classes), jar)
        except OSError as exc:
            # An installed package may sit in a read-only folder: set ANON_JVM_JAR to a writable path.
            log.warning("cannot write %s (%s), so HMAC uses Spark built-ins; set %s to a writable path",
                        jar, exc.strerror or type(exc).__name__, JAR_ENV)
            return None
    return jar


def _write_jar(classes: Path, jar: Path) -> None:
    jar.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed, because two runs may build at the same time.
    handle, partial = tempfile.mkstemp(dir=jar.parent, suffix=".jar.part")
    os.close(handle)
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        for path in sorted(classes.rglob("*.class")):
            archive.write(path, path.relative_to(classes).as_posix())
    # mkstemp creates the file with mode 600; other users of a shared install must read the jar.
    os.chmod(partial, 0o644)
    os.replace(partial, jar)


def register(spark: SparkSession) -> bool:
    """Register the HMAC functions in ``spark`` if their classes are on the classpath.

    Returns whether they are. Without the jar nothing is registered and plans use built-ins.
    """
    # get_session() configures the active session on every call; check the jar only once.
    if _registered(spark):
        return True
    for name, (class_name, return_type) in FUNCTIONS.items():
        try:
            spark.udf.registerJavaFunction(name, class_name, return_type)
        except PySparkException:
            log.info("%s is not on the classpath: HMAC uses Spark built-ins (slower, same output)", class_name)
            return False
    # A stale or foreign jar with the same class names would change every pseudonym silently.
    if not _known_answer_matches(spark):
        log.warning("the HMAC jar on the classpath gives wrong results, so HMAC uses Spark built-ins; "
                    "rebuild it with python -m engine.jvm")
        for name in FUNCTIONS:
            spark.sql(f"DROP TEMPORARY FUNCTION IF EXISTS {name}")
        return False
    return True


# A fixed test key and message (not secrets) for the known-answer check of the jar.
_TEST_KEY = bytes(range(32))
_TEST_MESSAGE = b"anon-engine known answer"


def _known_answer_matches(spark: SparkSession) -> bool:
    from pyspark.sql import functions as F

    from engine.pseudonym import padded_keys

    digest = hmac.new(_TEST_KEY, _TEST_MESSAGE, hashlib.sha256).digest()
    inner, outer = (F.lit(key) for key in padded_keys(_TEST_KEY))
    message = F.lit(_TEST_MESSAGE)
    try:
        row = spark.range(1).select(
            F.call_function(FUNCTION, inner, outer, message).alias("text"),
            F.call_function(LONG_FUNCTION, inner, outer, message).alias("number"),
        ).first()
    except PySparkException:
        return False
    return row is not None and row["text"] == digest.hex() and \
        row["number"] == int.from_bytes(digest[:8], "big", signed=True)


def ready() -> bool:
    """Tell whether the active session has the HMAC functions, so that plans may call them."""
    spark = SparkSession.getActiveSession()
    return spark is not None and _registered(spark)


def _registered(spark: SparkSession) -> bool:
    return all(spark.catalog.functionExists(name) for name in FUNCTIONS)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="engine.jvm: %(message)s", stream=sys.stderr)
    built = build()
    if built is None:
        sys.exit(1)
    print(built)
