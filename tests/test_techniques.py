"""Output of every technique on small DataFrames, compared with expected DataFrames.

Each test builds a rule file from YAML text, compiles it against an explicit schema and applies
the plan. Pseudonyms and date offsets are checked against a plain-Python HMAC-SHA256 reference
computed from the same test key, so the expected values do not come from the engine itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.compile import TablePlan, check_schemas, compile_table
from engine.config import Config, config_from_text
from engine.keys import MasterKey

CONFIG_HEAD = """\
version: 1
name: techniques
key: {env: ANON_TEST_KEY}
target: {path: /tmp/anon-engine-tests}
domains:
  patient: {prefix: "PAT-"}
  plain: {}
  hex_64: {bits: 64}
  hex_256: {bits: 256}
  base32: {format: base32}
  base32_45: {format: base32, bits: 45}
  base32_240: {format: base32, bits: 240}
  id_hex: {type: integer}
  id_number: {type: integer, format: integer}
  id_number_62: {type: integer, format: integer, bits: 62}
tables:
"""
TS_Z = "yyyy-MM-dd'T'HH:mm:ss'Z'"


def schema(**fields: T.DataType) -> T.StructType:
    """Build a StructType of nullable fields, in keyword order."""
    return T.StructType([T.StructField(name, dtype) for name, dtype in fields.items()])


def config_text(rules: dict[str, str], table: str = "t") -> str:
    """Return a rule file with one table whose columns get the flow-style ``rules``."""
    lines = [f"  {table}:", "    columns:"]
    lines += [f"      {column}: {rule}" for column, rule in rules.items()]
    return CONFIG_HEAD + "\n".join(lines) + "\n"


def type_id(value: object) -> str | None:
    """Name Spark types in test ids (timestamp_ntz rather than dtype4)."""
    return value.simpleString() if isinstance(value, T.DataType) else None


def compile_rules(rules: dict[str, str], source: T.StructType, key: MasterKey,
                  table: str = "t", file: str = "test.yaml") -> tuple[Config, TablePlan]:
    config = config_from_text(config_text(rules, table), file)
    check_schemas(config, {table: source})
    return config, compile_table(config.tables[table], source, config, key)


def sql_literal(value: object, dtype: T.DataType) -> str:
    """Render ``value`` as a Spark SQL literal cast to ``dtype``."""
    if value is None:
        text = "NULL"
    elif isinstance(value, bool):
        text = str(value).upper()
    elif isinstance(value, datetime):
        kind = "TIMESTAMP" if value.tzinfo else "TIMESTAMP_NTZ"
        text = f"{kind}'{value.isoformat(sep=' ')}'"
    elif isinstance(value, date):
        text = f"DATE'{value.isoformat()}'"
    elif isinstance(value, int):
        text = str(value)
    else:
        # Text, floats and decimals are cast from their exact text form.
        text = "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"CAST({text} AS {dtype.simpleString()})"


def frame(spark: SparkSession, rows: list[tuple], source: T.StructType) -> DataFrame:
    """Build a DataFrame of ``rows`` from a SQL VALUES list.

    createDataFrame sends rows through a Python worker, which took about 0.4 s per DataFrame with
    local[2] on a 2-core machine. A VALUES list is a local relation, read without one. NOTE: Spark's optimizer evaluates a
    projection over a local relation with interpreted expressions, so these tests do not run the
    generated code that a job over files runs; the 500-entity date_shift test does.
    """
    if not rows:
        return spark.createDataFrame([], source)
    values = ", ".join(
        "(" + ", ".join(sql_literal(value, field.dataType) for value, field in zip(row, source.fields)) + ")"
        for row in rows
    )
    names = ", ".join(f"`{field.name}`" for field in source.fields)
    return spark.sql(f"SELECT * FROM VALUES {values} AS source({names})")


def anonymize(spark: SparkSession, key: MasterKey, rules: dict[str, str], source: T.StructType,
              rows: list[tuple], table: str = "t") -> DataFrame:
    _, plan = compile_rules(rules, source, key, table)
    return plan.apply(frame(spark, rows, source))


def reference_hmac(key: MasterKey, purpose: str, domain: str, message: str) -> str:
    """Return HMAC-SHA256 of the UTF-8 ``message`` under the domain's subkey, as lower-case hex."""
    return hmac.new(key.subkey(purpose, domain), message.encode("utf-8"), hashlib.sha256).hexdigest()


def reference_offset(key: MasterKey, domain: str, entity: str, max_days: int) -> int:
    """Return the day shift of ``entity``: 32 HMAC bits mapped onto [-max_days, -1] and [1, max_days]."""
    draw = int(reference_hmac(key, "date_shift", domain, entity)[:8], 16) % (2 * max_days)
    return -(draw + 1) if draw < max_days else draw - max_days + 1


def shift_text(value: str, python_format: str, days: int) -> str:
    return (datetime.strptime(value, python_format) + timedelta(days=days)).strftime(python_format)


FLAGS = T.StructType([T.StructField("ID", T.StringType()), T.StructField("invalid", T.BooleanType())])


def invalid_flags(plan: TablePlan, source: DataFrame, column: str) -> DataFrame:
    """Return ``ID`` and the row check of ``column`` as ``invalid``."""
    (check,) = [check for check in plan.checks if check.column == column]
    return source.select("ID", check.invalid.alias("invalid"))


# --- keep, drop, null, constant --------------------------------------------------------------


