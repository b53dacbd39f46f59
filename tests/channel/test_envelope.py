"""Envelopes: canonical encoding, signatures that break on any change, strict parsing."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderwatch.channel.canonical import canonical_json, format_number
from borderwatch.channel.envelope import Envelope, read_envelope, verify_canonical
from borderwatch.errors import ChannelError

WHEN = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def breach(ids, deployment):
    return ids["iq-mod"].seal(
        "breach", {"sector": 7, "lat": 34.395, "lon": 40.985, "note": "3 on foot, heading W — é"},
        releasable_to=["sy-gov", "sdf", "tr", "us"], caveat="REL TO IQ, SY, SDF, TR, US",
        id=uuid.UUID("3f2a9c1e-0d4b-4e8a-9a51-7c2d8e6f1b20"), created=WHEN,
        parties=deployment.party_ids)


def test_canonical_encoding_is_sorted_compact_utf8(breach):
    text = breach.canonical().decode("utf-8")
    assert text.startswith('{"body":{"lat":34.395,"lon":40.985,"note":"3 on foot, heading W — é"')
    assert '"created":"2024-05-01T12:30:15.123456Z"' in text
    assert "signature" not in text
    # For this body (no floats needing ECMAScript layout, no astral keys) JCS is
    # exactly Python's sorted, compact, non-ASCII-escaping JSON.
    assert text == json.dumps(breach.signed_fields(), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False)
    assert json.loads(text) == breach.signed_fields()


def test_numbers_follow_ecmascript():
    # Expected values are what JSON.stringify prints (RFC 8785 appendix B).
    # Pairs, not a dict: -0.0 == 0.0, and as a dict key it silently replaced the 0.0 case.
    cases = [(0.0, "0"), (-0.0, "0"), (1.0, "1"), (0.1, "0.1"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
             (1.5e-7, "1.5e-7"), (0.000001, "0.000001"), (123456789.125, "123456789.125"),
             (-2.5e-300, "-2.5e-300"), (5e-324, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308")]
    for x, expected in cases:
        assert format_number(x) == expected
    assert canonical_json({"b": [1, 2.0, "x"], "a": None, "\U0001f600": 1, "\ue000": 2}) == \
        '{"a":null,"b":[1,2,"x"],"\U0001f600":1,"\ue000":2}'.encode()


def test_round_trip_and_verify(breach, deployment):
    breach.verify(deployment.public_key("iq-mod"))
    again = Envelope.from_json(breach.to_json(), parties=deployment.party_ids)
    assert again == breach
    again.verify(deployment.public_key("iq-mod"))
    assert Envelope.from_json(breach.to_dict()) == breach


def test_another_partys_key_does_not_verify(breach, deployment):
    with pytest.raises(ChannelError, match='signature does not verify with the key of "iq-mod"'):
        breach.verify(deployment.public_key("tr"))


def test_forged_sender_is_rejected(breach, deployment, ids):
    # Turkey signs an envelope but claims Iraq sent it.
    forged = ids["tr"].seal("breach", {"x": 1}, releasable_to=["tr"], parties=deployment.party_ids)
    forged = replace(forged, sender="iq-mod")
    with pytest.raises(ChannelError, match="forged, or altered"):
        forged.verify(deployment.public_key("iq-mod"))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_flipping_any_byte_of_the_encoding_breaks_the_signature(breach, deployment, data):
    canonical = breach.canonical()
    i = data.draw(st.integers(0, len(canonical) - 1), label="byte")
    bit = data.draw(st.integers(1, 255), label="xor")
    tampered = bytearray(canonical)
    tampered[i] ^= bit
    assert verify_canonical(deployment.public_key("iq-mod"), canonical, breach.signature)
    assert not verify_canonical(deployment.public_key("iq-mod"), bytes(tampered), breach.signature)


_CHANGES = {
    "id": st.uuids().map(lambda u: u),
    "sender": st.sampled_from(["sy-gov", "sdf", "tr", "us"]),
    "kind": st.sampled_from(["sighting", "track", "request", "acknowledgement", "text"]),
    "body": st.one_of(st.dictionaries(st.text(max_size=5), st.integers(-10, 10), max_size=3),
                      st.text(min_size=1, max_size=20)),
    "created": st.datetimes(timezones=st.just(timezone.utc)),
    "caveat": st.text(st.characters(min_codepoint=32, max_codepoint=0x7e), max_size=20),
    "releasable_to": st.lists(st.sampled_from(["iq-mod", "sy-gov", "sdf", "tr", "us"]),
                              unique=True, max_size=5).map(tuple),
    "signature": st.binary(min_size=64, max_size=64),
}


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_changing_any_field_breaks_the_signature(breach, deployment, data):
    name = data.draw(st.sampled_from(sorted(_CHANGES)), label="field")
    value = data.draw(_CHANGES[name].filter(lambda v: v != getattr(breach, name)), label="value")
    changed = replace(breach, **{name: value})
    with pytest.raises(ChannelError, match="signature does not verify"):
        changed.verify(deployment.public_key("iq-mod"))


def _wire(breach, **changes):
    d = breach.to_dict()
    for k, v in changes.items():
        if v is ...:
            del d[k]
        else:
            d[k] = v
    return json.dumps(d)


@pytest.mark.parametrize("changes, message", [
    ({"colour": "red"}, "unknown field 'colour'"),
    ({"sender": ...}, 'field "sender" is missing'),
    ({"v": 2}, 'field "v" must be 1'),
    ({"id": "not-a-uuid"}, 'field "id".*not a UUID'),
    ({"id": "3F2A9C1E-0D4B-4E8A-9A51-7C2D8E6F1B20"}, 'field "id".*canonical form'),
    ({"sender": 7}, 'field "sender" must be a string, got the number 7'),
    ({"sender": "nato"}, 'field "sender": unknown party "nato"'),
    ({"kind": "gossip"}, 'field "kind": unknown kind'),
    ({"created": "2024-05-01T12:30:15Z"}, 'field "created".*YYYY-MM-DDTHH:MM:SS.ffffffZ'),
    ({"created": "2024-02-30T12:30:15.000000Z"}, "not a real date"),
    ({"releasable_to": "tr"}, 'field "releasable_to" must be an array'),
    ({"releasable_to": ["tr", "tr"]}, r'releasable_to\[1\]": "tr" is listed twice'),
    ({"releasable_to": ["us", "nato"]}, r'releasable_to\[1\]": unknown party "nato"'),
    ({"body": 5}, 'field "body" must be a JSON object or a CoT XML string'),
    ({"body": {"x": 2**60 + 1}}, r"body.x: integer .* outside"),
    ({"body": {"x": "a" * 300_000}}, "more than the limit"),
    ({"caveat": "x" * 201}, 'field "caveat": at most 200'),
    ({"signature": "AAAA"}, 'field "signature" must be 64 bytes'),
])
def test_untrusted_json_is_refused_naming_the_field(breach, deployment, changes, message):
    with pytest.raises(ChannelError, match=message) as info:
        Envelope.from_json(_wire(breach, **changes), parties=deployment.party_ids)
    if "id" not in changes:
        assert str(info.value).startswith(f"envelope {breach.id}: ")


@pytest.mark.parametrize("text, message", [
    ("[]", "must be a JSON object"),
    ("{", "not valid JSON"),
    ('{"a": 1, "a": 2}', 'duplicate key "a"'),
    ('{"a": NaN}', "NaN is not JSON"),
    ("[" * 100_000 + "]" * 100_000, "more than the limit|nested"),
    ("[" * 50 + "]" * 50, "nested deeper"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_malformed_json_is_refused(text, message):
    with pytest.raises(ChannelError, match=message):
        Envelope.from_json(text)


def test_signature_must_be_canonical_base64(breach):
    sig = base64.b64encode(breach.signature).decode()
    bad = sig[:-3] + ("B" if sig[-3] == "A" else "A") + "=="  # stray bits before the padding
    if base64.b64decode(bad) == breach.signature:
        with pytest.raises(ChannelError, match="standard base64"):
            Envelope.from_json(_wire(breach, signature=bad))


def test_cot_xml_body(ids, deployment):
    cot = '<event version="2.0" uid="bw-1" type="a-h-G" how="m-g"><point lat="34.4" lon="40.9"/></event>'
    env = ids["us"].seal("sighting", cot, releasable_to=["iq-mod"], parties=deployment.party_ids)
    back = Envelope.from_json(env.to_json(), parties=deployment.party_ids)
    assert back.body == cot
    back.verify(deployment.public_key("us"))


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(value=_json)
def test_canonical_json_is_stable_and_means_the_same(value):
    try:
        encoded = canonical_json(value)
    except ChannelError as exc:  # only lone surrogates are refused
        assert "surrogate" in str(exc)
        return
    decoded = json.loads(encoded)
    assert _same(decoded, value)               # same meaning, numbers read as doubles
    assert canonical_json(decoded) == encoded  # and one encoding


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@settings(max_examples=100, deadline=None)
@given(when=st.datetimes(timezones=st.just(timezone.utc)), body=_json.filter(lambda v: isinstance(v, dict)))
def test_any_time_and_body_round_trip_through_json(ids, deployment, when, body):
    try:
        env = ids["sdf"].seal("text", body, releasable_to=["us"], created=when)
    except ChannelError as exc:
        assert "surrogate" in str(exc)
        return
    back = Envelope.from_json(env.to_json(), parties=deployment.party_ids)
    assert back.created == when
    back.verify(deployment.public_key("sdf"))


def test_read_envelope_returns_the_canonical_body(breach, deployment):
    env, body_text = read_envelope(breach.to_json(), parties=deployment.party_ids)
    assert env == breach
    assert body_text.encode() == canonical_json(breach.body)


@pytest.mark.parametrize("x, text", [(370.5, "370.5"), (1.0, "1"), (-0.001, "-0.001"),
                                     (1e-4, "0.0001"), (1e-7, "1e-7"), (1e15, "1000000000000000"),
                                     (1e16, "10000000000000000"), (1e21, "1e+21"),
                                     (1763300000.123456, "1763300000.123456")])
def test_number_fast_path_matches_ecmascript(x, text):
    assert format_number(x) == text


_odd = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([5.0, -0.0, 1e16, 1e21, 1.5e-7, 2**53, 2**60, 2.0**60, ",1e+5]", "1.0,"]),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner)
    | st.dictionaries(st.text(max_size=4) | st.sampled_from(["\U0001f600", "\ue000"]), inner, max_size=4)
    | st.dictionaries(st.integers(0, 3) | st.none(), inner, min_size=1, max_size=2),
    max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(value=_odd)
def test_the_fast_encoder_writes_what_the_exact_one_writes(value):
    from borderwatch.channel import canonical

    try:
        parts: list[str] = []
        canonical._encode(value, parts, "value", 0)
        exact = "".join(parts).encode("utf-8")
    except (ChannelError, UnicodeEncodeError):
        exact = None
    try:
        got = canonical_json(value)
    except ChannelError:
        got = None
    assert got == exact


def test_the_fast_encoder_still_refuses_deep_nesting():
    value: object = 1
    for _ in range(40):
        value = [value]
    with pytest.raises(ChannelError, match="nested deeper than 32"):
        canonical_json(value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048), st.integers(0, 64 * 8 - 1), st.booleans())
def test_the_fast_verifier_agrees_with_cryptography(message, bit, flip):
    """libsodium on the hot path, OpenSSL in the audit: both must say the same of our signatures."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from borderwatch.channel.envelope import verify_signature

    key = Ed25519PrivateKey.generate()
    sig = bytearray(key.sign(message))
    if flip:
        sig[bit // 8] ^= 1 << (bit % 8)
    try:
        key.public_key().verify(bytes(sig), message)
        openssl = True
    except InvalidSignature:
        openssl = False
    assert verify_signature(key.public_key(), bytes(sig), message) is openssl
    assert openssl is (not flip)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_libsodium_signs_exactly_what_openssl_signs(message):
    """Ed25519 is deterministic: the fast signer must write OpenSSL's very bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from borderwatch.channel.envelope import sign_message

    key = Ed25519PrivateKey.generate()
    assert sign_message(key, message) == key.sign(message)


def test_seal_json_is_seal_then_to_json(deployment):
    """The one-pass wire form is byte for byte what sealing and encoding give."""
    import uuid
    from datetime import datetime, timezone

    owner = deployment.identity(deployment.policy.owner)
    id_, when = uuid.uuid4(), datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    body = {"i": 7, "t0": 1.5e-7, "note": "é\u2028\"", "nested": {"b": [1, 2.5, None]}}
    wire = owner.seal_json("breach", body, releasable_to=deployment.party_ids, id=id_, created=when)
    env = owner.seal("breach", body, releasable_to=deployment.party_ids, id=id_, created=when)
    assert wire == env.to_json()
    env.verify(owner.public_key)
    # seal_text: the same envelope, and the body text a store takes instead of encoding it again
    sealed, body_text = owner.seal_text("breach", body, releasable_to=deployment.party_ids, id=id_, created=when)
    assert sealed == env
    assert read_envelope(env.to_json(), parties=deployment.party_ids) == (env, body_text)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["v", "id", "sender", "kind", "created", "caveat", "releasable_to", "body",
                        "signature", None]),
       st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=40),
                 st.lists(st.text(max_size=8), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
                 st.sampled_from(["2026-02-30T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z",
                                  "2026-01-01T24:00:00.000000Z", "2026-12-31T23:59:60.000000Z",
                                  "AAAA", "iq-mod", "breach", "00000000-0000-0000-0000-00000000000A",
                                  " ", "a\x01b"])))
def test_the_fast_reader_accepts_and_refuses_as_the_full_one(breach, deployment, field, value):
    """`read_envelope`'s shortcut for valid envelopes must never change an answer."""
    from borderwatch.channel import envelope as envelope_module
    from borderwatch.channel.envelope import read_envelope

    obj = breach.to_dict()
    if field is not None:
        obj[field] = value
    answers = []
    for shortcut in (True, False):
        saved = envelope_module._read_valid
        if not shortcut:
            envelope_module._read_valid = lambda obj, parties: None
        try:
            answers.append(read_envelope(dict(obj), parties=deployment.party_ids))
        except ChannelError as exc:
            answers.append(str(exc))
        finally:
            envelope_module._read_valid = saved
    assert answers[0] == answers[1]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["sender", "kind", "caveat", "releasable_to", "body", "signature", "created",
                        None]),
       st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=40), st.binary(max_size=70),
                 st.tuples(st.sampled_from(["iq-mod", "us", "nobody", "bad id"])),
                 st.lists(st.sampled_from(["iq-mod", "us"]), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.floats(allow_nan=True), max_size=2),
                 st.sampled_from(["iq-mod", "breach", " ", "a\x01b", b"\0" * 64,
                                  datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=timezone.utc),
                                  ("iq-mod", "iq-mod")])))
def test_the_fast_checks_accept_and_refuse_as_the_full_ones(breach, deployment, field, value):
    """`check_envelope`'s shortcut for valid envelopes must never change an answer."""
    from borderwatch.channel import envelope as envelope_module
    from borderwatch.channel.envelope import check_envelope

    env = breach if field is None else replace(breach, **{field: value})
    answers = []
    for shortcut in (True, False):
        saved = envelope_module._check_valid
        if not shortcut:
            envelope_module._check_valid = lambda env, parties, signed: None
        try:
            answers.append(check_envelope(env, deployment.party_ids))
        except (ChannelError, TypeError, AttributeError) as exc:
            answers.append(f"{type(exc).__name__}: {exc}")
        finally:
            envelope_module._check_valid = saved
    assert answers[0] == answers[1]
