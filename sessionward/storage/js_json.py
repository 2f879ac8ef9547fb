"""One JSON encoder that writes what JavaScript's ``JSON.stringify`` writes.

pi writes transcripts with ``JSON.stringify(entry)`` and openclaw its session index with
``JSON.stringify(index, null, 2)``. Writing the same bytes keeps a file sessionward
rewrote identical to what those tools write, but for what changed. Python's ``json`` differs
in number layout (``1e-07``, ``100.0``), in its ``": "`` separator when indenting, and
cannot write a lone surrogate as an escape. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from json.encoder import encode_basestring  # json.dumps' escaper with ensure_ascii=False
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def stringify(value: Any, *, indent: int = 0, nonfinite_as_null: bool = False) -> str:
    """``JSON.stringify(value, null, indent)``: keys in their order, non-ASCII text as is.

    A lone surrogate is written as a ``\\udXXX`` escape, as ``JSON.stringify`` does (UTF-8
    cannot hold it). ``nonfinite_as_null`` writes NaN and the infinities as ``null``, as
    ``JSON.stringify`` does; without it they raise, for formats that must not hold them.

    Raises:
        ValueError: a NaN or infinite number (unless ``nonfinite_as_null``), or nesting too
            deep (or circular).
        TypeError: a value that is not JSON (sets, bytes, non-string keys, ...).
    """
    out: list[str] = []
    try:
        _encode(value, out, "\n" if indent else "", " " * indent, nonfinite_as_null)
    except RecursionError:
        raise ValueError("value is nested too deeply or is circular") from None
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", "".join(out))


def js_number(value: float) -> str:
    """Lay out a float as JavaScript's ``Number::toString`` does (ECMA-262).

    Both Python's ``repr`` and JavaScript pick the shortest digits that round-trip, so only
    the layout differs: JavaScript writes ``0.000015``, ``1e-7`` and ``100`` where Python
    writes ``1.5e-05``, ``1e-07`` and ``100.0``. Matching it makes a rewritten pi file
    byte-identical to what pi writes. The one exception is a whole float above 2**53.
    """
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not JSON")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + js_number(-value)
    mantissa, _, exp = float.__repr__(value).partition("e")
    whole, _, frac = mantissa.partition(".")
    all_digits = whole + frac
    digits = all_digits.strip("0")
    # ECMA-262's n and k: value == int(digits) * 10 ** (n - k), with k digits
    trailing_zeros = len(all_digits) - len(all_digits.rstrip("0"))
    k = len(digits)
    n = (int(exp) if exp else 0) - len(frac) + trailing_zeros + k
    if k <= n <= 21:
        integral = digits + "0" * (n - k)
        # Above 2**53 that integer is not the float's exact value: JavaScript reads it back
        # as the same double, but Python would read a different int. Keep the float form.
        return integral if int(integral) == value else float.__repr__(value)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    sign = "+" if n - 1 >= 0 else "-"
    head = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{head}e{sign}{abs(n - 1)}"


def _encode(value: Any, out: list[str], pad: str, step: str, nonfinite_as_null: bool) -> None:
    # ``pad`` is the line break plus the current indentation ("" when compact); ``step`` is
    # one level of indentation. Compact output uses "," and ":", indented ",\n  " and ": ".
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append("null" if nonfinite_as_null and not math.isfinite(value) else js_number(value))
    elif isinstance(value, dict | list | tuple):
        is_dict = isinstance(value, dict)
        opening, closing = ("{", "}") if is_dict else ("[", "]")
        if not value:
            out.append(opening + closing)
            return
        inner = pad + step
        out.append(opening)
        items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
        for i, (key, item) in enumerate(items):
            out.append(("," if i else "") + inner)
            if is_dict:
                if not isinstance(key, str):
                    raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
                out.append(encode_basestring(key) + (": " if step else ":"))
            _encode(item, out, inner, step, nonfinite_as_null)
        out.append(pad + closing)
    else:
        raise TypeError(f"a {type(value).__name__} is not JSON-serialisable")