def test_keep_copies_values(spark, master_key):
    source = schema(ID=T.StringType(), CITY=T.StringType(), AGE=T.IntegerType())
    rows = [
        ("1", "Boston", 41),
        ("2", "", 0),
        ("3", None, None),
    ]
    output = anonymize(spark, master_key, {"ID": "keep", "CITY": "keep", "AGE": "keep"}, source, rows)

    assert_df_equality(output, frame(spark, rows, source), ignore_nullable=True)


def test_drop_leaves_column_out(spark, master_key):
    source = schema(ID=T.StringType(), SSN=T.StringType(), AGE=T.IntegerType())
    rows = [("1", "999-12-3456", 41), ("2", None, 7)]
    output = anonymize(spark, master_key, {"ID": "keep", "SSN": "drop", "AGE": "keep"}, source, rows)

    expected = frame(spark, [("1", 41), ("2", 7)], schema(ID=T.StringType(), AGE=T.IntegerType()))
    assert_df_equality(output, expected, ignore_nullable=True)


def test_null_keeps_column_and_type(spark, master_key):
    source = schema(ID=T.StringType(), NAME=T.StringType(), AGE=T.IntegerType(), BORN=T.DateType())
    rows = [("1", "Ann", 41, date(1980, 5, 17)), ("2", None, None, None)]
    output = anonymize(spark, master_key, {"ID": "keep", "NAME": "null", "AGE": "null", "BORN": "null"},
                       source, rows)

    expected = frame(spark, [("1", None, None, None), ("2", None, None, None)], source)
    assert_df_equality(output, expected, ignore_nullable=True)


def test_constant_replaces_values(spark, master_key):
    source = schema(ID=T.StringType(), NAME=T.StringType(), SCORE=T.IntegerType(), BORN=T.DateType(),
                    TEXT_BORN=T.StringType())
    rules = {
        "ID": "keep",
        "NAME": "{constant: {value: REDACTED}}",
        "SCORE": "{constant: {value: 0}}",
        "BORN": "{constant: {value: 1900-01-01}}",  # YAML reads this as a date, not text
        "TEXT_BORN": "{constant: {value: 1900-01-01}}",
    }
    rows = [
        ("1", "Ann", 41, date(1980, 5, 17), "1980-05-17"),
        ("2", "", -3, date(2001, 1, 1), ""),  # the empty string is a value, so it is replaced
        ("3", None, None, None, None),  # NULL stays NULL: the constant invents no values
    ]
    output = anonymize(spark, master_key, rules, source, rows)

    expected = frame(
        spark,
        [
            ("1", "REDACTED", 0, date(1900, 1, 1), "1900-01-01"),
            ("2", "REDACTED", 0, date(1900, 1, 1), "1900-01-01"),
            ("3", None, None, None, None),
        ],
        source,
    )
    assert_df_equality(output, expected, ignore_nullable=True)


# --- NULL and the empty string, across techniques --------------------------------------------

# Each case is (source type of V, rule of V, a non-NULL value). ID is kept and is the date_shift entity.
NULL_CASES = [
    (T.StringType(), "keep", "x"),
    (T.StringType(), "null", "x"),
    (T.StringType(), "{constant: {value: REDACTED}}", "x"),  # documented: NULL stays NULL
    (T.StringType(), "{pseudonymize: {domain: patient}}", "x"),  # hex with prefix
    (T.StringType(), "{pseudonymize: {domain: base32}}", "x"),
    (T.IntegerType(), "{pseudonymize: {domain: id_number}}", 7),  # integer form
    (T.StringType(), "{mask: {keep_first: 1, keep_last: 1}}", "abcdef"),
    (T.DateType(), "{generalize: {date: year}}", date(2020, 5, 17)),
    (T.StringType(), "{generalize: {date: month}}", "2020-05-17"),
    (T.IntegerType(), "{generalize: {bucket: 10}}", 17),
    (T.DoubleType(), "{generalize: {round: 1}}", 1.25),
    (T.StringType(), "{generalize: {prefix: 3}}", "94110"),
    (T.DateType(), "{date_shift: {domain: patient, by: ID}}", date(2020, 5, 17)),
    (T.TimestampType(), "{date_shift: {domain: patient, by: ID}}", datetime(2020, 5, 17, 9, tzinfo=UTC)),
    (T.StringType(), f'{{date_shift: {{domain: patient, by: ID, format: "{TS_Z}"}}}}', "2020-05-17T09:00:00Z"),
    (T.StringType(), "{sql: {expr: 'upper(V)'}}", "x"),  # upper() returns NULL for NULL
]


@pytest.mark.parametrize(("dtype", "rule", "value"), NULL_CASES, ids=type_id)
def test_null_stays_null(spark, master_key, dtype, rule, value):
    source = schema(ID=T.StringType(), V=dtype)
    output = anonymize(spark, master_key, {"ID": "keep", "V": rule}, source, [("1", value), ("2", None)])

    null_row = output.where(F.col("ID") == "2")
    assert_df_equality(null_row, frame(spark, [("2", None)], output.schema), ignore_nullable=True)


def test_composite_all_null_gives_null(spark, master_key):
    source = schema(FIRST=T.StringType(), LAST=T.StringType())
    rules = {"FIRST": "{pseudonymize: {domain: plain, columns: [FIRST, LAST]}}", "LAST": "keep"}
    output = anonymize(spark, master_key, rules, source, [(None, None)])

    assert_df_equality(output, frame(spark, [(None, None)], source), ignore_nullable=True)


