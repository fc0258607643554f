"""The payload codec: every payload the engine hands Temporal is AES-GCM ciphertext.

Workflow inputs and results, activity inputs and results, signals, updates, queries,
memos and failure messages (moved into encoded attributes) pass through
:class:`EncryptionCodec` before they leave the process, so Temporal's database, its
history and the Web UI without the codec server hold only ciphertext. Search attributes
are not payloads the codec sees: they carry no personal data (see
``domain.search_attributes``).

An encrypted payload::

    metadata: {"encoding": "binary/encrypted", "encryption-key-id": "<key id>"}
    data:     12-byte nonce || AES-256-GCM(serialized original payload)

The original payload (its own metadata and data) is serialized whole, so the pydantic
converter's encoding is restored exactly on decode. The key id is authenticated with the
ciphertext (associated data): a payload whose key id or bytes were altered is refused.

Keys and rotation: ``PAYMENTS_CODEC_KEYS`` is ``id:base64key[,id:base64key...]`` of
32-byte keys; the first encrypts, every one decrypts. To rotate, put the new key first
and keep the old ones for as long as histories encrypted with them are kept (retention)
or may be replayed.

Histories recorded before encryption: a payload without the ``binary/encrypted``
encoding is passed through unchanged on decode, so workflows started before the codec
was switched on keep running, and their histories still replay.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

if TYPE_CHECKING:
    from payments_engine.runtime.settings import Settings

log = logging.getLogger("payments.codec")

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12
# Bound into every ciphertext with the key id: a payload of another format or version, or
# with its key id swapped, fails authentication instead of decrypting to something else.
_ASSOCIATED_DATA_PREFIX = b"payments-engine/payload/v1:"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Files `payments dev` keeps in the data dir (mode 0600), made on its first start.
CODEC_KEY_FILE = "codec.key"
FINGERPRINT_KEY_FILE = "fingerprint.key"
CODEC_TOKEN_FILE = "codec-auth.token"


class CodecError(ValueError):
    """A payload cannot be decoded; the message names the key id, never a key or data."""


class UnknownEncryptionKey(CodecError):
    """A payload was encrypted with a key id this process does not have."""


class PayloadDecryptionError(CodecError):
    """A payload's ciphertext did not authenticate: tampered, truncated or corrupted."""


