"""No key material anywhere a run leaves traces: event log, plans, logs, report, Delta log, errors.

The job runs through spark-submit.sh, as a scheduler would run it, with the Spark event log on.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import load_config
from engine.keys import MasterKey, fingerprint
from engine.pseudonym import padded_keys
from tests.conftest import REPO, TEST_KEY

SYNTHEA_CONFIG = REPO / "configs" / "synthea.yaml"
FAILING_CONFIG = """
version: 1
name: failing
key: {env: ANON_KEY}
source: {format: csv, path: SOURCE}
target: {path: TARGET}
domains:
  person: {}
tables:
  people:
    columns:
      id: {pseudonymize: {domain: person}}
      name: {sql: {expr: "CASE WHEN id IS NOT NULL THEN raise_error('stop here') ELSE name END"}}
"""


def _spellings(material: bytes) -> set[str]:
    """Hex (both cases) and base64 spellings of some bytes, as a leak could show them."""
    return {material.hex(), material.hex().upper(), base64.b64encode(material).decode("ascii")}


def _secrets() -> set[str]:
    key = MasterKey(TEST_KEY, fingerprint(TEST_KEY))
    config = load_config(str(SYNTHEA_CONFIG))
    secrets = _spellings(TEST_KEY)
    for domain in list(config.domains) + ["person"]:
        for purpose in ("pseudonymize", "date_shift"):
            subkey = key.subkey(purpose, domain)
            secrets |= _spellings(subkey)
            # The padded HMAC keys are the literals that actually enter the plan.
            for padded in padded_keys(subkey):
                secrets |= _spellings(padded)
    return secrets


# How the plan of each HMAC form starts, with the first key column as its first argument.
HMAC_CALLS = {"jvm": "anon_hmac_sha256_hex(__anon_key_0_i", "builtin": "sha2(concat(__anon_key_0_i"}


def _submit(tmp_path: Path, name: str, job_args: list[str], form: str) -> subprocess.CompletedProcess:
    events = tmp_path / "events"
    events.mkdir(exist_ok=True)
    env = dict(os.environ, ANON_KEY=TEST_KEY.hex(), PYTHON=sys.executable)
    if form == "builtin":
        env["ANON_JVM_JAR"] = "off"
    command = [
        str(REPO / "spark-submit.sh"),
        "--conf", "spark.eventLog.enabled=true",
        "--conf", f"spark.eventLog.dir=file://{events}",
        "--conf", "spark.eventLog.compress=false",
        "--conf", "spark.sql.shuffle.partitions=4",
        "--", *job_args,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    (tmp_path / f"{name}.log").write_text(result.stdout + result.stderr)
    return result


@pytest.fixture(scope="module", params=sorted(HMAC_CALLS))
def traces(request, tmp_path_factory) -> Path:
    form = request.param
    folder = tmp_path_factory.mktemp(f"hygiene-{form}")
    (folder / "form.txt").write_text(form)
    ok = _submit(folder, "ok", [
        "--config", str(SYNTHEA_CONFIG), "--tables", "patients,encounters,claims",
        "--target-root", str(folder / "lake"), "--report", str(folder / "report.json"),
        "--explain", str(folder / "explain.txt"),
    ], form)
    assert ok.returncode == 0, ok.stdout[-3000:]
    source = folder / "source"
    source.mkdir()
    (source / "people.csv").write_text("id,name\n1,Ada\n")
    config = folder / "failing.yaml"
    config.write_text(FAILING_CONFIG.replace("SOURCE", str(source)).replace("TARGET", str(folder / "failed")))
    failed = _submit(folder, "failed", ["--config", str(config), "--debug"], form)
    assert failed.returncode == 5  # the sql rule fails in the checks, before any write
    return folder


def test_traces_exist(traces):
    assert list((traces / "events").iterdir())
    assert HMAC_CALLS[(traces / "form.txt").read_text()] in (traces / "explain.txt").read_text()
    assert (traces / "lake" / "patients" / "_delta_log").is_dir()
    assert "Traceback" in (traces / "failed.log").read_text()


def test_no_key_material_in_any_trace(traces):
    secrets = _secrets()
    assert len(secrets) > 100
    leaks = []
    for path in sorted(traces.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for secret in secrets:
            if secret in text:
                leaks.append(f"{path.relative_to(traces)} contains key material")
                break
    assert leaks == []


def test_plans_name_key_columns_instead_of_literals(traces):
    text = (traces / "explain.txt").read_text()
    assert HMAC_CALLS[(traces / "form.txt").read_text()] in text
    assert "0x" not in text