def test_sql_expression_decides_null(spark, master_key):
    # The engine does not force NULL through an sql rule: the expression decides.
    source = schema(ID=T.StringType(), CITY=T.StringType())
    rules = {"ID": "keep", "CITY": "{sql: {expr: \"coalesce(upper(CITY), 'UNKNOWN')\"}}"}
    output = anonymize(spark, master_key, rules, source, [("1", "Boston"), ("2", None)])

    expected = frame(spark, [("1", "BOSTON"), ("2", "UNKNOWN")], source)
    assert_df_equality(output, expected, ignore_nullable=True)


def test_empty_string_differs_from_null(spark, master_key):
    source = schema(
        ID=T.StringType(), KEPT=T.StringType(), CONST=T.StringType(), PSEUDO=T.StringType(),
        MASKED=T.StringType(), PREFIX=T.StringType(), UPPER=T.StringType(),
    )
    rules = {
        "ID": "keep",
        "KEPT": "keep",
        "CONST": "{constant: {value: REDACTED}}",
        "PSEUDO": "{pseudonymize: {domain: patient}}",
        "MASKED": "{mask: {keep_first: 2, keep_last: 2}}",
        "PREFIX": "{generalize: {prefix: 3}}",
        "UPPER": "{sql: {expr: 'upper(UPPER)'}}",
    }
    rows = [("empty", "", "", "", "", "", ""), ("null", None, None, None, None, None, None)]
    output = anonymize(spark, master_key, rules, source, rows)

    empty_pseudonym = "PAT-" + reference_hmac(master_key, "pseudonymize", "patient", "")[:32]
    expected = frame(
        spark,
        [
            ("empty", "", "REDACTED", empty_pseudonym, "", "", ""),
            ("null", None, None, None, None, None, None),
        ],
        source,
    )
    assert_df_equality(output, expected, ignore_nullable=True)


# --- pseudonymize ----------------------------------------------------------------------------


def test_pseudonymize_matches_reference_hmac(spark, master_key):
    source = schema(ID=T.StringType())
    output = anonymize(spark, master_key, {"ID": "{pseudonymize: {domain: patient}}"}, source,
                       [("a",), ("b",), ("  a ",)])

    def expected(value: str) -> str:
        return "PAT-" + reference_hmac(master_key, "pseudonymize", "patient", value)[:32]

    rows = [
        (expected("a"),),
        (expected("b"),),
        (expected("a"),),  # edge whitespace is trimmed before hashing
    ]
    assert_df_equality(output, frame(spark, rows, source), ignore_nullable=True)


def test_pseudonymize_depends_on_master_key(spark, master_key, other_key):
    source = schema(ID=T.StringType())
    rules = {"ID": "{pseudonymize: {domain: patient}}"}
    first = anonymize(spark, master_key, rules, source, [("a",)]).first()
    second = anonymize(spark, other_key, rules, source, [("a",)]).first()

    assert first.ID != second.ID


@pytest.mark.parametrize(
    ("domain", "length"),
    [
        ("plain", 32),  # hex, 128 bits by default
        ("hex_64", 16),
        ("hex_256", 64),  # the whole HMAC
        ("patient", 4 + 32),  # "PAT-" prefix plus 128 bits
        ("base32", 24),  # base32, 120 bits by default
        ("base32_45", 9),
        ("base32_240", 48),
    ],
)
def test_pseudonym_length_follows_bits(spark, master_key, domain, length):
    source = schema(ID=T.StringType())
    output = anonymize(spark, master_key, {"ID": f"{{pseudonymize: {{domain: {domain}}}}}"}, source,
                       [("a",), ("",), ("a much longer input value",)])

    lengths = output.select(F.char_length("ID").alias("length"))
    expected = frame(spark, [(length,)] * 3, schema(length=T.IntegerType()))
    assert_df_equality(lengths, expected, ignore_nullable=True)


