"""The production path on the bundled Synthea sample: rule file in, joinable Delta tables out."""

from __future__ import annotations

import json
from functools import reduce

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.anonymize import main
from tests.conftest import OTHER_KEY, REPO, SYNTHEA, TEST_KEY

CONFIG = str(REPO / "configs" / "synthea.yaml")
TABLES = [
    "patients", "encounters", "claims", "payer_transitions", "conditions", "allergies", "careplans",
    "devices", "imaging_studies", "immunizations", "medications", "observations", "procedures",
    "supplies", "providers", "organizations", "payers",
]
CLINICAL = ["conditions", "medications", "procedures", "observations", "immunizations", "careplans",
            "allergies", "devices", "imaging_studies", "supplies"]
# (child table, column, parent table, parent column), as listed with the Synthea data.
FOREIGN_KEYS = (
    [(t, "PATIENT", "patients", "Id") for t in ["encounters", "payer_transitions"] + CLINICAL]
    + [(t, "ENCOUNTER", "encounters", "Id") for t in CLINICAL]
    + [
        ("encounters", "ORGANIZATION", "organizations", "Id"),
        ("encounters", "PROVIDER", "providers", "Id"),
        ("encounters", "PAYER", "payers", "Id"),
        ("claims", "PATIENTID", "patients", "Id"),
        ("claims", "PROVIDERID", "providers", "Id"),
        ("claims", "SUPERVISINGPROVIDERID", "providers", "Id"),
        ("claims", "APPOINTMENTID", "encounters", "Id"),
        ("claims", "PRIMARYPATIENTINSURANCEID", "payers", "Id"),
        ("claims", "SECONDARYPATIENTINSURANCEID", "payers", "Id"),
        ("payer_transitions", "PAYER", "payers", "Id"),
        ("payer_transitions", "SECONDARY_PAYER", "payers", "Id"),
        ("medications", "PAYER", "payers", "Id"),
        ("providers", "ORGANIZATION", "organizations", "Id"),
    ]
)
# In claims, insurance id 0 means "no insurance": it references nothing, before or after.
NO_INSURANCE = "0"
DIRECT_IDENTIFIERS = {
    "patients": ["Id", "SSN", "DRIVERS", "PASSPORT", "FIRST", "LAST", "MAIDEN", "ADDRESS"],
    "payer_transitions": ["MEMBERID", "OWNERNAME"],
    "providers": ["Id", "NAME", "ADDRESS"],
    "devices": ["UDI"],
    "imaging_studies": ["Id", "SERIES_UID", "INSTANCE_UID"],
    "encounters": ["Id"],
    "claims": ["Id"],
    "careplans": ["Id"],
    "organizations": ["Id"],
    "payers": ["Id"],
}


