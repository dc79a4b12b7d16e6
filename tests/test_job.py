"""jobs/anonymize.py: exit codes, messages, and that a rejected run writes nothing."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import subprocess
import sys

import pytest

from engine.keys import MIN_KEY_BYTES, decode_key, fingerprint, load_master_key
from engine.errors import KeyMaterialError
from jobs.anonymize import main
from tests.conftest import REPO, TEST_KEY, key_source

SMALL_CONFIG = """
version: 1
name: small
key: {env: ANON_KEY}
source: {format: csv, path: SOURCE}
target: {path: TARGET}
domains:
  patient: {}
tables:
  people:
    columns:
      id: {pseudonymize: {domain: patient}}
      name: {pseudonymize: {domain: patient}}
      city: keep
"""
GOOD_ROWS = "id,name,city\n1,Ada,Paris\n2,Grace,Lyon\n"


def _setup(tmp_path, rows: str = GOOD_ROWS, config: str = SMALL_CONFIG):
    source = tmp_path / "source"
    source.mkdir()
    (source / "people.csv").write_text(rows)
    target = tmp_path / "target"
    path = tmp_path / "rules.yaml"
    path.write_text(config.replace("SOURCE", str(source)).replace("TARGET", str(target)))
    return path, target


@pytest.fixture()
def with_key(monkeypatch):
    monkeypatch.setenv("ANON_KEY", TEST_KEY.hex())


def test_good_run_exits_0_and_writes(tmp_path, with_key, spark):
    config, target = _setup(tmp_path)
    assert main(["--config", str(config)]) == 0
    assert (target / "people" / "_delta_log").is_dir()


def test_usage_error_exits_2(capsys):
    assert main(["--no-such-option"]) == 2


def test_missing_rule_exits_3_and_writes_nothing(tmp_path, with_key, spark, caplog):
    config, target = _setup(tmp_path, rows="id,name,city,email\n1,Ada,Paris,a@x.org\n")
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 3
    assert not target.exists()
    assert "column 'email' has no rule" in caplog.text
    assert "rules.yaml:10: tables.people.columns.email" in caplog.text
    assert "a@x.org" not in caplog.text


def test_missing_key_exits_4_before_spark(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("ANON_KEY", raising=False)
    config, target = _setup(tmp_path)
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 4
    assert "environment variable ANON_KEY" in caplog.text
    assert "is not set" in caplog.text
    assert not target.exists()


def test_malformed_csv_row_exits_5_naming_file_and_line(tmp_path, with_key, spark, caplog):
    # Line 3 has one delimiter too many: without the check, "Secret" would land in a kept column.
    rows = "id,name,city\n1,Ada,Paris\n2,Grace,Secret,Lyon\n3,Alan,Rome\n"
    config, target = _setup(tmp_path, rows=rows)
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 5
    assert not target.exists()
    assert "1 malformed CSV row(s)" in caplog.text
    assert "people.csv line(s) 3" in caplog.text
    assert "Secret" not in caplog.text
    assert "Grace" not in caplog.text


def test_date_near_range_end_exits_5(tmp_path, with_key, spark, caplog):
    # Shifted by up to 365 days, these dates could leave 0001-01-01 .. 9999-12-31.
    rows = "id,name,city,birth\n1,Ada,Paris,1980-01-02\n2,Grace,Lyon,9999-12-25\n3,Alan,Rome,0001-01-05\n"
    shifted = SMALL_CONFIG.replace("      city: keep\n",
                                   "      city: keep\n      birth: {date_shift: {domain: patient, by: id}}\n")
    config, target = _setup(tmp_path, rows=rows, config=shifted)
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 5
    assert not target.exists()
    assert "[VALUE_REJECTED]" in caplog.text
    assert "rules.yaml:15: tables.people.columns.birth" in caplog.text
    assert "table 'people', column 'birth': 2 value(s) cannot be processed by 'date_shift'" in caplog.text
    assert "max_days (365)" in caplog.text
    assert "9999-12-25" not in caplog.text
    assert "0001-01-05" not in caplog.text
    assert "Grace" not in caplog.text


def test_draft_config_is_refused(tmp_path, with_key, caplog):
    config, target = _setup(tmp_path, config="draft: true\n" + SMALL_CONFIG)
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 3
    assert "CONFIG_IS_DRAFT" in caplog.text


# Broken sources: (case, source files, config text to replace, its replacement, problem code, the
# line whose number the message gives, text the message contains).
SOURCE_PROBLEMS = [
    ("missing CSV", {"people.csv": GOOD_ROWS}, "      city: keep\n",
     "      city: keep\n  orders:\n    columns:\n      id: keep\n",
     "SOURCE_NOT_FOUND", "  orders:", "orders.csv does not exist"),
    ("unknown declared type", {"people.csv": GOOD_ROWS}, "  people:\n",
     "  people:\n    source: {types: {city: decimall}}\n",
     "TYPE_INVALID", "types:", "'decimall' declared for column 'city' is not a Spark SQL type"),
    ("zero-byte CSV", {"people.csv": ""}, "", "", "SOURCE_EMPTY", "  people:", "people.csv is empty"),
    ("repeated header name", {"people.csv": "id,name,city,NAME\n1,Ada,Paris,Secret\n"}, "", "",
     "DUPLICATE_COLUMN", "  people:", "repeats the column name(s) 'NAME'"),
]


@pytest.mark.parametrize(
    "files, old, new, code, line_text, message",
    [case[1:] for case in SOURCE_PROBLEMS],
    ids=[case[0] for case in SOURCE_PROBLEMS],
)
def test_unreadable_source_exits_3(tmp_path, with_key, spark, caplog, files, old, new, code, line_text,
                                   message):
    config, target = _setup(tmp_path, config=SMALL_CONFIG.replace(old, new) if old else SMALL_CONFIG)
    for name, text in files.items():
        (tmp_path / "source" / name).write_text(text)
    lines = config.read_text().splitlines()
    (line,) = [number for number, text in enumerate(lines, 1) if line_text in text]
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 3
    assert f"[{code}]" in caplog.text
    assert f"rules.yaml:{line}: " in caplog.text
    assert message in caplog.text
    assert "table 'people'" in caplog.text or "table 'orders'" in caplog.text
    assert "fix: " in caplog.text
    assert "Secret" not in caplog.text
    assert "Traceback" not in caplog.text
    assert not target.exists()


def test_numbered_header_names_are_not_repeats(tmp_path, with_key, spark):
    # Spark's renamed copies end in their column index, and so do these genuine names.
    rows = "id,q1,q2\n1,yes,no\n"
    numbered = SMALL_CONFIG.replace("name: {pseudonymize: {domain: patient}}", "q1: keep")
    config, target = _setup(tmp_path, rows=rows, config=numbered.replace("city: keep", "q2: keep"))
    assert main(["--config", str(config)]) == 0


def test_mode_error_on_existing_target_exits_3(tmp_path, with_key, spark, caplog):
    from delta.tables import DeltaTable

    config, target = _setup(tmp_path)
    assert main(["--config", str(config)]) == 0
    config.write_text(config.read_text().replace("target: {path: ", "target: {mode: error, path: "))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(["--config", str(config)]) == 3
    assert "[TARGET_EXISTS]" in caplog.text
    assert "table 'people'" in caplog.text
    assert "mode 'error'" in caplog.text
    assert "rules.yaml:10: tables.people.target" in caplog.text
    assert "input checks passed" not in caplog.text
    assert DeltaTable.forPath(spark, str(target / "people")).history().count() == 1


def test_failed_table_rolls_back_written_tables(tmp_path, with_key, spark, caplog):
    """A later table failing at write time leaves an earlier table at its previous version."""
    from delta.tables import DeltaTable

    config, target = _setup(tmp_path)
    assert main(["--config", str(config)]) == 0
    # The second table's target lies under a regular file, so its write fails after every check passed.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    two_tables = SMALL_CONFIG + """
  broken:
    source: {path: people.csv}
    target: {path: BLOCKED}
    columns: {id: keep, name: keep, city: keep}
