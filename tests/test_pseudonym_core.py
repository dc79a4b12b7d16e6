"""Keyed pseudonymization core: HMAC-SHA256 as a Spark expression, domains, canonical forms."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

import engine.jvm
from engine.canonical import canonical_integer, canonical_text, encode_tuple
from engine.compile import compile_table
from engine.config import config_from_text
from engine.config.model import Domain
from engine.pseudonym import hmac_sha256_hex, hmac_sha256_long

# RFC 4231, section 4: (key, data, HMAC-SHA-256). Case 5 lists only the first 128 bits.
RFC_4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),  # case 1
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),  # case 2: short key
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),  # case 3
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),  # case 4
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),  # case 5
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),  # case 6: long key
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data. "
     b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),  # case 7
]


# Both forms of the HMAC must give the same text: the JVM function (engine.jvm) and built-ins.
FORMS = pytest.mark.parametrize("jvm", [True, False], ids=["jvm-function", "built-ins"])


def test_session_has_the_jvm_function(spark):
    # The jar is built by `make install` and by get_session(); without javac this fails here
    # rather than leaving the JVM form untested.
    assert engine.jvm.ready()
    assert engine.jvm._known_answer_matches(spark)
    plan = spark.range(1).select(hmac_sha256_hex(b"k" * 32, F.lit("x"))).columns[0]
    assert engine.jvm.FUNCTION in plan


@FORMS
@pytest.mark.parametrize("key, data, expected", RFC_4231)
def test_hmac_matches_rfc_4231(spark, key, data, expected, jvm):
    frame = spark.createDataFrame([(bytearray(data),)], "data binary")
    digest = frame.select(hmac_sha256_hex(key, F.col("data"), jvm=jvm).alias("h")).first()["h"]
    assert digest[: len(expected)] == expected


def _random_texts(count: int, seed: int) -> list[str]:
    generator = random.Random(seed)
    alphabets = [
        "abcdefghijklmnopqrstuvwxyz0123456789 -_.@",
        "àéîõüçñßøåÆŒœ",
        "😀🚀👩‍⚕️🇫🇷",
        "中文日本語한국어",
        "\t\n\u00a0\u200b",
    ]
    texts = ["", " ", "a" * 1000, "x" * 64, "y" * 65]
    while len(texts) < count:
        length = generator.choice([1, 2, 5, 17, 63, 64, 65, 200, 1500])
        chars = "".join(generator.choice(alphabets))
        texts.append("".join(generator.choice(chars) for _ in range(length)))
    return texts


@FORMS
def test_hmac_matches_python_hmac_on_random_text(spark, jvm):
    key = bytes(random.Random(7).getrandbits(8) for _ in range(32))
    texts = _random_texts(3000, seed=11)
    expected = [(i, hmac.new(key, t.encode("utf-8"), hashlib.sha256).hexdigest()) for i, t in enumerate(texts)]
    frame = spark.createDataFrame(list(enumerate(texts)), "id int, text string")
    actual = frame.select("id", hmac_sha256_hex(key, F.col("text"), jvm=jvm).alias("h"))
    assert_df_equality(actual, spark.createDataFrame(expected, "id int, h string"),
                       ignore_row_order=True, ignore_nullable=True)


@FORMS
def test_hmac_first_64_bits_match_python_hmac(spark, jvm):
    key = bytes(random.Random(8).getrandbits(8) for _ in range(32))
    texts = _random_texts(2000, seed=12)
    expected = [
        (i, int.from_bytes(hmac.new(key, t.encode("utf-8"), hashlib.sha256).digest()[:8], "big", signed=True))
        for i, t in enumerate(texts)
    ]
    frame = spark.createDataFrame(list(enumerate(texts)), "id int, text string")
    actual = frame.select("id", hmac_sha256_long(key, F.col("text"), jvm=jvm).alias("n"))
    assert_df_equality(actual, spark.createDataFrame(expected, "id int, n bigint"),
                       ignore_row_order=True, ignore_nullable=True)


@FORMS
def test_hmac_of_null_is_null(spark, jvm):
    frame = spark.createDataFrame([(None,)], "text string")
    assert frame.select(hmac_sha256_hex(b"k" * 32, F.col("text"), jvm=jvm)).first()[0] is None
    assert frame.select(hmac_sha256_long(b"k" * 32, F.col("text"), jvm=jvm)).first()[0] is None


CONFIG = """
version: 1
name: core
key: {env: ANON_TEST_KEY}
source: {format: parquet, path: /unused}
target: {path: /unused}
domains:
  person: {}
  other: {}
  customer: {type: integer}
  folded: {case: fold}
  pair: {}
tables:
  a:
    columns:
      name: {pseudonymize: {domain: person}}
  b:
    columns:
      name: {pseudonymize: {domain: person}}
  c:
    columns:
      name: {pseudonymize: {domain: other}}
  ids:
    columns:
      id: {pseudonymize: {domain: customer}}
  folded:
    columns:
      name: {pseudonymize: {domain: folded}}
  composite:
    columns:
      first: {pseudonymize: {domain: pair, columns: [first, last]}}
      last: drop