@pytest.mark.parametrize(("domain", "bits"), [("base32", 120), ("base32_45", 45), ("base32_240", 240)])
def test_base32_pseudonym_is_base32hex(spark, master_key, domain, bits):
    source = schema(ID=T.StringType())
    output = anonymize(spark, master_key, {"ID": f"{{pseudonymize: {{domain: {domain}}}}}"}, source,
                       [("a",), ("b",)])

    def expected(value: str) -> str:
        digest = bytes.fromhex(reference_hmac(master_key, "pseudonymize", domain, value))
        return base64.b32hexencode(digest).decode("ascii").lower()[: bits // 5]

    assert_df_equality(output, frame(spark, [(expected("a"),), (expected("b"),)], source),
                       ignore_nullable=True)


@pytest.mark.parametrize(
    ("dtype", "domain", "bits"),
    [
        (T.IntegerType(), "id_number", 31),  # widest INT pseudonym keeps the sign bit clear
        (T.LongType(), "id_number_62", 62),
        (T.LongType(), "id_number", 63),  # widest BIGINT pseudonym
        (T.StringType(), "id_number", 63),  # digits in a text column
    ],
    ids=type_id,
)
def test_integer_pseudonym_keeps_type(spark, master_key, dtype, domain, bits):
    source = schema(ID=dtype)
    values = ["7", "123456"] if isinstance(dtype, T.StringType) else [7, 123456]
    output = anonymize(spark, master_key, {"ID": f"{{pseudonymize: {{domain: {domain}}}}}"}, source,
                       [(value,) for value in values])

    def expected(value: object) -> object:
        number = int(reference_hmac(master_key, "pseudonymize", domain, str(value))[:16], 16) % 2**bits
        return str(number) if isinstance(dtype, T.StringType) else number

    assert output.schema["ID"].dataType == dtype
    assert_df_equality(output, frame(spark, [(expected(value),) for value in values], source),
                       ignore_nullable=True)


def test_integer_domain_joins_number_and_text(spark, master_key):
    # An id read as INT in one table and as text in another must get one pseudonym, or joins break.
    source = schema(NUMBER=T.IntegerType(), TEXT=T.StringType())
    rules = {"NUMBER": "{pseudonymize: {domain: id_hex}}", "TEXT": "{pseudonymize: {domain: id_hex}}"}
    output = anonymize(spark, master_key, rules, source, [(7, "007"), (7, " +7 "), (-3, "-3")])

    seven = reference_hmac(master_key, "pseudonymize", "id_hex", "7")[:32]
    minus_three = reference_hmac(master_key, "pseudonymize", "id_hex", "-3")[:32]
    expected = frame(
        spark,
        [(seven, seven), (seven, seven), (minus_three, minus_three)],
        schema(NUMBER=T.StringType(), TEXT=T.StringType()),
    )
    assert_df_equality(output, expected, ignore_nullable=True)


def test_pseudonymize_composite_columns(spark, master_key):
    source = schema(FIRST=T.StringType(), LAST=T.StringType())
    rules = {"FIRST": "{pseudonymize: {domain: plain, columns: [FIRST, LAST]}}", "LAST": "drop"}
    rows = [
        ("Ann", "Lee"),
        ("An", "nLee"),  # same concatenation, different tuple
        ("", "Lee"),  # empty first name
        (None, "Lee"),  # NULL first name: differs from the empty one
    ]
    output = anonymize(spark, master_key, rules, source, rows)

    def expected(encoded: str) -> str:
        return reference_hmac(master_key, "pseudonymize", "plain", encoded)[:32]

    # Each part is encoded as S<UTF-8 length>:<text>, or N for NULL, so tuples never clash.
    expected_rows = [
        (expected("S3:AnnS3:Lee"),),
        (expected("S2:AnS4:nLee"),),
        (expected("S0:S3:Lee"),),
        (expected("NS3:Lee"),),
    ]
    assert_df_equality(output, frame(spark, expected_rows, schema(FIRST=T.StringType())),
                       ignore_nullable=True)


# --- mask ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "value", "masked"),
    [
        ("keep_first: 2, keep_last: 2", "abcdefgh", "ab****gh"),  # both ends kept
        ("keep_first: 3", "abcdef", "abc***"),  # exactly half kept is allowed
        ("keep_last: 4", "123-45-6789", "*******6789"),  # last four of an SSN
        ("keep_first: 1, keep_last: 1", "Zoë Ñ", "Z***Ñ"),  # counts characters, not bytes
        ("keep_first: 1, keep_last: 1, char: X", "abcd", "aXXd"),
        ("{}", "secret", "******"),  # keeps nothing by default
        ("keep_first: 2, keep_last: 2", "", ""),  # empty stays empty
    ],
)
def test_mask_keeps_first_and_last(spark, master_key, params, value, masked):
    rule = f"{{mask: {params}}}" if params == "{}" else f"{{mask: {{{params}}}}}"
    source = schema(V=T.StringType())
    output = anonymize(spark, master_key, {"V": rule}, source, [(value,)])

    assert_df_equality(output, frame(spark, [(masked,)], source), ignore_nullable=True)


def test_mask_preserves_length(spark, master_key):
    source = schema(V=T.StringType())
    values = ["x" * length for length in range(13)] + ["Ünïcödé", "日本語テキスト"]
    output = anonymize(spark, master_key, {"V": "{mask: {keep_first: 2, keep_last: 3}}"}, source,
                       [(value,) for value in values])

    lengths = output.select(F.char_length("V").alias("length"))
    expected = frame(spark, [(len(value),) for value in values], schema(length=T.IntegerType()))
    assert_df_equality(lengths, expected, ignore_nullable=True)


def test_mask_hides_short_values_fully(spark, master_key):
    # Keeping 2 + 2 characters is more than half of any value shorter than 8 characters.
    source = schema(V=T.StringType())
    rows = [
        ("a", "*"),
        ("ab", "**"),
        ("abcd", "****"),
        ("abcde", "*****"),
        ("abcdefg", "*******"),  # 4 kept of 7: still more than half
        ("abcdefgh", "ab****gh"),  # 4 kept of 8: exactly half, so masked partly
    ]
    output = anonymize(spark, master_key, {"V": "{mask: {keep_first: 2, keep_last: 2}}"}, source,
                       [(value,) for value, _ in rows])

    assert_df_equality(output, frame(spark, [(masked,) for _, masked in rows], source),
                       ignore_nullable=True)


