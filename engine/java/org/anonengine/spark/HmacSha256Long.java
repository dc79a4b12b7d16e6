package org.anonengine.spark;

import org.apache.spark.sql.api.java.UDF3;

/**
 * The first 8 bytes of HMAC-SHA256, big-endian, as a signed BIGINT: the number that
 * conv(substring(hex, 1, 16), 16, -10) reads from the hex form, without the text round trip,
 * which cost as much as the HMAC itself. Same arguments and NULL handling as HmacSha256Hex.
 */
public final class HmacSha256Long implements UDF3<byte[], byte[], byte[], Long> {
  private static final long serialVersionUID = 1L;

  @Override
  public Long call(byte[] innerKey, byte[] outerKey, byte[] message) {
    if (innerKey == null || outerKey == null || message == null) {
      return null;
    }
    byte[] digest = HmacSha256.digest(innerKey, outerKey, message);
    long value = 0;
    for (int i = 0; i < 8; i++) {
      value = (value << 8) | (digest[i] & 0xff);
    }
    return value;
  }
}
