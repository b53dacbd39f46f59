"""Canonical JSON: one byte string per value, so that a signature means one thing.

Parties sign bytes, not objects. If two encoders could write the same envelope
in two ways (key order, spaces, ``1.0`` vs ``1``, ``\\u00e9`` vs ``é``), a
verifier written in another language would reject honest messages, and a
relay could change bytes without changing meaning. We follow the JSON
Canonicalization Scheme, RFC 8785 (JCS):

- objects: keys sorted by their UTF-16 code units, no whitespace anywhere;
- strings: UTF-8, only ``"``, ``\\`` and control characters escaped (the
  short forms ``\\b \\t \\n \\f \\r``, else ``\\u00xx`` in lower case);
- numbers: ECMAScript ``Number.prototype.toString`` (shortest round-trip
  digits, ``1e+21`` / ``1.5e-7`` past the same thresholds), which is what
  ``JSON.stringify`` prints in every browser and what a Go/Rust JCS library
  prints too. Integers outside ±(2**53 - 1) whose text would change as a
  double are refused (RFC 7493, I-JSON), since they would silently lose digits in
  such a verifier; NaN and infinities are not JSON and are refused.

`decode_json` is the matching strict reader for untrusted input: duplicate
keys, NaN/Infinity, over-deep nesting and over-long input are refused.
"""

from __future__ import annotations

import json
import json.scanner
import math
from decimal import Decimal
from typing import Any

from ..errors import ChannelError

MAX_SAFE_INTEGER = 2**53 - 1
MAX_DEPTH = 32  # nesting of arrays/objects; a CoT detail tree is far shallower

# Python's own string escaper already matches JCS (short escapes for \b\t\n\f\r,
# lower-case \u00xx for other controls, nothing else escaped when
# ensure_ascii=False), so strings go through it.
escape_string = json.encoder.encode_basestring  # type: ignore[attr-defined]  (C-accelerated)
_escape = escape_string


# The fast path: the C encoder writes sorted, compact, non-ASCII-escaping JSON, which *is*
# RFC 8785 except for numbers whose text differs from ECMAScript's (a float with an exponent
# or an integral value such as ``5.0``, an integer of 16 digits or more), keys beyond the
# BMP (UTF-16 order), non-string keys (which it would coerce) and nesting past MAX_DEPTH.
# Each of those sends the value to the exact encoder below, which also words the errors.
try:
    from _json import make_encoder as _make_c_encoder
except ImportError:  # pragma: no cover - CPython always has it
    _make_c_encoder = None


def _not_json(value: Any) -> Any:
    raise TypeError(type(value).__name__)


# Made once (json.dumps would build it per call): markers None (no cycle check: a cycle
# ends in RecursionError and the exact path), no indent, ":" and ",", sort_keys, no
# skipkeys, no NaN.
_c_iterencode = (_make_c_encoder(None, _not_json, escape_string, None, ":", ",", True, False,
                                 False) if _make_c_encoder is not None else None)


def _c_encode(value: Any) -> str:
    if _c_iterencode is None:
        raise TypeError("no C encoder")
    if isinstance(value, str):
        return escape_string(value)
    return "".join(_c_iterencode(value, 0))


def canonical_json(value: Any, *, where: str = "value") -> bytes:
    """Encode `value` (dict/list/str/int/float/bool/None) as RFC 8785 bytes.

    `where` names the value in error messages (``body``, ``body.detail[2]``).
    """
    fast = _fast_canonical(value)
    if fast is not None:
        return fast
    parts: list[str] = []
    _encode(value, parts, where, 0)
    text = "".join(parts)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Only lone surrogates get here; _encode names the field when it can.
        raise ChannelError(f"{where}: contains a lone UTF-16 surrogate, not valid Unicode") from None


def _fast_canonical(value: Any) -> bytes | None:
    """`canonical_json` by the C encoder when that is provably the same bytes, else None.

    Decoding the text back and comparing it with `value` catches every coercion the
    C encoder makes that the exact encoder would refuse (an int or None key becomes a
    string); the regular expression and the checks after it catch the number forms and
    key orders where the two differ. Costs a few microseconds against tens.
    """
    try:
        text = _c_encode(value)
    except (TypeError, ValueError, RecursionError, OverflowError):
        return None
    if not text.isascii() and max(text) > "\uffff":
        return None          # a character beyond the BMP: keys may sort differently in UTF-16
    if text.count("{") + text.count("[") > MAX_DEPTH and not _depth_ok(value, 0):
        return None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return None          # a lone surrogate: the exact encoder names the field
    if not isinstance(value, str):
        try:
            back, end = _scan_numbers_checked(text, 0)
        except (_OddNumber, ValueError, RecursionError):
            return None      # a number ECMAScript writes otherwise (see _float_token)
        if end != len(text) or back != value:
            return None      # a coerced key, a tuple, a float/int mix-up: take the exact path
    return data