# --- generalize ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "params", "value", "generalized"),
    [
        (T.DateType(), "date: year", date(2020, 5, 17), date(2020, 1, 1)),
        (T.DateType(), "date: month", date(2020, 5, 17), date(2020, 5, 1)),
        (T.TimestampType(), "date: year", datetime(2020, 5, 17, 13, 45, tzinfo=UTC),
         datetime(2020, 1, 1, tzinfo=UTC)),
        (T.TimestampType(), "date: month", datetime(2020, 5, 17, 13, 45, tzinfo=UTC),
         datetime(2020, 5, 1, tzinfo=UTC)),
        (T.TimestampNTZType(), "date: month", datetime(2020, 5, 17, 13, 45), datetime(2020, 5, 1)),
        (T.StringType(), "date: year", "2020-05-17", "2020-01-01"),  # default yyyy-MM-dd
        (T.StringType(), "date: month", "2020-05-17", "2020-05-01"),
        (T.StringType(), f'date: month, format: "{TS_Z}"', "2020-05-17T13:45:12Z", "2020-05-01T00:00:00Z"),
        (T.StringType(), "date: year, format: dd/MM/yyyy", "17/05/2020", "01/01/2020"),
    ],
    ids=type_id,
)
def test_generalize_date(spark, master_key, dtype, params, value, generalized):
    source = schema(V=dtype)
    output = anonymize(spark, master_key, {"V": f"{{generalize: {{{params}}}}}"}, source, [(value,)])

    assert_df_equality(output, frame(spark, [(generalized,)], source), ignore_nullable=True)


@pytest.mark.parametrize(
    ("dtype", "width", "values", "lower_bounds"),
    [
        (T.IntegerType(), "10", [0, 7, 10, 19, -1, -10, -11], [0, 0, 10, 10, -10, -10, -20]),
        (T.LongType(), "10000", [123456789012, 9999], [123456780000, 0]),
        (T.DoubleType(), "0.5", [2.7, -2.7, 0.5], [2.5, -3.0, 0.5]),
        (T.DecimalType(10, 2), "10", [Decimal("14.99"), Decimal("-15.00")], [Decimal("10.00"), Decimal("-20.00")]),
        (T.StringType(), "10", ["1234.5", "-7", "20"], ["1230", "-10", "20"]),  # numbers held as text
    ],
    ids=type_id,
)
def test_generalize_bucket(spark, master_key, dtype, width, values, lower_bounds):
    source = schema(V=dtype)
    output = anonymize(spark, master_key, {"V": f"{{generalize: {{bucket: {width}}}}}"}, source,
                       [(value,) for value in values])

    assert_df_equality(output, frame(spark, [(bound,) for bound in lower_bounds], source),
                       ignore_nullable=True)


@pytest.mark.parametrize(
    ("dtype", "places", "values", "rounded"),
    [
        (T.IntegerType(), "-2", [1250, -1250, 149, 150], [1300, -1300, 100, 200]),  # half away from zero
        (T.LongType(), "-3", [123456789, 499], [123457000, 0]),
        (T.DoubleType(), "1", [12.34, -12.35, 0.05], [12.3, -12.4, 0.1]),
        (T.DoubleType(), "-1", [1234.5, -15.0], [1230.0, -20.0]),
        (T.DecimalType(10, 3), "1", [Decimal("12.345"), Decimal("-0.051")], [Decimal("12.300"), Decimal("-0.100")]),
        (T.StringType(), "1", ["12.35", "-0.04"], ["12.4", "0.0"]),
        (T.StringType(), "-2", ["-1250.5", "49"], ["-1300", "0"]),
    ],
    ids=type_id,
)
def test_generalize_round(spark, master_key, dtype, places, values, rounded):
    source = schema(V=dtype)
    output = anonymize(spark, master_key, {"V": f"{{generalize: {{round: {places}}}}}"}, source,
                       [(value,) for value in values])

    assert_df_equality(output, frame(spark, [(value,) for value in rounded], source),
                       ignore_nullable=True)


def test_generalize_prefix(spark, master_key):
    source = schema(ZIP=T.StringType())
    rows = [
        ("94110", "941"),
        ("02138-1234", "021"),  # leading zero kept: text, not a number
        ("12", "12"),  # shorter than the prefix: unchanged
        ("", ""),
    ]
    output = anonymize(spark, master_key, {"ZIP": "{generalize: {prefix: 3}}"}, source,
                       [(value,) for value, _ in rows])

    assert_df_equality(output, frame(spark, [(kept,) for _, kept in rows], source),
                       ignore_nullable=True)


@pytest.mark.parametrize(
    ("dtype", "params"),
    [
        (T.ByteType(), "bucket: 10"),
        (T.ShortType(), "bucket: 10"),
        (T.IntegerType(), "bucket: 2.5"),  # a fractional width on an integer column
        (T.LongType(), "round: -2"),
        (T.FloatType(), "round: 1"),
        (T.DoubleType(), "bucket: 0.5"),
        (T.DecimalType(12, 2), "round: 0"),
        (T.DecimalType(12, 2), "bucket: 100"),
        (T.StringType(), "bucket: 10"),
        (T.StringType(), "round: -1"),
        (T.StringType(), "prefix: 3"),
        (T.StringType(), "date: year"),
        (T.DateType(), "date: month"),
        (T.TimestampType(), "date: year"),
        (T.TimestampNTZType(), "date: year"),
    ],
    ids=type_id,
)
def test_generalize_keeps_column_type(spark, master_key, dtype, params):
    source = schema(V=dtype)
    output = anonymize(spark, master_key, {"V": f"{{generalize: {{{params}}}}}"}, source, [(None,)])

    assert output.schema["V"].dataType == dtype