@dataclass(frozen=True)
class Keyring:
    """The codec's keys: ``current`` encrypts, every key decrypts.

    Build it with :meth:`parse` (settings) or :meth:`generate` (throwaway stacks); its
    repr shows key ids only.
    """

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        """Check ids and key lengths; at least one key."""
        if not self.keys:
            raise ValueError("no key given")
        seen: set[str] = set()
        for key_id, key in self.keys:
            if not _KEY_ID.match(key_id):
                raise ValueError(f"key id {key_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
            if key_id in seen:
                raise ValueError(f"key id {key_id!r} is given twice")
            if len(key) != KEY_BYTES:
                raise ValueError(
                    f"key {key_id!r} must be {KEY_BYTES} bytes (base64 of 32 random bytes)"
                )
            seen.add(key_id)

    def __repr__(self) -> str:
        return f"Keyring(ids={list(self.ids)!r})"

    @property
    def current_id(self) -> str:
        """The id of the key new payloads are encrypted with (the first)."""
        return self.keys[0][0]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key id, current first."""
        return tuple(key_id for key_id, _ in self.keys)

    def get(self, key_id: str) -> bytes | None:
        """The key named ``key_id``, or None."""
        return next((key for known, key in self.keys if known == key_id), None)

    @classmethod
    def parse(cls, text: str) -> Keyring:
        """Read ``id:base64key[,id:base64key...]`` (commas or new lines between keys).

        Raises:
            ValueError: a malformed entry; the message names the key id or the entry's
                position, never the key.
        """
        keys: list[tuple[str, bytes]] = []
        entries = [entry.strip() for entry in re.split(r"[,\n]", text) if entry.strip()]
        for position, entry in enumerate(entries, start=1):
            key_id, colon, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not colon or not key_id:
                raise ValueError(f"entry {position} is not `id:base64key`")
            keys.append((key_id, _decode_key(key_id, encoded.strip())))
        return cls(tuple(keys))

    @classmethod
    def generate(cls, key_id: str | None = None) -> Keyring:
        """One fresh random key (``payments dev``, tests)."""
        return cls(((key_id or f"k-{secrets.token_hex(4)}", AESGCM.generate_key(bit_length=256)),))

    def export(self) -> SecretStr:
        """The keyring in the ``PAYMENTS_CODEC_KEYS`` format, as a secret."""
        return SecretStr(
            ",".join(f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in self.keys)
        )


def _decode_key(key_id: str, encoded: str) -> bytes:
    # Standard or URL-safe alphabet (openssl rand -base64 32, or secrets.token_urlsafe).
    normalised = encoded.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        return base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"key {key_id!r} is not base64") from None


def new_key_entry(key_id: str) -> str:
    """A fresh ``id:base64key`` entry for ``PAYMENTS_CODEC_KEYS`` (a new key to rotate to)."""
    return Keyring.generate(key_id).export().get_secret_value()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over every payload, with the key id in the payload's metadata.

    Encode encrypts with the keyring's current key and a fresh random 12-byte nonce per
    payload. Decode decrypts with whichever known key the payload names, and passes a
    payload that is not encrypted through unchanged: histories recorded before the
    codec was switched on still replay, and their workflows keep running.
    """

    def __init__(self, keyring: Keyring) -> None:
        """Use ``keyring``; its first key encrypts."""
        self.keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload whole with the current key."""
        key_id = self.keyring.current_id
        cipher = self._ciphers[key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), _associated(key_id))
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; pass any other payload through unchanged.

        Raises:
            UnknownEncryptionKey: a payload names a key id this keyring lacks.
            PayloadDecryptionError: a payload did not authenticate (tampered).
        """
        return [self._decode_one(payload) for payload in payloads]

    def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = _key_id_of(payload)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownEncryptionKey(
                f"payload encrypted with unknown key id {key_id!r}: add that key to "
                "PAYMENTS_CODEC_KEYS (after the current one)"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, _associated(key_id))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload encrypted with key id {key_id!r} failed authentication "
                "(tampered or corrupted)"
            ) from None
        return Payload.FromString(plain)


class PlaintextCodec(PayloadCodec):
    """No keys (a local dev server without ``PAYMENTS_CODEC_KEYS``): nothing is encrypted.

    It still recognises encrypted payloads, and refuses them with a message naming the
    key id and the setting, rather than the converter's "unknown encoding".
    """

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Pass every payload through unchanged."""
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Pass unencrypted payloads through; refuse encrypted ones.

        Raises:
            UnknownEncryptionKey: a payload is encrypted; this process has no keys.
        """
        for payload in payloads:
            if payload.metadata.get("encoding") == ENCODING:
                raise UnknownEncryptionKey(
                    f"payload encrypted with key id {_key_id_of(payload)!r}, and this process "
                    "has no codec keys: set PAYMENTS_CODEC_KEYS, or run it with the data dir "
                    f"of `payments dev` (its {CODEC_KEY_FILE})"
                )
        return list(payloads)


def _associated(key_id: str) -> bytes:
    return _ASSOCIATED_DATA_PREFIX + key_id.encode()


def _key_id_of(payload: Payload) -> str:
    raw = payload.metadata.get(KEY_ID_METADATA)
    if not raw:
        raise PayloadDecryptionError(f"encrypted payload without {KEY_ID_METADATA!r} metadata")
    return raw.decode("utf-8", errors="replace")