"""


@pytest.fixture(scope="module")
def core_config():
    return config_from_text(CONFIG, "core.yaml")


def _pseudonyms(spark, config, key, table, rows, schema):
    frame = spark.createDataFrame(rows, schema)
    return compile_table(config.tables[table], frame.schema, config, key).apply(frame)


def test_same_value_same_pseudonym_across_tables(spark, core_config, master_key):
    rows = [("Ada",), ("Grace",), (None,)]
    in_a = _pseudonyms(spark, core_config, master_key, "a", rows, "name string")
    in_b = _pseudonyms(spark, core_config, master_key, "b", rows, "name string")
    assert_df_equality(in_a, in_b, ignore_row_order=True)


def test_same_value_same_pseudonym_for_1_and_200_partitions(spark, core_config, master_key):
    rows = [(f"person {i}",) for i in range(2000)]
    frame = spark.createDataFrame(rows, "name string")
    plan = compile_table(core_config.tables["a"], frame.schema, core_config, master_key)
    one = plan.apply(frame.coalesce(1)).withColumnRenamed("name", "p")
    many = plan.apply(frame.repartition(200)).withColumnRenamed("name", "p")
    assert_df_equality(one, many, ignore_row_order=True)


def test_different_domains_give_different_pseudonyms(spark, core_config, master_key):
    rows = [(f"v{i}",) for i in range(100)]
    in_a = _pseudonyms(spark, core_config, master_key, "a", rows, "name string")
    in_c = _pseudonyms(spark, core_config, master_key, "c", rows, "name string")
    assert in_a.join(in_c, "name").count() == 0


def test_different_key_changes_every_pseudonym(spark, core_config, master_key, other_key):
    rows = [(f"v{i}",) for i in range(100)]
    first = _pseudonyms(spark, core_config, master_key, "a", rows, "name string")
    second = _pseudonyms(spark, core_config, other_key, "a", rows, "name string")
    assert first.join(second, "name").count() == 0


@pytest.mark.parametrize(
    "spellings",
    [
        ["Jos\u00e9", "Jose\u0301"],  # NFC and NFD of one name
        ["Ada", " Ada", "Ada\u00a0", "\u3000Ada\t"],  # ASCII, no-break and ideographic spaces
    ],
)
def test_spellings_of_one_value_give_one_pseudonym(spark, core_config, master_key, spellings):
    rows = [(s,) for s in spellings]
    out = _pseudonyms(spark, core_config, master_key, "a", rows, "name string")
    assert out.select("name").distinct().count() == 1


def test_case_folding_domain_joins_cases(spark, core_config, master_key):
    out = _pseudonyms(spark, core_config, master_key, "folded", [("ADA",), ("ada",)], "name string")
    assert out.distinct().count() == 1


def test_case_preserving_domain_keeps_cases_apart(spark, core_config, master_key):
    out = _pseudonyms(spark, core_config, master_key, "a", [("ADA",), ("ada",)], "name string")
    assert out.distinct().count() == 2


@pytest.mark.parametrize(
    "schema, value",
    [
        ("id int", 7),
        ("id bigint", 7),
        ("id decimal(10,2)", None),  # filled below: 7.00
        ("id double", 7.0),
        ("id string", "007"),
        ("id string", " +7 "),
        ("id string", "7.0"),
    ],
)
def test_integer_id_forms_give_one_pseudonym(spark, core_config, master_key, schema, value):
    from decimal import Decimal

    if value is None:
        value = Decimal("7.00")
    reference = _pseudonyms(spark, core_config, master_key, "ids", [("7",)], "id string").first()[0]
    out = _pseudonyms(spark, core_config, master_key, "ids", [(value,)], schema).first()[0]
    assert str(out) == str(reference)


@pytest.mark.parametrize("value", ["7.5", "abc", "1e3", ""])
def test_integer_domain_flags_non_integers(spark, value):
    frame = spark.createDataFrame([(value,)], "id string")
    _, invalid = canonical_integer(F.col("id"), T.StringType())
    assert frame.select(invalid).first()[0] is True


def test_composite_encoding_is_injective(spark):
    # Each pair would collide under naive concatenation with a separator or NULL-as-empty.
    rows = [
        ("a|b", "c"), ("a", "b|c"),
        ("", None), (None, ""),
        ("ab", ""), ("a", "b"),
        ("S1:a", None), (None, "S1:a"),
    ]
    frame = spark.createDataFrame(rows, "x string, y string")
    domain = Domain("pair")
    parts = [canonical_text(F.col(c), T.StringType(), domain)[0] for c in ("x", "y")]
    encoded = frame.select(encode_tuple(parts).alias("e"))
    assert encoded.distinct().count() == len(rows)


def test_composite_of_all_nulls_is_null(spark, core_config, master_key):
    out = _pseudonyms(spark, core_config, master_key, "composite", [(None, None), ("a", None)],
                      "first string, last string")
    assert [row["first"] is None for row in out.collect()] == [True, False]


def test_null_stays_null_and_empty_gets_a_pseudonym(spark, core_config, master_key):
    out = _pseudonyms(spark, core_config, master_key, "a", [(None,), ("",)], "name string").collect()
    assert out[0]["name"] is None
    assert out[1]["name"] is not None