# --- date_shift ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "params", "value", "shift"),
    [
        (T.DateType(), "", date(2020, 2, 28), lambda value, days: value + timedelta(days=days)),
        (T.TimestampType(), "", datetime(2020, 2, 28, 23, 30, tzinfo=UTC),
         lambda value, days: value + timedelta(days=days)),
        (T.TimestampNTZType(), "", datetime(2020, 2, 28, 23, 30), lambda value, days: value + timedelta(days=days)),
        (T.StringType(), "", "2020-02-28", lambda value, days: shift_text(value, "%Y-%m-%d", days)),
        (T.StringType(), f', format: "{TS_Z}"', "2020-02-28T23:30:00Z",
         lambda value, days: shift_text(value, "%Y-%m-%dT%H:%M:%SZ", days)),
    ],
    ids=type_id,
)
def test_date_shift_moves_by_entity_offset(spark, master_key, dtype, params, value, shift):
    source = schema(PATIENT=T.StringType(), D=dtype)
    rules = {"PATIENT": "keep", "D": f"{{date_shift: {{domain: patient, by: PATIENT, max_days: 180{params}}}}}"}
    entities = ["p1", "p2", "p3"]
    output = anonymize(spark, master_key, rules, source, [(entity, value) for entity in entities])

    expected = [(entity, shift(value, reference_offset(master_key, "patient", entity, 180))) for entity in entities]
    assert_df_equality(output, frame(spark, expected, source), ignore_nullable=True)


def test_date_shift_same_offset_across_tables(spark, master_key):
    # Two rule files and two tables, with different column names and date types, share one domain.
    encounters_source = schema(PATIENT=T.StringType(), START=T.DateType(), ORIGINAL=T.DateType())
    encounters_rules = {"PATIENT": "keep", "START": "{date_shift: {domain: patient, by: PATIENT, max_days: 90}}",
                        "ORIGINAL": "keep"}
    claims_source = schema(PATIENTID=T.StringType(), SERVICEDATE=T.StringType(), ORIGINAL=T.StringType())
    claims_rules = {
        "PATIENTID": "keep",
        "SERVICEDATE": f'{{date_shift: {{domain: patient, by: PATIENTID, max_days: 90, format: "{TS_Z}"}}}}',
        "ORIGINAL": "keep",
    }
    encounters = [("p1", date(2020, 1, 1)), ("p1", date(2021, 6, 30)), ("p2", date(2019, 3, 1)),
                  ("p3", date(2020, 2, 29))]
    claims = [("p1", "2020-01-03T08:00:00Z"), ("p2", "2019-03-02T23:59:59Z"), ("p2", "2018-12-31T00:00:00Z"),
              ("p3", "2024-02-29T12:00:00Z")]

    _, encounters_plan = compile_rules(encounters_rules, encounters_source, master_key, "encounters", "a.yaml")
    _, claims_plan = compile_rules(claims_rules, claims_source, master_key, "claims", "b.yaml")
    encounter_offsets = encounters_plan.apply(
        frame(spark, [(p, d, d) for p, d in encounters], encounters_source)
    ).select(F.col("PATIENT").alias("ENTITY"), F.datediff("START", "ORIGINAL").alias("OFFSET"))
    claim_offsets = claims_plan.apply(
        frame(spark, [(p, d, d) for p, d in claims], claims_source)
    ).select(F.col("PATIENTID").alias("ENTITY"),
             F.datediff(F.to_date("SERVICEDATE", TS_Z), F.to_date("ORIGINAL", TS_Z)).alias("OFFSET"))
    offset_of = dict(claim_offsets.collect())

    offsets = schema(ENTITY=T.StringType(), OFFSET=T.IntegerType())
    # Both claims of p2 move together, and every encounter moves as its patient's claims do.
    assert_df_equality(claim_offsets, frame(spark, [(p, offset_of[p]) for p, _ in claims], offsets),
                       ignore_nullable=True)
    assert_df_equality(encounter_offsets, frame(spark, [(p, offset_of[p]) for p, _ in encounters], offsets),
                       ignore_nullable=True)


def test_date_shift_offset_nonzero_and_bounded(spark, master_key):
    source = schema(PATIENT=T.StringType(), D=T.DateType(), ORIGINAL=T.DateType())
    _, plan = compile_rules(
        {"PATIENT": "keep", "D": "{date_shift: {domain: patient, by: PATIENT, max_days: 30}}", "ORIGINAL": "keep"},
        source, master_key,
    )
    entities = spark.range(500).select(
        F.concat(F.lit("patient-"), F.col("id").cast("string")).alias("PATIENT"),
        F.lit(date(2020, 1, 1)).alias("D"),
        F.lit(date(2020, 1, 1)).alias("ORIGINAL"),
    )
    offsets = [row.offset for row in plan.apply(entities).select(F.datediff("D", "ORIGINAL").alias("offset")).collect()]

    assert len(offsets) == 500
    assert 0 not in offsets
    assert min(offsets) == -30
    assert max(offsets) == 30
    assert len(set(offsets)) == 60  # every offset in [-30, -1] and [1, 30] is drawn


