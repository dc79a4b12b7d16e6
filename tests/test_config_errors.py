"""Config problems, each with a stable code, the file, the line and the key path of the mistake.

Most tests edit one line of VALID, a rule file that loads cleanly, and check the single problem
that the edit causes. Schema checks compare the same file with a source schema; they need no
Spark job, except the one test that applies a plan.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import types as T

from engine.compile import check_schemas, compile_table
from engine.config import config_from_text, load_config
from engine.errors import ConfigError, Problem

FIXTURES = Path(__file__).parent / "fixtures"
FILE = "rules.yaml"
VALID = """\
version: 1
name: errors
key: {env: ANON_KEY}
target: {path: lake/errors}
domains:
  patient: {prefix: "PAT-"}
  ssn: {}
tables:
  patients:
    columns:
      Id: {pseudonymize: {domain: patient}}
      SSN: {pseudonymize: {domain: ssn}}
      BIRTHDATE: {date_shift: {domain: patient, by: Id}}
      AGE: {generalize: {bucket: 10}}
"""
PATIENTS = T.StructType(
    [
        T.StructField("Id", T.StringType()),
        T.StructField("SSN", T.StringType()),
        T.StructField("BIRTHDATE", T.DateType()),
        T.StructField("AGE", T.IntegerType()),
    ]
)


def edit(old: str, new: str) -> str:
    """Return VALID with the line ``old`` replaced by ``new``."""
    assert old in VALID, f"VALID has no line {old!r}"
    return VALID.replace(old, new)


def line_of(text: str, fragment: str) -> int:
    """Return the 1-based number of the only line of ``text`` that contains ``fragment``."""
    (number,) = [number for number, line in enumerate(text.splitlines(), 1) if fragment in line]
    return number


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        config_from_text(text, FILE)
    return caught.value.problems


def only_problem(text: str) -> Problem:
    problems = problems_of(text)
    assert [problem.code for problem in problems] == [problems[0].code], problems
    return problems[0]


def schema_problems(text: str, schema: T.StructType) -> list[Problem]:
    config = config_from_text(text, FILE)
    with pytest.raises(ConfigError) as caught:
        check_schemas(config, {"patients": schema})
    return caught.value.problems


def with_field(name: str, dtype: T.DataType) -> T.StructType:
    """Return PATIENTS with the field ``name`` added or retyped."""
    fields = [field for field in PATIENTS.fields if field.name != name]
    return T.StructType(fields + [T.StructField(name, dtype)])


def assert_located(problem: Problem, code: str, line: int | None, path: str) -> None:
    assert problem.code == code
    assert problem.file == FILE
    assert problem.line == line
    assert problem.path == path
    assert str(problem).startswith(f"{FILE}:{line}: {path}" if path else f"{FILE}:{line}: ")


def test_valid_config_has_no_problems():
    config = config_from_text(VALID, FILE)

    check_schemas(config, {"patients": PATIENTS})
    assert list(config.tables["patients"].rules) == ["Id", "SSN", "BIRTHDATE", "AGE"]


# --- file checks -----------------------------------------------------------------------------


def test_yaml_syntax_error():
    text = edit("      SSN: {pseudonymize: {domain: ssn}}", "      SSN: keep: now")

    problem = only_problem(text)

    # The document has no structure yet, so there is no key path.
    assert_located(problem, "YAML_SYNTAX", line_of(text, "SSN: keep: now"), "")
    assert "mapping values are not allowed" in problem.message


def test_duplicate_key():
    text = edit("      AGE: {generalize: {bucket: 10}}", "      AGE: {generalize: {bucket: 10}}\n      SSN: keep")

    problem = only_problem(text)

    assert_located(problem, "DUPLICATE_KEY", line_of(text, "SSN: keep"), "tables.patients.columns.SSN")
    assert "'SSN' appears twice" in problem.message


def test_unknown_top_level_key_suggests_name():
    text = edit("name: errors", "name: errors\ndescripton: typo")

    problem = only_problem(text)

    assert_located(problem, "UNKNOWN_KEY", line_of(text, "descripton"), "descripton")
    assert problem.fix == "did you mean 'description'?"


def test_unknown_table_key_suggests_name():
    text = edit("  patients:", "  patients:\n    quasi_identifer: [AGE]")

    problem = only_problem(text)

    assert_located(problem, "UNKNOWN_KEY", line_of(text, "quasi_identifer"), "tables.patients.quasi_identifer")
    assert problem.fix == "did you mean 'quasi_identifiers'?"


def test_unknown_technique_suggests_name():
    text = edit("      SSN: {pseudonymize: {domain: ssn}}", "      SSN: pseudonymise")

    problem = only_problem(text)

    assert_located(problem, "UNKNOWN_TECHNIQUE", line_of(text, "SSN:"), "tables.patients.columns.SSN")
    assert "'pseudonymise'" in problem.message
    assert problem.fix == "did you mean 'pseudonymize'?"


def test_unknown_parameter_suggests_name():
    text = edit("      AGE: {generalize: {bucket: 10}}", "      AGE: {generalize: {buckets: 10}}")

    problem = only_problem(text)

    assert_located(problem, "PARAM_UNKNOWN", line_of(text, "AGE:"), "tables.patients.columns.AGE.generalize.buckets")
    assert problem.fix == "did you mean 'bucket'?"


def test_wrong_parameter_type():
    text = edit("      AGE: {generalize: {bucket: 10}}", "      AGE: {generalize: {bucket: ten}}")

    problem = only_problem(text)

    assert_located(problem, "PARAM_TYPE", line_of(text, "AGE:"), "tables.patients.columns.AGE.generalize.bucket")
    assert "must be integer or number, got text" in problem.message


def test_missing_required_parameter():
    text = edit("      BIRTHDATE: {date_shift: {domain: patient, by: Id}}",
                "      BIRTHDATE: {date_shift: {domain: patient}}")

    problem = only_problem(text)

    assert_located(problem, "PARAM_MISSING", line_of(text, "BIRTHDATE:"), "tables.patients.columns.BIRTHDATE.date_shift")
    assert "requires parameter 'by'" in problem.message


def test_unknown_domain_suggests_name():
    text = edit("      SSN: {pseudonymize: {domain: ssn}}", "      SSN: {pseudonymize: {domain: snn}}")

    problem = only_problem(text)

    assert_located(problem, "UNKNOWN_DOMAIN", line_of(text, "SSN:"), "tables.patients.columns.SSN.pseudonymize.domain")
    assert problem.fix.startswith("did you mean 'ssn'?")


@pytest.mark.parametrize(
    ("written", "secret"),
    [
        ("'c2VjcmV0LWtleS1tYXRlcmlhbC0wMTIzNDU2Nzg5YWJjZGVm'", "c2VjcmV0LWtleS1tYXRlcmlhbC0wMTIzNDU2Nzg5YWJjZGVm"),
        ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
         "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ("1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890"),  # YAML int
        ("!!binary c2VjcmV0LWtleS1tYXRlcmlhbA==", "c2VjcmV0LWtleS1tYXRlcmlhbA=="),  # YAML bytes
    ],
)
def test_inline_key_rejected_without_echo(written, secret):
    text = edit("key: {env: ANON_KEY}", f"key: {written}")

    with pytest.raises(ConfigError) as caught:
        config_from_text(text, FILE)

    (problem,) = caught.value.problems
    assert_located(problem, "KEY_INLINE", line_of(text, "key:"), "key")
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value.problems)


# A base64 key without '/' and a hex key: both are key material, not a file or variable name.
KEY_LIKE_NAMES = ["bxbp57qMrwcatxnYvfdSPN5cGdO4x66ALMpzSG5e9fI=", "ab" * 32]


@pytest.mark.parametrize("secret", KEY_LIKE_NAMES)
def test_key_in_file_field_rejected(secret):
    text = edit("key: {env: ANON_KEY}", f"key: {{file: '{secret}'}}")

    with pytest.raises(ConfigError) as caught:
        config_from_text(text, FILE)

    (problem,) = caught.value.problems
    assert_located(problem, "KEY_INLINE", line_of(text, "key:"), "key.file")
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value.problems)


@pytest.mark.parametrize("secret", KEY_LIKE_NAMES)
def test_key_in_env_field_rejected(secret):
    text = edit("key: {env: ANON_KEY}", f"key: {{env: '{secret}'}}")

    with pytest.raises(ConfigError) as caught:
        config_from_text(text, FILE)

    (problem,) = caught.value.problems
    assert_located(problem, "KEY_INLINE", line_of(text, "key:"), "key.env")
    assert secret not in str(caught.value)


@pytest.mark.parametrize("path", ["/run/secrets/anon.key", "anon.key", "keys/" + "ab" * 32])
def test_key_file_path_accepted(path):
    config = config_from_text(edit("key: {env: ANON_KEY}", f"key: {{file: '{path}'}}"), FILE)

    assert config.key.file == path


def test_key_with_env_and_file():
    text = edit("key: {env: ANON_KEY}", "key: {env: ANON_KEY, file: /run/secrets/anon.key}")

    problem = only_problem(text)

    assert_located(problem, "KEY_SOURCE", line_of(text, "key:"), "key")
    assert "exactly one of 'env' or 'file'" in problem.message


def test_missing_key_section():
    text = edit("key: {env: ANON_KEY}\n", "")

    problem = only_problem(text)

    # A missing section has no line of its own, so the problem points at the file's first line.
    assert_located(problem, "MISSING_KEY", 1, "key")
    assert problem.message.startswith("'key' is required")


@pytest.mark.parametrize(
    "domain",
    [
        "{bits: 30}",  # hex needs 32 to 256
        "{bits: 130}",  # hex needs a multiple of 4
        "{format: base32, bits: 64}",  # base32 needs a multiple of 5
        "{type: integer, format: integer, bits: 64}",  # integer needs 8 to 63
        "{bits: '128'}",  # text, not a number
    ],
)
def test_bad_bits(domain):
    text = edit("  ssn: {}", f"  ssn: {domain}")

    problem = only_problem(text)

    assert_located(problem, "INVALID_BITS", line_of(text, "ssn: {"), "domains.ssn.bits")


def test_generalize_with_two_modes():
    text = edit("      AGE: {generalize: {bucket: 10}}", "      AGE: {generalize: {bucket: 10, round: -1}}")

    problem = only_problem(text)

    assert_located(problem, "PARAM_CHOICE", line_of(text, "AGE:"), "tables.patients.columns.AGE.generalize")
    assert "exactly one of date, bucket, round, prefix, got 2" in problem.message


def test_empty_rule():
    text = edit("      SSN: {pseudonymize: {domain: ssn}}", "      SSN:")

    problem = only_problem(text)

    assert_located(problem, "RULE_SHAPE", line_of(text, "SSN:"), "tables.patients.columns.SSN")


def test_bare_null_names_null_technique():
    # YAML reads a bare `null` as no value, but here it names the technique.
    config = config_from_text(edit("      SSN: {pseudonymize: {domain: ssn}}", "      SSN: null"), FILE)

    assert config.tables["patients"].rules["SSN"].technique == "null"


def test_merge_key_shares_rule_parameters():
    text = edit("domains:", "x-shift: &shift {domain: patient, by: Id, max_days: 30}\ndomains:")
    text = text.replace("{date_shift: {domain: patient, by: Id}}", "{date_shift: {<<: *shift, max_days: 90}}")

    config = config_from_text(text, FILE)

    # The mapping's own max_days overrides the merged one, as YAML merge keys define.
    assert config.tables["patients"].rules["BIRTHDATE"].params == {"domain": "patient", "by": "Id", "max_days": 90}


def test_file_problems_collected_together():
    path = FIXTURES / "three_mistakes.yaml"
    text = path.read_text()

    with pytest.raises(ConfigError) as caught:
        load_config(str(path))

    problems = caught.value.problems
    assert [problem.code for problem in problems] == ["UNKNOWN_KEY", "UNKNOWN_TECHNIQUE", "PARAM_TYPE"]
    assert [problem.line for problem in problems] == [
        line_of(text, "descripton:"),
        line_of(text, "SSN:"),
        line_of(text, "AGE:"),
    ]
    assert [problem.path for problem in problems] == [
        "descripton",
        "tables.patients.columns.SSN",
        "tables.patients.columns.AGE.generalize.bucket",
    ]
    assert {problem.file for problem in problems} == {str(path)}
    assert str(caught.value).startswith("3 config problem(s):")


# --- schema checks ---------------------------------------------------------------------------


def test_columns_without_rules_listed_together():
    schema = T.StructType(PATIENTS.fields + [T.StructField("PHONE", T.StringType()),
                                             T.StructField("EMAIL", T.StringType())])

    problems = schema_problems(VALID, schema)

    assert [problem.code for problem in problems] == ["RULE_MISSING", "RULE_MISSING"]
    assert_located(problems[0], "RULE_MISSING", line_of(VALID, "patients:"), "tables.patients.columns.PHONE")
    assert_located(problems[1], "RULE_MISSING", line_of(VALID, "patients:"), "tables.patients.columns.EMAIL")


def test_rule_for_missing_column_suggests_name():
    text = edit("      SSN: {pseudonymize: {domain: ssn}}", "      SNS: {pseudonymize: {domain: ssn}}")

    problems = schema_problems(text, PATIENTS)

    (missing_column,) = [problem for problem in problems if problem.code == "COLUMN_NOT_FOUND"]
    assert_located(missing_column, "COLUMN_NOT_FOUND", line_of(text, "SNS:"), "tables.patients.columns.SNS")
    assert missing_column.fix == "did you mean 'SSN'?"
    # The source column the misspelled rule was meant for has no rule now.
    assert [problem.path for problem in problems if problem.code == "RULE_MISSING"] == ["tables.patients.columns.SSN"]


def test_rule_matches_column_case_insensitively(spark, master_key):
    text = edit("      SSN: {pseudonymize: {domain: ssn}}", "      ssn: {pseudonymize: {domain: ssn}}")
    config = config_from_text(text, FILE)

    check_schemas(config, {"patients": PATIENTS})
    plan = compile_table(config.tables["patients"], PATIENTS, config, master_key)
    output = plan.apply(spark.createDataFrame([], PATIENTS))

    # The output keeps the source column's spelling, not the rule's.
    assert output.columns == ["Id", "SSN", "BIRTHDATE", "AGE"]


def test_rule_names_differing_in_case():
    text = edit("      AGE: {generalize: {bucket: 10}}", "      AGE: {generalize: {bucket: 10}}\n      ssn: drop")

    problems = schema_problems(text, PATIENTS)

    assert [problem.code for problem in problems] == ["RULE_DUPLICATE"]
    assert_located(problems[0], "RULE_DUPLICATE", line_of(text, "ssn: drop"), "tables.patients.columns.ssn")


@pytest.mark.parametrize(
    ("column", "dtype", "rule"),
    [
        ("AGE", T.IntegerType(), "{mask: {keep_last: 1}}"),  # mask needs text
        ("AGE", T.IntegerType(), "{generalize: {prefix: 1}}"),  # prefix needs text
        ("AGE", T.IntegerType(), "{date_shift: {domain: patient, by: Id}}"),
        ("AGE", T.DoubleType(), "{generalize: {date: year}}"),
        ("BIRTHDATE", T.DateType(), "{generalize: {bucket: 10}}"),  # bucket needs a number
        ("BIRTHDATE", T.DateType(), "{pseudonymize: {domain: number}}"),  # integer domain, date column
    ],
)
def test_rule_wrong_for_column_type(column, dtype, rule):
    text = edit("  ssn: {}", "  ssn: {}\n  number: {type: integer}")
    old = [line for line in text.splitlines() if line.startswith(f"      {column}:")][0]
    text = text.replace(old, f"      {column}: {rule}")

    problems = schema_problems(text, with_field(column, dtype))

    assert [problem.code for problem in problems] == ["TYPE_UNSUPPORTED"]
    assert_located(problems[0], "TYPE_UNSUPPORTED", line_of(text, f"{column}:"), f"tables.patients.columns.{column}")
    assert f"column '{column}'" in problems[0].message


@pytest.mark.parametrize(
    ("column", "dtype", "value"),
    [
        ("AGE", T.IntegerType(), "n/a"),  # try_cast would make every age NULL
        ("AGE", T.IntegerType(), "1.5"),  # try_cast would drop the fraction
        ("BIRTHDATE", T.DateType(), "7"),
        ("BIRTHDATE", T.DateType(), "'01/01/1900'"),  # not an ISO date
    ],
)
def test_constant_wrong_for_column_type(column, dtype, value):
    old = [line for line in VALID.splitlines() if line.startswith(f"      {column}:")][0]
    text = edit(old, f"      {column}: {{constant: {{value: {value}}}}}")

    problems = schema_problems(text, with_field(column, dtype))

    assert [problem.code for problem in problems] == ["PARAM_TYPE"]
    assert_located(problems[0], "PARAM_TYPE", line_of(text, f"{column}:"), f"tables.patients.columns.{column}.constant.value")


def test_schema_problems_collected_together():
    text = edit("      SSN: {pseudonymize: {domain: ssn}}", "      SNS: {pseudonymize: {domain: ssn}}")
    text = text.replace("      AGE: {generalize: {bucket: 10}}", "      AGE: {mask: {keep_first: 1}}")

    problems = schema_problems(text, PATIENTS)

    assert sorted(problem.code for problem in problems) == ["COLUMN_NOT_FOUND", "RULE_MISSING", "TYPE_UNSUPPORTED"]