def engine_data_converter(keyring: Keyring | None) -> DataConverter:
    """The pydantic data converter with the engine's codec (and encoded failure messages).

    Failure messages and stack traces move into encoded attributes, which the codec
    encrypts: an exception quoting a provider's answer is not in clear in the history
    either. Clients with the codec (and the Web UI through the codec server) read them
    as usual.

    Args:
        keyring: the keys; None for a local dev server without keys (nothing encrypted,
            see :class:`PlaintextCodec`).
    """
    codec: PayloadCodec = EncryptionCodec(keyring) if keyring is not None else PlaintextCodec()
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def settings_keyring(settings: Settings) -> Keyring | None:
    """The codec keys of ``settings``: ``PAYMENTS_CODEC_KEYS``, else ``<data dir>/codec.key``.

    Returns:
        None when neither is there (allowed only with a local dev server: the settings
        refuse to load otherwise).

    Raises:
        ValueError: the key file is malformed (names the file, not its content).
    """
    if settings.codec_keys is not None:
        return Keyring.parse(settings.codec_keys.get_secret_value())
    text = read_secret_file(settings.data_dir / CODEC_KEY_FILE)
    if text is None:
        return None
    try:
        return Keyring.parse(text)
    except ValueError as exc:
        raise ValueError(f"{settings.data_dir / CODEC_KEY_FILE}: {exc}") from None


_warned_plaintext = False


def data_converter(settings: Settings) -> DataConverter:
    """The engine's data converter for ``settings``: every Temporal client uses it.

    Without keys (possible only with a local dev server) payloads go unencrypted, with
    one warning per process.
    """
    global _warned_plaintext
    keyring = settings_keyring(settings)
    if keyring is None and not _warned_plaintext:
        _warned_plaintext = True
        log.warning(
            "payloads are NOT encrypted: PAYMENTS_CODEC_KEYS is not set and %s does not exist "
            "(allowed with a local Temporal dev server only)",
            settings.data_dir / CODEC_KEY_FILE,
        )
    return engine_data_converter(keyring)


def codec_of(converter: DataConverter) -> EncryptionCodec | None:
    """The engine's encryption codec inside ``converter``, if it has one."""
    codec = converter.payload_codec
    return codec if isinstance(codec, EncryptionCodec) else None


def read_secret_file(path: Path) -> str | None:
    """The stripped content of a secret file, or None if it does not exist.

    A file others can read is narrowed to 0600 (with a warning naming the file).
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & 0o077:
        log.warning("%s was readable by others; narrowing it to 0600", path)
        path.chmod(0o600)
    return path.read_text().strip() or None


def load_or_create_secret_file(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path``; made with ``make()`` and written 0600 if missing.

    Created exclusively: two processes starting at once end up with the same secret.
    """
    existing = read_secret_file(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = read_secret_file(path)
        if existing is None:
            raise ValueError(f"{path} is empty") from None
        return existing
    value = make()
    with os.fdopen(fd, "w") as file:
        file.write(value + "\n")
    return value


def with_dev_secrets(settings: Settings) -> Settings:
    """``payments dev``: fill the codec keys, codec token and fingerprint key from the data dir.

    Each one not set in the environment is read from its file in the data dir, or made
    and kept there (mode 0600) on the first start, so a restart (and the CLI run beside
    it) uses the same ones and can still read what the engine wrote.
    """
    data_dir = settings.data_dir
    update: dict[str, SecretStr] = {}
    if settings.codec_keys is None:
        update["codec_keys"] = SecretStr(
            load_or_create_secret_file(
                data_dir / CODEC_KEY_FILE,
                lambda: Keyring.generate(f"dev-{secrets.token_hex(4)}").export().get_secret_value(),
            )
        )
    if settings.fingerprint_key is None:
        update["fingerprint_key"] = SecretStr(
            load_or_create_secret_file(
                data_dir / FINGERPRINT_KEY_FILE, lambda: secrets.token_urlsafe(32)
            )
        )
    if settings.codec_auth_token is None:
        update["codec_auth_token"] = SecretStr(
            load_or_create_secret_file(
                data_dir / CODEC_TOKEN_FILE, lambda: secrets.token_urlsafe(32)
            )
        )
    return settings.model_copy(update=update) if update else settings


def settings_fingerprint_key(settings: Settings) -> SecretStr | None:
    """``PAYMENTS_FINGERPRINT_KEY``, else ``<data dir>/fingerprint.key`` (``payments dev``)."""
    if settings.fingerprint_key is not None:
        return settings.fingerprint_key
    text = read_secret_file(settings.data_dir / FINGERPRINT_KEY_FILE)
    return SecretStr(text) if text is not None else None
