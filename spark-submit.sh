#!/usr/bin/env bash
# Submit an anonymization job to Spark: the entry point schedulers call.
#
#   ./spark-submit.sh [spark-submit options ...] -- [job arguments ...]
#   ./spark-submit.sh --config configs/synthea.yaml            # no "--": all arguments go to the job
#
# The script packages engine/ for --py-files, adds the Delta package and the session settings the
# engine relies on, uses --master local[*] when no master is given, and exits with the job's code.
# ANON_JOB selects another job file (default jobs/anonymize.py). ANON_SPARK_JARS, a comma-separated
# list of local jars, replaces --packages where Maven Central is out of reach. The engine's HMAC
# jar is built with javac on first use (python -m engine.jvm) and passed with --jars.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
job="${ANON_JOB:-$here/jobs/anonymize.py}"
delta_package="io.delta:delta-spark_4.2_2.13:4.4.0"

spark_options=()
job_arguments=()
if [[ " $* " == *" -- "* ]]; then
  while [[ $# -gt 0 && "$1" != "--" ]]; do spark_options+=("$1"); shift; done
  shift
fi
job_arguments=("$@")

if [[ -n "${SPARK_HOME:-}" && -x "$SPARK_HOME/bin/spark-submit" ]]; then
  submit="$SPARK_HOME/bin/spark-submit"
else
  python="${PYTHON:-python3}"
  [[ -x "$here/.venv/bin/python" && -z "${PYTHON:-}" ]] && python="$here/.venv/bin/python"
  pyspark_home="$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')" || {
    echo "spark-submit.sh: pyspark not found; run 'make install' or set SPARK_HOME" >&2
    exit 2
  }
  submit="$pyspark_home/bin/spark-submit"
  export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$python}"
fi

# The engine travels to executors as a zip, so clusters need no install step.
build="$here/build"
mkdir -p "$build"
archive="$build/engine.zip"
rm -f "$archive"
(cd "$here" && "${PYSPARK_PYTHON:-python3}" - "$archive" <<'PY'
import pathlib, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as archive:
    for path in sorted(pathlib.Path("engine").rglob("*")):
        if path.suffix in {".py", ".json"} and "__pycache__" not in path.parts:
            archive.write(path)
PY
)

has_master=false
for option in "${spark_options[@]+"${spark_options[@]}"}"; do
  [[ "$option" == "--master" || "$option" == --master=* ]] && has_master=true
done
defaults=()
$has_master || defaults+=(--master "local[*]")
# The engine's HMAC function (engine/java); without javac the job uses Spark built-ins.
hmac_jar="$(cd "$here" && "${PYSPARK_PYTHON:-python3}" -m engine.jvm)" || hmac_jar=""
jars="${ANON_SPARK_JARS:-}"
[[ -n "$hmac_jar" ]] && jars="${jars:+$jars,}$hmac_jar"
[[ -n "$jars" ]] && defaults+=(--jars "$jars")
[[ -z "${ANON_SPARK_JARS:-}" ]] && defaults+=(--packages "$delta_package")
defaults+=(
  --py-files "$archive"
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog
  --conf "spark.sql.redaction.string.regex=(?i)0x[0-9a-f]{16,}"
  --conf spark.sql.session.timeZone=UTC
  --conf spark.ui.showConsoleProgress=false
  --driver-java-options "-Dlog4j2.configurationFile=file:$here/conf/log4j2.properties"
)

set +e
"$submit" "${defaults[@]}" "${spark_options[@]+"${spark_options[@]}"}" "$job" "${job_arguments[@]+"${job_arguments[@]}"}"
status=$?
set -e
exit "$status"
