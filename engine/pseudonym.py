"""Keyed HMAC-SHA256 as a Spark Column, and the output forms of a pseudonym.

HMAC(K, m) = SHA256((K0 xor opad) || SHA256((K0 xor ipad) || m)), as RFC 2104 defines it. With
K fixed per domain, both padded keys are constant 64-byte binary literals, so the whole function is
two ``sha2`` calls and two ``concat`` calls: built-ins that Spark runs in generated code, with no
row sent to Python.

Where the session has the engine's JVM functions (engine.jvm), the same HMAC is one call of
them instead, at about half the CPU cost; both forms give the same result.

In production the padded keys are not literals: they are columns of a one-row key table that
``engine.compile.KeyRing`` broadcasts and cross-joins, so plans name a column where a literal
would print its bytes. Spark redacts literals in explain output when asked
(``spark.sql.redaction.string.regex``), but the event log's plan tree (SparkPlanInfo) shows
them in full.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

import engine.jvm
from engine.config.model import Domain

_BLOCK_BYTES = 64
DEFAULT_BITS = {"hex": 128, "base32": 120}
# Widest integer pseudonym for each integer column type: the sign bit stays clear.
INTEGER_BITS = {T.ByteType: 7, T.ShortType: 15, T.IntegerType: 31, T.LongType: 63}
_MAX_INTEGER_BITS = 63


def padded_keys(key: bytes) -> tuple[bytes, bytes]:
    """Return the inner and outer padded keys of HMAC-SHA256 for ``key``."""
    if len(key) > _BLOCK_BYTES:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK_BYTES, b"\x00")
    inner = bytes(byte ^ 0x36 for byte in key)
    outer = bytes(byte ^ 0x5C for byte in key)
    return inner, outer


PaddedKeyColumns = tuple[Column, Column]


def hmac_sha256_hex(key: bytes | PaddedKeyColumns, message: Column, jvm: bool | None = None) -> Column:
    """Return HMAC-SHA256 of ``message`` (BINARY or STRING as UTF-8) as 64 lower-case hex digits.

    ``key`` is the raw key, which becomes literals (tests, benchmarks), or the inner and outer
    padded keys as BINARY columns. NULL in gives NULL out. ``jvm`` picks the JVM function or
    the built-ins; by default the JVM function when the active session has it.
    """
    inner_key, outer_key = _key_columns(key)
    data = message.cast("binary")
    if _use_jvm(jvm):
        return F.call_function(engine.jvm.FUNCTION, inner_key, outer_key, data)
    inner = F.unhex(F.sha2(F.concat(inner_key, data), 256))
    return F.sha2(F.concat(outer_key, inner), 256)


def hmac_sha256_long(key: bytes | PaddedKeyColumns, message: Column, jvm: bool | None = None) -> Column:
    """Return the first 64 bits of HMAC-SHA256 of ``message``, big-endian, as a signed BIGINT.

    Same arguments as ``hmac_sha256_hex``. The built-in form reads the first 16 hex digits with
    conv(). The JVM function returns the number directly, because conv() cost as much as the
    HMAC itself.
    """
    if _use_jvm(jvm):
        inner_key, outer_key = _key_columns(key)
        return F.call_function(engine.jvm.LONG_FUNCTION, inner_key, outer_key, message.cast("binary"))
    # conv() to base -10 reads the digits as a signed number, so 64 set bits give -1.
    digits = F.substring(hmac_sha256_hex(key, message, jvm=False), 1, 16)
    return F.conv(digits, 16, -10).cast(T.LongType())


def _key_columns(key: bytes | PaddedKeyColumns) -> PaddedKeyColumns:
    if isinstance(key, (bytes, bytearray)):
        inner_bytes, outer_bytes = padded_keys(bytes(key))
        return F.lit(inner_bytes), F.lit(outer_bytes)
    return key


def _use_jvm(jvm: bool | None) -> bool:
    return jvm if jvm is not None else engine.jvm.ready()


def output_bits(domain: Domain, dtype: T.DataType) -> int:
    """Return how many bits of the HMAC the pseudonym keeps for a column of type ``dtype``."""
    if domain.format == "integer":
        widest = integer_bits_for(dtype)
        return min(domain.bits or widest, widest)
    return domain.bits or DEFAULT_BITS[domain.format]


def integer_bits_for(dtype: T.DataType) -> int:
    for type_class, bits in INTEGER_BITS.items():
        if isinstance(dtype, type_class):
            return bits
    return _MAX_INTEGER_BITS


def render(digest_hex: Column, domain: Domain, dtype: T.DataType) -> Column:
    """Turn a hex HMAC into the text output form (hex or base32) of a text domain."""
    bits = output_bits(domain, dtype)
    if domain.format == "base32":
        text = _base32hex(digest_hex, bits)
    else:
        text = F.substring(digest_hex, 1, bits // 4)
    return F.concat(F.lit(domain.prefix), text) if domain.prefix else text


def render_integer(first_64_bits: Column, domain: Domain, dtype: T.DataType) -> Column:
    """Turn the first 64 HMAC bits (signed BIGINT) into an integer pseudonym typed for ``dtype``."""
    bits = output_bits(domain, dtype)
    # With bits <= 63, the low bits of the signed number are those of the unsigned one, so the
    # mask gives the unsigned value modulo 2**bits.
    number = first_64_bits.bitwiseAND(F.lit((1 << bits) - 1))
    target = dtype if isinstance(dtype, tuple(INTEGER_BITS)) else T.LongType()
    value = number.cast(target)
    return value if not isinstance(dtype, T.StringType) else value.cast("string")


def _base32hex(digest_hex: Column, bits: int) -> Column:
    # conv() handles up to 64 bits, so 40-bit slices (10 hex digits, 8 base-32 digits) are
    # converted one by one. The alphabet is RFC 4648 base32hex, lower-cased.
    chunks = []
    for start in range(0, (bits + 39) // 40):
        piece = F.substring(digest_hex, start * 10 + 1, 10)
        chunks.append(F.lpad(F.lower(F.conv(piece, 16, 32)), 8, "0"))
    return F.substring(F.concat(*chunks), 1, bits // 5)


def pseudonym(key: bytes | PaddedKeyColumns, canonical: Column, domain: Domain, dtype: T.DataType) -> Column:
    """Return the pseudonym of already-canonical text, in the domain's output form."""
    if domain.format == "integer":
        return render_integer(hmac_sha256_long(key, canonical), domain, dtype)
    return render(hmac_sha256_hex(key, canonical), domain, dtype)