def test_date_shift_keeps_intervals(spark, master_key):
    source = schema(PATIENT=T.StringType(), START=T.DateType(), STOP=T.DateType(),
                    BEGIN=T.TimestampType(), END=T.StringType())
    shift = "{date_shift: {domain: patient, by: PATIENT}}"
    rules = {"PATIENT": "keep", "START": shift, "STOP": shift, "BEGIN": shift,
             "END": f'{{date_shift: {{domain: patient, by: PATIENT, format: "{TS_Z}"}}}}'}
    rows = [
        ("p1", date(2020, 1, 1), date(2020, 1, 10), datetime(2020, 1, 1, 8, tzinfo=UTC), "2020-01-01T09:30:00Z"),
        ("p1", date(2020, 2, 28), date(2020, 3, 1), datetime(2020, 2, 28, 22, tzinfo=UTC), "2020-03-01T01:00:00Z"),
        ("p2", date(2019, 12, 31), date(2020, 1, 1), datetime(2019, 12, 31, tzinfo=UTC), "2020-01-31T00:00:00Z"),
    ]
    output = anonymize(spark, master_key, rules, source, rows)

    def intervals(df: DataFrame) -> DataFrame:
        end = F.to_timestamp("END", TS_Z)
        return df.select(
            "PATIENT",
            F.datediff("STOP", "START").alias("days"),
            (F.unix_timestamp(end) - F.unix_timestamp("BEGIN")).alias("seconds"),
        )

    source_intervals = intervals(frame(spark, rows, source))
    assert_df_equality(intervals(output), source_intervals, ignore_nullable=True)


@pytest.mark.parametrize(
    ("dtype", "params"),
    [
        (T.DateType(), ""),
        (T.TimestampType(), ""),
        (T.TimestampNTZType(), ""),
        (T.StringType(), ""),
        (T.StringType(), f', format: "{TS_Z}"'),
    ],
    ids=type_id,
)
def test_date_shift_keeps_column_type(spark, master_key, dtype, params):
    source = schema(PATIENT=T.StringType(), D=dtype)
    rules = {"PATIENT": "keep", "D": f"{{date_shift: {{domain: patient, by: PATIENT{params}}}}}"}
    output = anonymize(spark, master_key, rules, source, [(None, None)])

    assert output.schema["D"].dataType == dtype


def test_date_shift_null_entity_nulls_date(spark, master_key):
    source = schema(PATIENT=T.StringType(), D=T.DateType(), TS=T.TimestampType(), TEXT=T.StringType())
    rules = {
        "PATIENT": "keep",
        "D": "{date_shift: {domain: patient, by: PATIENT}}",
        "TS": "{date_shift: {domain: patient, by: PATIENT}}",
        "TEXT": "{date_shift: {domain: patient, by: PATIENT}}",
    }
    rows = [(None, date(2020, 1, 1), datetime(2020, 1, 1, 8, tzinfo=UTC), "2020-01-01")]
    output = anonymize(spark, master_key, rules, source, rows)

    # Without an entity there is no offset, and the true date must not leak through.
    assert_df_equality(output, frame(spark, [(None, None, None, None)], source), ignore_nullable=True)


@pytest.mark.parametrize(
    ("spark_format", "python_format", "value"),
    [
        ("yyyy-MM-dd", "%Y-%m-%d", "2020-02-28"),
        (TS_Z, "%Y-%m-%dT%H:%M:%SZ", "2020-02-28T23:59:59Z"),
        ("dd/MM/yyyy", "%d/%m/%Y", "01/03/2020"),
        ("yyyyMMdd", "%Y%m%d", "20200301"),
        ("yyyy-MM-dd HH:mm", "%Y-%m-%d %H:%M", "2020-12-31 00:05"),
    ],
)
def test_date_shift_text_keeps_layout(spark, master_key, spark_format, python_format, value):
    source = schema(PATIENT=T.StringType(), D=T.StringType())
    rules = {"PATIENT": "keep", "D": f'{{date_shift: {{domain: patient, by: PATIENT, format: "{spark_format}"}}}}'}
    output = anonymize(spark, master_key, rules, source, [("p1", value), ("p2", value)])

    expected = [
        (entity, shift_text(value, python_format, reference_offset(master_key, "patient", entity, 365)))
        for entity in ("p1", "p2")
    ]
    assert_df_equality(output, frame(spark, expected, source), ignore_nullable=True)


# --- sql -------------------------------------------------------------------------------------


def test_sql_evaluates_expression(spark, master_key):
    source = schema(BIRTHPLACE=T.StringType(), CITY=T.StringType(), STATE=T.StringType())
    rules = {
        "BIRTHPLACE": "{sql: {expr: \"substring_index(BIRTHPLACE, '  ', -1)\"}}",
        "CITY": "{sql: {expr: \"concat(upper(CITY), ', ', STATE)\"}}",
        "STATE": "keep",
    }
    output = anonymize(spark, master_key, rules, source,
                       [("Boston  Massachusetts  US", "Boston", "MA"), ("", "", "")])

    expected = frame(spark, [("US", "BOSTON, MA", "MA"), ("", ", ", "")], source)
    assert_df_equality(output, expected, ignore_nullable=True)


# --- rows a rule cannot process --------------------------------------------------------------


def test_integer_domain_flags_non_integer_text(spark, master_key):
    source = schema(ID=T.StringType(), PATIENT=T.StringType())
    _, plan = compile_rules({"ID": "keep", "PATIENT": "{pseudonymize: {domain: id_number_62}}"}, source, master_key)
    rows = [
        ("digits", "42"),
        ("padded", " 007 "),
        ("letters", "abc"),
        ("fraction", "4.5"),
        ("empty", ""),
        ("null", None),  # NULL is not invalid: it stays NULL
    ]
    data = frame(spark, rows, source)

    expected = frame(
        spark,
        [("digits", False), ("padded", False), ("letters", True), ("fraction", True), ("empty", True),
         ("null", False)],
        FLAGS,
    )
    assert_df_equality(invalid_flags(plan, data, "PATIENT"), expected, ignore_nullable=True)


