"""Master key loading, key fingerprints and per-domain subkeys.

The master key never enters a Spark plan: only HKDF-SHA256 subkeys do, one per domain and
purpose, so that leaking one subkey (say, through a plan printed without redaction) exposes one
domain's pseudonyms and not the others.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.config.model import KeySource, Where
from engine.errors import EXIT_USAGE, KeyMaterialError

MIN_KEY_BYTES = 32
SUBKEY_BYTES = 32
_HEX = re.compile(r"[0-9a-fA-F]+")
# Bumping this label changes every pseudonym, so it only changes with a new major version.
_HKDF_LABEL = b"anon-engine/v1/"


@dataclass(frozen=True)
class MasterKey:
    """The master key bytes and a one-way fingerprint; repr and str show only the fingerprint."""

    material: bytes = field(repr=False)
    fingerprint: str = ""

    def __str__(self) -> str:
        return f"MasterKey(fingerprint={self.fingerprint})"

    def subkey(self, purpose: str, domain: str) -> bytes:
        """Derive the 32-byte subkey of ``domain`` for ``purpose`` (pseudonymize, date_shift)."""
        info = _HKDF_LABEL + purpose.encode("utf-8") + b"/" + domain.encode("utf-8")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=SUBKEY_BYTES, salt=None, info=info)
        return hkdf.derive(self.material)


def fingerprint(material: bytes) -> str:
    """Return a short one-way id of a key: 16 hex characters of a labelled SHA-256."""
    return hashlib.sha256(b"anon-engine key fingerprint\x00" + material).hexdigest()[:16]


def decode_key(text: str, origin: str) -> bytes:
    """Decode hex or base64 key text; ``origin`` names the variable or file in messages."""
    compact = "".join(text.split())
    if not compact:
        raise KeyMaterialError(f"the key in {origin} is empty; {_GENERATE_HINT}")
    # Text made only of hex digits is read as hex, which is what `openssl rand -hex` writes.
    if _HEX.fullmatch(compact) and len(compact) % 2 == 0:
        material = bytes.fromhex(compact)
    else:
        try:
            material = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise KeyMaterialError(
                f"the key in {origin} is neither hex nor base64; {_GENERATE_HINT}"
            ) from None
    if len(material) < MIN_KEY_BYTES:
        raise KeyMaterialError(
            f"the key in {origin} decodes to {len(material)} bytes, but at least "
            f"{MIN_KEY_BYTES} random bytes are required; {_GENERATE_HINT}"
        )
    return material


_GENERATE_HINT = "generate one with `python -m engine.keys new`"


def looks_like_key_text(text: str) -> bool:
    """Return whether ``text`` is hex or base64 for at least MIN_KEY_BYTES bytes.

    Messages use it to leave out a value that is probably a key pasted where a path belongs.
    """
    compact = "".join(text.split())
    if _HEX.fullmatch(compact):
        return len(compact) // 2 >= MIN_KEY_BYTES
    try:
        return len(base64.b64decode(compact, validate=True)) >= MIN_KEY_BYTES
    except (binascii.Error, ValueError):
        return False


def load_master_key(source: KeySource, environ: dict[str, str] | None = None) -> MasterKey:
    """Read the master key named by the config, from the environment or from a file."""
    environ = dict(os.environ) if environ is None else environ
    if source.env:
        origin = f"environment variable {source.env} (config {source.where})"
        text = environ.get(source.env)
        if text is None:
            raise KeyMaterialError(
                f"{origin} is not set; export it from your secret store, or {_GENERATE_HINT}"
            )
    else:
        origin = f"key file {source.file} (config {source.where})"
        hint = _GENERATE_HINT
        if looks_like_key_text(str(source.file)):
            # Probably the key itself, pasted where its path belongs, so it is not repeated.
            origin = f"the key file named in config {source.where} (the name looks like key material)"
            hint = "'file' must be the path of the file containing the key, never the key itself"
        try:
            text = Path(str(source.file)).read_text(encoding="ascii")
        except FileNotFoundError:
            raise KeyMaterialError(f"{origin} does not exist; {hint}") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not ASCII text"
            raise KeyMaterialError(f"{origin} cannot be read: {reason}") from None
    material = decode_key(text, origin)
    return MasterKey(material=material, fingerprint=fingerprint(material))


def new_key_text(encoding: str = "base64") -> str:
    """Return 32 fresh random bytes as base64 or hex text."""
    material = secrets.token_bytes(MIN_KEY_BYTES)
    return material.hex() if encoding == "hex" else base64.b64encode(material).decode("ascii")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.keys", description="Create or inspect anonymization keys."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="print a new random 32-byte key")
    new.add_argument("--hex", action="store_true", help="print hex instead of base64")
    new.add_argument("--out", help="write the key to this file (mode 600) instead of stdout")
    show = commands.add_parser("fingerprint", help="print the fingerprint of a key")
    show.add_argument("--env", help="environment variable holding the key")
    show.add_argument("--file", help="file holding the key")
    args = parser.parse_args(argv)

    if args.command == "new":
        text = new_key_text("hex" if args.hex else "base64")
        if args.out:
            try:
                # O_EXCL: an existing file, which may hold the key in use, is never overwritten.
                descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                print(f"error: {args.out} already exists and is left unchanged; give a new path "
                      "with --out, or remove the old file first", file=sys.stderr)
                return EXIT_USAGE
            except OSError as exc:
                print(f"error: cannot create {args.out}: {exc.strerror}", file=sys.stderr)
                return EXIT_USAGE
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(text + "\n")
            material = decode_key(text, args.out)
            print(f"wrote a new key to {args.out} (fingerprint {fingerprint(material)})")
        else:
            print(text)
        return 0

    if bool(args.env) == bool(args.file):
        parser.error("give exactly one of --env or --file")
    if args.env and looks_like_key_text(args.env):
        # A key typed in place of a variable name is reported without repeating it. A key given
        # as --file is left out of the "does not exist" message by load_master_key.
        print("error: the value of --env looks like key material, not a variable name; give the "
              "name of the environment variable that contains the key", file=sys.stderr)
        return EXIT_USAGE
    source = KeySource(env=args.env, file=args.file, where=Where("command line", None, "key"))
    try:
        print(load_master_key(source).fingerprint)
    except KeyMaterialError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