"""
    config.write_text(two_tables.replace("SOURCE", str(tmp_path / "source")).replace("TARGET", str(target))
                      .replace("BLOCKED", str(blocker / "broken")))
    assert main(["--config", str(config)]) == 1
    history = DeltaTable.forPath(spark, str(target / "people")).history()
    # Version 1 is this run's commit, version 2 restores version 0.
    assert [row["operation"] for row in history.orderBy("version").collect()] == ["WRITE", "WRITE", "RESTORE"]
    assert blocker.read_text() == ""


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "is empty"),
        ("not a key!" * 8, "neither hex nor base64"),
        ("00" * (MIN_KEY_BYTES - 1), "decodes to 31 bytes"),
        (base64.b64encode(b"k" * 16).decode(), "decodes to 16 bytes"),
    ],
)
def test_unusable_key_is_rejected_without_echo(text, reason):
    with pytest.raises(KeyMaterialError) as error:
        load_master_key(key_source("ANON_K"), environ={"ANON_K": text})
    assert reason in str(error.value)
    assert "ANON_K" in str(error.value)
    if text:
        assert text not in str(error.value)


def test_key_decodes_hex_and_base64_to_the_same_bytes():
    assert decode_key(TEST_KEY.hex(), "x") == TEST_KEY
    assert decode_key(base64.b64encode(TEST_KEY).decode(), "x") == TEST_KEY


def test_key_file_missing_names_the_file(tmp_path):
    from engine.config.model import KeySource, Where

    source = KeySource(env=None, file=str(tmp_path / "absent.key"), where=Where("t.yaml", 3, "key"))
    with pytest.raises(KeyMaterialError, match="absent.key .*does not exist"):
        load_master_key(source)


def test_fingerprint_is_short_and_one_way():
    assert len(fingerprint(TEST_KEY)) == 16
    assert TEST_KEY.hex()[:16] not in fingerprint(TEST_KEY)


def test_new_key_command_writes_a_usable_key(tmp_path):
    from engine.keys import main as keys_main

    path = tmp_path / "new.key"
    assert keys_main(["new", "--out", str(path)]) == 0
    assert len(decode_key(path.read_text(), "new.key")) == MIN_KEY_BYTES
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_new_key_command_keeps_existing_file(tmp_path, capsys):
    from engine.keys import main as keys_main

    path = tmp_path / "in-use.key"
    path.write_text("the key in use\n")
    assert keys_main(["new", "--out", str(path)]) == 2
    assert path.read_text() == "the key in use\n"
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert "in-use.key already exists" in error


def test_key_like_file_name_not_echoed():
    from engine.config.model import KeySource, Where

    # A base64 key with '/' passes the config check as a path, so loading must not echo it.
    secret = "k/" + base64.b64encode(bytes(range(40))).decode()[2:]
    assert len(decode_key(secret, "x")) >= MIN_KEY_BYTES
    source = KeySource(env=None, file=secret, where=Where("t.yaml", 3, "key"))
    with pytest.raises(KeyMaterialError) as error:
        load_master_key(source)
    assert "t.yaml:3" in str(error.value)
    assert "does not exist" in str(error.value)
    assert secret not in str(error.value)


@pytest.mark.skipif(shutil.which("bash") is None, reason="spark-submit.sh needs bash")
def test_spark_submit_script_returns_the_job_exit_code(tmp_path):
    config, target = _setup(tmp_path)
    # No ANON_KEY in this environment; HOME stays so that --packages reuses the Ivy cache.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)),
           "PYTHON": sys.executable}
    result = subprocess.run(
        [str(REPO / "spark-submit.sh"), "--", "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 4, result.stderr[-2000:]
    # Spark's PythonRunner merges the job's stderr into its own stdout.
    assert "environment variable ANON_KEY" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "expression, code",
    [
        ("upper(no_such_column)", "EXPRESSION_INVALID"),  # typo in a column name
        ("NULL", "EXPRESSION_UNTYPED"),  # Delta would drop a column of type void
        # Key columns do not exist where sql rules are evaluated.
        ("hex(__anon_key_0_i)", "EXPRESSION_INVALID"),
        # In local mode the executor is the driver process, whose environment contains the key.
        ("reflect('java.lang.System', 'getenv', 'ANON_KEY')", "SQL_FORBIDDEN"),
        ("upper(system.builtin.java_method('java.lang.System', 'getenv', 'ANON_KEY'))", "SQL_FORBIDDEN"),
        # Spellings the name check misses, caught in the resolved expression tree.
        ("IDENTIFIER('java_method')('java.lang.System', 'getenv', 'ANON_KEY')", "SQL_FORBIDDEN"),
        ("java_method/**/('java.lang.System', 'getenv', 'ANON_KEY')", "SQL_FORBIDDEN"),
        # A subquery can read any file, the key file included.
        ("(SELECT max(value) FROM text.`/etc/hostname`)", "SQL_FORBIDDEN"),
        ("upper(city || (SELECT 'x'))", "SQL_FORBIDDEN"),
    ],
)
def test_bad_sql_rule_is_a_config_error(tmp_path, with_key, spark, caplog, expression, code):
    broken = SMALL_CONFIG.replace("city: keep", f'city: {{sql: {{expr: "{expression}"}}}}')
    config, target = _setup(tmp_path, config=broken)
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 3
    assert code in caplog.text
    assert "rules.yaml:14: tables.people.columns.city" in caplog.text
    assert not target.exists()


def test_sql_rule_sees_only_source_columns(tmp_path, with_key, spark):
    every_field = SMALL_CONFIG.replace("city: keep", 'city: {sql: {expr: "to_json(struct(*))"}}')
    config, target = _setup(tmp_path, config=every_field)
    assert main(["--config", str(config)]) == 0
    rows = spark.read.format("delta").load(str(target / "people")).collect()
    fields = {name for row in rows for name in json.loads(row["city"])}
    assert fields == {"id", "name", "city"}


def test_source_column_with_the_engine_prefix_is_refused(tmp_path, with_key, caplog):
    rows = "id,name,__anon_key_0_i\n1,Ada,x\n"
    config, target = _setup(tmp_path, rows=rows, config=SMALL_CONFIG.replace("city: keep", "__anon_key_0_i: keep"))
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 3
    assert "COLUMN_RESERVED" in caplog.text
    assert not target.exists()


# 300 ids in 8-bit pseudonyms must collide. In 31-bit pseudonyms they collide with a chance
# near 2e-5, so the check runs, and finds nothing with the test key.
TINY_DOMAIN = SMALL_CONFIG.replace("patient: {}", "patient: {type: integer, format: integer, bits: BITS}").replace(
    "name: {pseudonymize: {domain: patient}}", "name: keep")
MANY_IDS = "id,name,city\n" + "".join(f"{n},n{n},c{n % 7}\n" for n in range(300))


@pytest.mark.parametrize("bits, code", [(8, 5), (31, 0)])
def test_collision_check_narrow_domain(tmp_path, with_key, caplog, bits, code):
    config, target = _setup(tmp_path, rows=MANY_IDS, config=TINY_DOMAIN.replace("BITS", str(bits)))
    with caplog.at_level(logging.INFO):
        assert main(["--config", str(config)]) == code
    if code:
        assert "PSEUDONYM_COLLISION" in caplog.text
        assert "rules.yaml:8: domains.patient" in caplog.text
        assert not target.exists()
    else:
        assert "collision check skipped" not in caplog.text


def test_collision_check_skips_wide_domains(tmp_path, with_key, caplog):
    config, _ = _setup(tmp_path, rows=MANY_IDS, config=SMALL_CONFIG.replace("patient: {}", "patient: {bits: 128}"))
    with caplog.at_level(logging.INFO):
        assert main(["--config", str(config)]) == 0
    assert "collision check skipped for 1 domain(s)" in caplog.text
    assert "): patient" in caplog.text


def test_failing_sql_rule_rejected_unquoted(tmp_path, with_key, caplog):
    casting = SMALL_CONFIG.replace("city: keep", 'city: {sql: {expr: "CAST(city AS INT)"}}')
    config, target = _setup(tmp_path, config=casting)
    with caplog.at_level(logging.INFO):
        assert main(["--config", str(config)]) == 5
    assert "SQL_FAILED" in caplog.text
    assert "CAST_INVALID_INPUT" in caplog.text
    assert "rules.yaml:14: tables.people.columns.city" in caplog.text
    assert "Paris" not in caplog.text
    assert "Lyon" not in caplog.text
    assert not target.exists()


def test_fingerprint_command_does_not_echo_a_typed_key(capsys):
    from engine.keys import main as keys_main

    typed = TEST_KEY.hex()
    assert keys_main(["fingerprint", "--env", typed]) == 2
    captured = capsys.readouterr()
    assert typed not in captured.err + captured.out
    assert "looks like key material" in captured.err


def test_dotted_column_name_is_one_column(tmp_path, with_key, spark):
    rows = "id,name,a.b\n1,Ada,x\n2,Grace,y\n"
    dotted = SMALL_CONFIG.replace("city: keep", "a.b: {pseudonymize: {domain: patient}}")
    config, target = _setup(tmp_path, rows=rows, config=dotted)
    assert main(["--config", str(config)]) == 0
    written = spark.read.format("delta").load(str(target / "people"))
    assert written.columns == ["id", "name", "a.b"]
    assert written.where("`a.b` IN ('x', 'y')").count() == 0


def test_nondeterministic_sql_rule_runs(tmp_path, with_key, spark):
    random_city = SMALL_CONFIG.replace("city: keep", 'city: {sql: {expr: "uuid()"}}')
    config, target = _setup(tmp_path, config=random_city)
    assert main(["--config", str(config)]) == 0
    assert spark.read.format("delta").load(str(target / "people")).where("city IS NULL").count() == 0


def test_every_failing_sql_rule_is_named(tmp_path, with_key, caplog):
    two_failing = SMALL_CONFIG.replace("name: {pseudonymize: {domain: patient}}", 'name: {sql: {expr: "CAST(name AS INT)"}}').replace(
        "city: keep", 'city: {sql: {expr: "CAST(city AS INT)"}}')
    config, target = _setup(tmp_path, config=two_failing)
    with caplog.at_level(logging.INFO):
        assert main(["--config", str(config)]) == 5
    assert "tables.people.columns.name" in caplog.text
    assert "tables.people.columns.city" in caplog.text
    assert not target.exists()


def test_integer_domain_mixed_widths(tmp_path, with_key, caplog):
    # id is read as INT (31 bits) and name stays text (63 bits), both in one integer domain.
    mixed = SMALL_CONFIG.replace("path: SOURCE}", "path: SOURCE, types: {id: int}}").replace(
        "patient: {}", "patient: {type: integer, format: integer}")
    config, target = _setup(tmp_path, rows="id,name,city\n1,1,Paris\n", config=mixed)
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(config)]) == 3
    assert "DOMAIN_WIDTH_MIXED" in caplog.text
    assert "people.id (31 bits), people.name (63 bits)" in caplog.text
    assert not target.exists()
