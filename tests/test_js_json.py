"""The JavaScript-compatible JSON encoder (sessionward/storage/js_json.py), on literal values."""

from __future__ import annotations

import json

import pytest

from sessionward.storage.js_json import js_number, stringify


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (100.0, "100"), (1.5e-05, "0.000015"), (1e-07, "1e-7"), (-2.5, "-2.5"),
     (1e21, "1e+21"), (123456789012.5, "123456789012.5"), (2.0**60, "1.152921504606847e+18")],
)
def test_numbers_are_laid_out_as_javascript_lays_them_out(value, text):
    assert js_number(value) == text


def test_compact_output_has_no_spaces_and_keeps_key_order_and_non_ascii_text():
    assert stringify({"b": 1, "a": [True, None, "é"], "c": {}}) == '{"b":1,"a":[true,null,"é"],"c":{}}'


def test_indented_output_matches_json_stringify_with_two_spaces():
    value = {"s": {"n": 1.0, "l": [1, "x"], "e": [], "o": {}}}
    assert stringify(value, indent=2) == json.dumps(value, indent=2).replace("1.0", "1")


def test_a_lone_surrogate_is_written_as_an_escape():
    assert stringify(["\ud800"]) == '["\\ud800"]'


def test_non_finite_numbers_raise_unless_written_as_null():
    with pytest.raises(ValueError):
        stringify({"n": float("nan")})
    assert stringify({"n": float("inf")}, nonfinite_as_null=True) == '{"n":null}'


def test_values_that_are_not_json_raise_type_error():
    with pytest.raises(TypeError):
        stringify({1: "x"})
    with pytest.raises(TypeError):
        stringify({"x": {1, 2}})