def _run(tmp_path, name: str, key: bytes, monkeypatch) -> tuple[str, dict]:
    monkeypatch.setenv("ANON_KEY", key.hex())
    target = tmp_path / name
    report = tmp_path / f"{name}.json"
    code = main(["--config", CONFIG, "--target-root", str(target), "--report", str(report)])
    assert code == 0
    return str(target), json.loads(report.read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("e2e")
    try:
        first = _run(folder, "first", TEST_KEY, monkeypatch)
        second = _run(folder, "second", TEST_KEY, monkeypatch)
        other = _run(folder, "other_key", OTHER_KEY, monkeypatch)
    finally:
        monkeypatch.undo()
    return {"first": first, "second": second, "other": other}


# Each table is read once and cached: the checks below run ~100 small queries on the same data.
_CACHE: dict[tuple[str, str], DataFrame] = {}


def _source(spark, table: str) -> DataFrame:
    key = ("source", table)
    if key not in _CACHE:
        _CACHE[key] = spark.read.option("header", "true").csv(str(SYNTHEA / f"{table}.csv")).cache()
    return _CACHE[key]


def _output(spark, target: str, table: str) -> DataFrame:
    key = (target, table)
    if key not in _CACHE:
        _CACHE[key] = spark.read.format("delta").load(f"{target}/{table}").cache()
    return _CACHE[key]


def test_report_lists_all_17_tables(runs):
    _, report = runs["first"]
    assert report["status"] == "succeeded"
    assert [t["table"] for t in report["tables"]] == TABLES


@pytest.mark.parametrize("table", TABLES)
def test_row_counts_equal(spark, runs, table):
    target, report = runs["first"]
    source_rows = _source(spark, table).count()
    entry = next(t for t in report["tables"] if t["table"] == table)
    assert entry["rows_in"] == source_rows
    assert entry["rows_out"] == source_rows
    assert _output(spark, target, table).count() == source_rows


def _orphans(child: DataFrame, column: str, parent: DataFrame, key: str) -> int:
    references = child.select(F.col(column).alias("ref")).where(F.col("ref").isNotNull())
    return references.join(parent.select(F.col(key).alias("ref")), "ref", "left_anti").count()


@pytest.mark.parametrize("child, column, parent, key", FOREIGN_KEYS)
def test_foreign_key_joins_after_anonymization(spark, runs, child, column, parent, key):
    target, _ = runs["first"]
    before = _orphans(_source(spark, child), column, _source(spark, parent), key)
    after = _orphans(_output(spark, target, child), column, _output(spark, target, parent), key)
    sentinel_rows = _source(spark, child).where(F.col(column) == NO_INSURANCE).count()
    assert before == sentinel_rows
    assert after == before


def _stacked(frame: DataFrame) -> DataFrame:
    columns = [F.col(f"`{name}`").cast("string") for name in frame.columns]
    return frame.select(F.explode(F.array(*columns)).alias("value")).where(F.col("value").isNotNull())


def test_no_direct_identifier_value_survives(spark, runs):
    target, _ = runs["first"]
    originals = reduce(
        DataFrame.unionAll,
        [
            _source(spark, table).select(F.col(column).alias("value"))
            for table, columns in DIRECT_IDENTIFIERS.items()
            for column in columns
        ],
    ).where(F.col("value").isNotNull() & (F.col("value") != NO_INSURANCE)).distinct()
    outputs = reduce(DataFrame.unionAll, [_stacked(_output(spark, target, t)) for t in TABLES]).distinct()
    assert originals.count() > 1000
    assert originals.join(outputs, "value").count() == 0


@pytest.mark.parametrize("table", TABLES)
def test_same_key_gives_identical_tables(spark, runs, table):
    first = _output(spark, runs["first"][0], table)
    second = _output(spark, runs["second"][0], table)
    assert_df_equality(first, second, ignore_row_order=True)


def test_different_key_changes_every_pseudonym(spark, runs):
    pseudonymized = {"patients": "Id", "encounters": "Id", "claims": "Id", "providers": "NAME",
                     "payer_transitions": "MEMBERID"}
    for table, column in pseudonymized.items():
        first = _output(spark, runs["first"][0], table).select(column).where(F.col(column).isNotNull())
        other = _output(spark, runs["other"][0], table).select(column)
        assert first.count() > 0
        assert first.join(other, column).count() == 0, table


def test_patient_dates_move_together(spark, runs):
    target, _ = runs["first"]
    source = _source(spark, "patients").select(F.col("Id").alias("id"), "BIRTHDATE")
    output = _output(spark, target, "patients")
    # Days from birth to first encounter, per patient: both dates move by the patient's offset.
    offsets = (
        source.join(_source(spark, "encounters").groupBy(F.col("PATIENT").alias("id"))
                    .agg(F.min("START").alias("first_start")), "id")
        .select("id", F.datediff(F.to_date("first_start"), F.to_date("BIRTHDATE")).alias("age_days"))
    )
    shifted = (
        output.select(F.col("Id").alias("id"), "BIRTHDATE")
        .join(_output(spark, target, "encounters").groupBy(F.col("PATIENT").alias("id"))
              .agg(F.min("START").alias("first_start")), "id")
        .select(F.datediff(F.to_date("first_start"), F.to_date("BIRTHDATE")).alias("age_days"))
    )
    assert_df_equality(offsets.select("age_days"), shifted, ignore_row_order=True)


def test_commit_metadata_names_config_and_key_fingerprint(spark, runs):
    from delta.tables import DeltaTable

    target, report = runs["first"]
    history = DeltaTable.forPath(spark, f"{target}/patients").history(1).first()
    metadata = json.loads(history["userMetadata"])
    assert metadata["config_name"] == "synthea"
    assert metadata["config_sha256"] == report["config_sha256"]
    assert metadata["key_fingerprint"] == report["key_fingerprint"]
    assert metadata["engine_version"] == report["engine_version"]


def test_output_is_readable_by_delta_rs(runs):
    deltalake = pytest.importorskip("deltalake")
    target, _ = runs["first"]
    table = deltalake.DeltaTable(f"{target}/encounters")
    assert table.version() == 0
    assert table.to_pyarrow_table().num_rows == 2590
