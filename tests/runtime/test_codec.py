"""The payload codec: AES-GCM per payload, key id in the metadata, rotation, pass-through."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from payments_engine.domain.money import Money
from payments_engine.domain.payout import PayoutRequest
from payments_engine.runtime.codec import (
    CODEC_KEY_FILE,
    CODEC_TOKEN_FILE,
    ENCODING,
    FINGERPRINT_KEY_FILE,
    KEY_ID_METADATA,
    NONCE_BYTES,
    EncryptionCodec,
    Keyring,
    PayloadDecryptionError,
    PlaintextCodec,
    UnknownEncryptionKey,
    codec_of,
    data_converter,
    engine_data_converter,
    new_key_entry,
    settings_fingerprint_key,
    with_dev_secrets,
)
from payments_engine.runtime.settings import Settings, SettingsError, load_settings

NUMBER = "+254712345678"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in Settings.variables():
        monkeypatch.delenv(variable, raising=False)


def _request() -> PayoutRequest:
    return PayoutRequest(
        payout_id="order-1001",
        amount=Money(amount=1_500_00, currency="KES"),
        recipient_msisdn=NUMBER,
        country="KE",
        description="Invoice INV-58213 Amani kiosk",
    )


async def test_round_trip_encrypts_every_payload_with_the_key_id_in_its_metadata() -> None:
    keyring = Keyring.generate("k1")
    converter = engine_data_converter(keyring)

    [payload] = await converter.encode([_request()])

    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID_METADATA] == b"k1"
    assert set(payload.metadata) == {"encoding", KEY_ID_METADATA}
    for clear in (b"712345678", b"150000", b"Amani", b"json/plain"):
        assert clear not in payload.SerializeToString()
    [decoded] = await converter.decode([payload], [PayoutRequest])
    assert decoded == _request()


async def test_each_payload_gets_a_fresh_nonce() -> None:
    codec = EncryptionCodec(Keyring.generate("k1"))
    [plain] = await pydantic_data_converter.encode([_request()])

    first, second = await codec.encode([plain, plain])

    assert first.data[:NONCE_BYTES] != second.data[:NONCE_BYTES]
    assert first.data != second.data
    # nonce + ciphertext of the serialized payload + 16-byte tag
    assert len(first.data) == NONCE_BYTES + len(plain.SerializeToString()) + 16
    assert await codec.decode([first, second]) == [plain, plain]


async def test_rotation_new_key_encrypts_old_keys_still_decrypt() -> None:
    old = Keyring.generate("2024-01")
    [plain] = await pydantic_data_converter.encode([_request()])
    [written_before] = await EncryptionCodec(old).encode([plain])

    rotated = Keyring((("2025-06", os.urandom(32)), *old.keys))
    codec = EncryptionCodec(rotated)
    [written_after] = await codec.encode([plain])

    assert written_after.metadata[KEY_ID_METADATA] == b"2025-06"
    assert await codec.decode([written_before, written_after]) == [plain, plain]
    # The old key alone cannot read what the new one wrote; the error names the id only.
    with pytest.raises(UnknownEncryptionKey, match="unknown key id '2025-06'") as raised:
        await EncryptionCodec(old).decode([written_after])
    for _, key in rotated.keys:
        assert base64.b64encode(key).decode() not in str(raised.value)


async def test_unknown_key_id_is_a_clear_error() -> None:
    codec = EncryptionCodec(Keyring.generate("k1"))
    [payload] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    payload.metadata[KEY_ID_METADATA] = b"retired-2019"

    with pytest.raises(UnknownEncryptionKey, match="unknown key id 'retired-2019'"):
        await codec.decode([payload])


async def test_unencrypted_payloads_pass_through_unchanged() -> None:
    """Histories recorded before encryption keep decoding (and replaying)."""
    codec = EncryptionCodec(Keyring.generate("k1"))
    recorded = await pydantic_data_converter.encode([_request(), None, "text"])

    assert await codec.decode(recorded) == recorded
    [decoded] = await engine_data_converter(codec.keyring).decode(recorded[:1], [PayoutRequest])
    assert decoded == _request()


@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
async def test_tampered_ciphertext_is_refused(where: str) -> None:
    codec = EncryptionCodec(Keyring.generate("k1"))
    [plain] = await pydantic_data_converter.encode([_request()])
    [payload] = await codec.encode([plain])
    data = bytearray(payload.data)
    index = {"nonce": 0, "ciphertext": NONCE_BYTES + 5, "tag": len(data) - 1}[where]
    data[index] ^= 0x01
    payload.data = bytes(data)

    with pytest.raises(PayloadDecryptionError, match="key id 'k1' failed authentication"):
        await codec.decode([payload])


async def test_a_swapped_key_id_is_refused() -> None:
    """The key id is authenticated with the ciphertext, not just a label."""
    keyring = Keyring((("a", os.urandom(32)), ("b", os.urandom(32))))
    codec = EncryptionCodec(keyring)
    [payload] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    payload.metadata[KEY_ID_METADATA] = b"b"

    with pytest.raises(PayloadDecryptionError):
        await codec.decode([payload])


async def test_failure_messages_are_encrypted_too() -> None:
    converter = engine_data_converter(Keyring.generate("k1"))
    failure = Failure()

    await converter.encode_failure(
        ApplicationError(f"wallet {NUMBER} closed", type="WalletClosed"), failure
    )

    assert NUMBER.encode() not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError)
    assert decoded.message == f"wallet {NUMBER} closed" and decoded.type == "WalletClosed"


async def test_without_keys_nothing_is_encrypted_and_encrypted_payloads_are_refused() -> None:
    plaintext = PlaintextCodec()
    [plain] = await pydantic_data_converter.encode([_request()])
    [encrypted] = await EncryptionCodec(Keyring.generate("k9")).encode([plain])

    assert await plaintext.encode([plain]) == [plain]
    assert await plaintext.decode([plain]) == [plain]
    with pytest.raises(UnknownEncryptionKey, match="key id 'k9'.*PAYMENTS_CODEC_KEYS"):
        await plaintext.decode([encrypted])


def test_keyring_parses_the_setting_and_never_shows_a_key() -> None:
    first, second = new_key_entry("2025-06"), new_key_entry("2024-01")

    keyring = Keyring.parse(f"{first}, {second}\n")

    assert keyring.ids == ("2025-06", "2024-01") and keyring.current_id == "2025-06"
    assert Keyring.parse(keyring.export().get_secret_value()) == keyring
    assert first.partition(":")[2] not in repr(keyring)
    assert "**" in str(keyring.export())
    # URL-safe base64 without padding is taken as well.
    key = os.urandom(32)
    assert Keyring.parse(f"u:{base64.urlsafe_b64encode(key).decode().rstrip('=')}").get("u") == key


_KEY_A = base64.b64encode(bytes(range(32))).decode()
_KEY_B = base64.b64encode(bytes(range(32, 64))).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no key given"),
        ("k1", "entry 1 is not `id:base64key`"),
        ("k1:not base64!", "key 'k1' is not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "key 'k1' must be 32 bytes"),
        # Fixed keys, not random ones: the test ids must be the same in every collection
        # (pytest-xdist compares them across its workers).
        (f"k1:{_KEY_A},k1:{_KEY_B}", "key id 'k1' is given twice"),
        (f"bad id:{_KEY_A}", "key id 'bad id' must be"),
    ],
)
def test_malformed_keys_are_refused_naming_the_id_not_the_key(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Keyring.parse(text)
    secret = text.partition(":")[2].split(",")[0]
    if len(secret) > 8:
        assert secret not in str(raised.value)


def test_settings_refuse_malformed_keys_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    monkeypatch.setenv("PAYMENTS_CODEC_KEYS", f"k1:{key}")

    with pytest.raises(SettingsError, match="^PAYMENTS_CODEC_KEYS: key 'k1' must be 32") as raised:
        load_settings()
    assert key not in str(raised.value)


@pytest.mark.parametrize(
    "address",
    ["temporal:7233", "payments.tmprl.cloud:7233", "10.0.0.5:7233"],
)
def test_keys_are_required_unless_temporal_is_a_local_dev_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, address: str
) -> None:
    monkeypatch.setenv("PAYMENTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PAYMENTS_TEMPORAL_ADDRESS", address)

    with pytest.raises(SettingsError, match="^PAYMENTS_CODEC_KEYS: required when Temporal"):
        load_settings()

    monkeypatch.setenv("PAYMENTS_CODEC_KEYS", new_key_entry("prod-1"))
    assert load_settings().codec_keys is not None


@pytest.mark.parametrize(
    ("fields", "local"),
    [
        ({}, True),
        ({"temporal_address": "127.0.0.1:7233"}, True),
        ({"temporal_address": "[::1]:7233"}, True),
        ({"temporal_address": "localhost:7233", "temporal_tls": True}, False),
        ({"temporal_address": "localhost:7233", "temporal_api_key": SecretStr("x")}, False),
    ],
)
def test_local_dev_server_is_loopback_without_tls_or_api_key(
    fields: dict[str, object], local: bool, tmp_path: Path
) -> None:
    fields = {"data_dir": tmp_path, "codec_keys": SecretStr(new_key_entry("k")), **fields}
    assert Settings(**fields).temporal_is_local is local  # type: ignore[arg-type]


def test_locally_without_keys_nothing_is_encrypted(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)

    assert isinstance(data_converter(settings).payload_codec, PlaintextCodec)


async def test_dev_secrets_are_made_once_kept_0600_and_read_by_the_other_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    first = with_dev_secrets(Settings(data_dir=data_dir))
    again = with_dev_secrets(Settings(data_dir=data_dir))

    for name in (CODEC_KEY_FILE, FINGERPRINT_KEY_FILE, CODEC_TOKEN_FILE):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    assert first.codec_keys is not None and again.codec_keys is not None
    assert first.codec_keys.get_secret_value() == again.codec_keys.get_secret_value()
    assert first.fingerprint_key == again.fingerprint_key
    assert first.codec_auth_token == again.codec_auth_token

    # A CLI command beside `payments dev` (same data dir, no variables) uses the same key
    # and so reads what the engine wrote, even against a remote Temporal.
    monkeypatch.setenv("PAYMENTS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PAYMENTS_TEMPORAL_ADDRESS", "temporal:7233")
    cli = load_settings()
    written = await data_converter(first).encode([_request()])
    [read] = await data_converter(cli).decode(written, [PayoutRequest])
    assert read == _request()
    assert settings_fingerprint_key(cli) == first.fingerprint_key


def test_dev_secrets_keep_what_the_environment_sets(tmp_path: Path) -> None:
    entry = new_key_entry("ops-1")
    settings = Settings(data_dir=tmp_path, codec_keys=SecretStr(entry))

    filled = with_dev_secrets(settings)

    assert filled.codec_keys is not None and filled.codec_keys.get_secret_value() == entry
    assert not (tmp_path / CODEC_KEY_FILE).exists()
    codec = codec_of(data_converter(filled))
    assert codec is not None and codec.keyring.ids == ("ops-1",)


def test_a_key_file_others_can_read_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / CODEC_KEY_FILE
    path.write_text(new_key_entry("k1"))
    path.chmod(0o644)

    codec = codec_of(data_converter(Settings(data_dir=tmp_path)))

    assert codec is not None and codec.keyring.ids == ("k1",)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