def test_date_shift_flags_unmatched_text(spark, master_key):
    source = schema(ID=T.StringType(), D=T.StringType())
    _, plan = compile_rules({"ID": "keep", "D": f'{{date_shift: {{domain: patient, by: ID, format: "{TS_Z}"}}}}'},
                            source, master_key)
    rows = [
        ("match", "2020-01-05T10:00:00Z"),
        ("date only", "2020-01-05"),
        ("no Z", "2020-01-05T10:00:00"),
        ("impossible", "2020-02-30T10:00:00Z"),
        ("empty", ""),
        ("null", None),
    ]
    data = frame(spark, rows, source)

    expected = frame(
        spark,
        [("match", False), ("date only", True), ("no Z", True), ("impossible", True), ("empty", True),
         ("null", False)],
        FLAGS,
    )
    assert_df_equality(invalid_flags(plan, data, "D"), expected, ignore_nullable=True)


def test_date_shift_flags_invalid_entity_key(spark, master_key):
    source = schema(ID=T.StringType(), D=T.DateType())
    _, plan = compile_rules({"ID": "keep", "D": "{date_shift: {domain: id_hex, by: ID}}"}, source, master_key)
    data = frame(spark, [("12", date(2020, 1, 1)), ("abc", date(2020, 1, 1))], source)

    expected = frame(spark, [("12", False), ("abc", True)], FLAGS)
    assert_df_equality(invalid_flags(plan, data, "D"), expected, ignore_nullable=True)


def test_generalize_flags_non_numeric_text(spark, master_key):
    source = schema(ID=T.StringType(), V=T.StringType())
    _, plan = compile_rules({"ID": "keep", "V": "{generalize: {bucket: 10}}"}, source, master_key)
    data = frame(spark, [("number", "12.5"), ("text", "n/a"), ("null", None)], source)

    expected = frame(spark, [("number", False), ("text", True), ("null", False)],
                                     FLAGS)
    assert_df_equality(invalid_flags(plan, data, "V"), expected, ignore_nullable=True)


def test_typed_inputs_add_no_checks(spark, master_key):
    source = schema(ID=T.IntegerType(), NAME=T.StringType(), D=T.DateType())
    _, plan = compile_rules(
        {"ID": "{pseudonymize: {domain: id_number}}", "NAME": "{mask: {keep_first: 1}}",
         "D": "{date_shift: {domain: id_hex, by: ID}}"},
        source, master_key,
    )

    # Only the range check of date_shift, which any DATE value can fail.
    assert [check.column for check in plan.checks] == ["D"]


# Dates at and near both ends of the range, for max_days 30: (type, format, ID, value, flagged).
DATE_RANGE_CASES = [
    (T.DateType(), "", "first", date(1, 1, 1), True),
    (T.DateType(), "", "first + 29", date(1, 1, 30), True),
    (T.DateType(), "", "first + 30", date(1, 1, 31), False),
    (T.DateType(), "", "last - 30", date(9999, 12, 1), False),
    (T.DateType(), "", "last - 29", date(9999, 12, 2), True),
    (T.DateType(), "", "last", date(9999, 12, 31), True),
    (T.DateType(), "", "null", None, False),
    (T.TimestampType(), "", "first", datetime(1, 1, 1, 12, tzinfo=UTC), True),
    (T.TimestampType(), "", "first + 30", datetime(1, 1, 31, tzinfo=UTC), False),
    (T.TimestampType(), "", "last - 30", datetime(9999, 12, 1, 23, 59, tzinfo=UTC), False),
    (T.TimestampType(), "", "last", datetime(9999, 12, 31, 23, 59, tzinfo=UTC), True),
    (T.StringType(), "", "first", "0001-01-01", True),
    (T.StringType(), "", "first + 30", "0001-01-31", False),
    (T.StringType(), "", "last - 30", "9999-12-01", False),
    (T.StringType(), "", "last - 29", "9999-12-02", True),
    (T.StringType(), f', format: "{TS_Z}"', "last", "9999-12-31T23:59:59Z", True),
    (T.StringType(), f', format: "{TS_Z}"', "last - 30", "9999-12-01T00:00:00Z", False),
]


@pytest.mark.parametrize(
    "dtype, params, name, value, flagged",
    DATE_RANGE_CASES,
    ids=[f"{case[0].simpleString()}{' with time' if case[1] else ''}: {case[2]}" for case in DATE_RANGE_CASES],
)
def test_date_shift_flags_dates_near_range_ends(spark, master_key, dtype, params, name, value, flagged):
    source = schema(ID=T.StringType(), D=dtype)
    rule = f"{{date_shift: {{domain: patient, by: ID, max_days: 30{params}}}}}"
    _, plan = compile_rules({"ID": "keep", "D": rule}, source, master_key)
    data = frame(spark, [(name, value)], source)

    expected = frame(spark, [(name, flagged)], FLAGS)
    assert_df_equality(invalid_flags(plan, data, "D"), expected, ignore_nullable=True)