class _OddNumber(Exception):
    """A number token whose C-encoder text is not its RFC 8785 text."""


def _float_token(text: str) -> float:
    # repr() and ECMAScript agree on a finite double except for exponent forms and
    # integral values ("5.0" vs "5", "-0.0" vs "0").
    if "e" in text or "E" in text or text.endswith(".0"):
        raise _OddNumber(text)
    return float(text)


def _int_token(text: str) -> int:
    # Integers beyond ±(2**53 - 1) (16 digits or more) need the exact path's checks.
    if len(text) > 15:
        raise _OddNumber(text)
    return int(text)


# Reads the fast path's text back with every number token checked; the C scanner, so the
# round trip costs about what encoding did.
_scan_numbers_checked = json.scanner.c_make_scanner(  # type: ignore[attr-defined]
    json.JSONDecoder(parse_float=_float_token, parse_int=_int_token))


def _depth_ok(value: Any, depth: int) -> bool:
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return all(_depth_ok(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_depth_ok(v, depth + 1) for v in value)
    return True


def _encode(value: Any, out: list[str], where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ChannelError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        _check_text(value, where)
        out.append(_escape(value))
    elif isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            out.append(str(int(value)))
        elif _double_text(value) == str(value):
            # A large float such as 2.0**60 prints without a fraction and reads
            # back as an int; as a double (what JCS numbers are) it prints the same.
            out.append(str(value))
        else:
            raise ChannelError(f"{where}: integer {value} is outside ±(2**53-1) and would change "
                               "as a double; send it as a string")
    elif isinstance(value, float):
        out.append(format_number(value, where))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ChannelError(f"{where}: object key {key!r} is not a string")
        out.append("{")
        # Code-point order equals UTF-16 order unless a key has characters
        # beyond U+FFFF; ASCII keys (nearly all) take the fast path.
        keys = sorted(value) if all(k.isascii() for k in value) else sorted(value, key=_utf16_key)
        for i, key in enumerate(keys):
            if i:
                out.append(",")
            _check_text(key, f"{where}.{key}")
            out.append(_escape(key))
            out.append(":")
            _encode(value[key], out, f"{where}.{key}", depth + 1)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, f"{where}[{i}]", depth + 1)
        out.append("]")
    else:
        raise ChannelError(f"{where}: {type(value).__name__} is not a JSON value")


def _double_text(value: int) -> str | None:
    try:
        return format_number(float(value))
    except OverflowError:
        return None


def _utf16_key(key: str) -> bytes:
    # RFC 8785 §3.2.3: sort by UTF-16 code units, which differs from code-point
    # order for characters beyond the Basic Multilingual Plane.
    return key.encode("utf-16-be", "surrogatepass")


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ChannelError(f"{where}: contains a lone UTF-16 surrogate, not valid Unicode") from None


def format_number(x: float, where: str = "value") -> str:
    """ECMAScript ``Number::toString`` of a finite double (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(x):
        raise ChannelError(f"{where}: {x} is not a finite number")
    if x == 0:
        return "0"  # also -0.0
    text = repr(x)
    if "e" not in text:
        # repr() writes fixed notation only for 1e-4 <= |x| < 1e16, inside ECMAScript's
        # fixed range, with the same shortest digits: only a trailing ".0" differs.
        return text[:-2] if text.endswith(".0") else text
    sign = "-" if x < 0 else ""
    # repr() gives the shortest digit string that round-trips, the same
    # digits ECMAScript chooses; only the layout differs.
    _, digit_tuple, exp = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exp += len("".join(map(str, digit_tuple))) - len(digits)
    k = len(digits)
    n = exp + k  # value = 0.digits × 10**n
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mant = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        body = f"{mant}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def decode_json(data: bytes | str, *, what: str, max_bytes: int) -> Any:
    """Parse untrusted JSON strictly; errors name `what` (``envelope``, ``body``)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > max_bytes:
        raise ChannelError(f"{what}: {len(data)} bytes, more than the limit of {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ChannelError(f"{what}: not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except ChannelError as exc:
        raise ChannelError(f"{what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ChannelError(f"{what}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ChannelError(f"{what}: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        raise ChannelError(f"{what}: not valid JSON ({exc})") from None
    # Nesting can be no deeper than the number of "[" and "{" in the text (those inside
    # strings only make the bound looser): most documents need no walk at all.
    if text.count("{") + text.count("[") > MAX_DEPTH:
        _check_depth(value, what, 0)
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ChannelError(f'duplicate key "{key}"')
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ChannelError(f"{name} is not JSON")


def _check_depth(value: Any, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ChannelError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_depth(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_depth(item, f"{where}[{i}]", depth + 1)
