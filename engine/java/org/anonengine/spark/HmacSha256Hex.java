package org.anonengine.spark;

import org.apache.spark.sql.api.java.UDF3;

/**
 * HMAC-SHA256 as 64 lower-case hex digits: the same text that engine.pseudonym builds from sha2,
 * concat and unhex. Arguments are the inner and outer padded keys (64 bytes each, columns of the
 * engine's key table) and the message bytes. NULL in any argument gives NULL, as with the built-ins.
 */
public final class HmacSha256Hex implements UDF3<byte[], byte[], byte[], String> {
  private static final long serialVersionUID = 1L;
  private static final char[] DIGITS = "0123456789abcdef".toCharArray();

  @Override
  public String call(byte[] innerKey, byte[] outerKey, byte[] message) {
    if (innerKey == null || outerKey == null || message == null) {
      return null;
    }
    byte[] digest = HmacSha256.digest(innerKey, outerKey, message);
    char[] text = new char[digest.length * 2];
    for (int i = 0; i < digest.length; i++) {
      text[2 * i] = DIGITS[(digest[i] >> 4) & 0xf];
      text[2 * i + 1] = DIGITS[digest[i] & 0xf];
    }
    return new String(text);
  }
}
