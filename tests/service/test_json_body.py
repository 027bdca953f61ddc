"""The request body reader: the fast JSON path answers exactly as the standard reader would."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.errors import ServiceError
from cds_service.hook_request import json_depth, json_text_depth, parse_json_body
from cds_service.settings import Settings

# Strings full of what the byte-level depth count must not mistake for structure.
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\/ab\n\u00e9\u2265'), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.booleans(), st.booleans())
def test_depth_of_the_bytes_equals_depth_of_the_parsed_value(
    value: Any, ascii_only: bool, spaced: bool
) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    raw = json.dumps(value, ensure_ascii=ascii_only, separators=separators).encode()
    expected = json_depth(value)
    assert json_text_depth(raw, 64) == expected
    if expected > 1:
        assert json_text_depth(raw, expected - 1) == expected  # over the limit: limit + 1


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"{}", 1),
        (b'{"a": "[[[{{{"}', 1),
        (b'{"a": "\\"[[", "b": [[]]}', 3),
        (b'{"a": "\\\\", "b": [{"c": "]]]"}]}', 3),
        (b'{"a": "\\\\\\"]"}', 1),
        (b'  [ [ ] , { "x" : [ ] } ]  ', 3),
    ],
)
def test_depth_of_bytes_examples(raw: bytes, depth: int) -> None:
    assert json_text_depth(raw, 64) == depth


def _parse(raw: bytes, **overrides: Any) -> dict[str, Any]:
    return parse_json_body(raw, Settings(**overrides))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": NaN, "b": Infinity, "c": -Infinity}', {"a", "b", "c"}),
        (b'{"a": "\\ud800"}', {"a"}),  # a lone surrogate
        (b'{"a": 1e999}', {"a"}),
    ],
)
def test_what_only_the_standard_reader_accepts_is_accepted_as_before(
    raw: bytes, expected: set[str]
) -> None:
    assert set(_parse(raw)) == expected
    assert repr(_parse(raw)) == repr(json.loads(raw))


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"a": 1,}', b"\xef\xbb\xbf{}", b'{"a": 1} x', b"{'a': 1}", b'{"a": "\x01"}'],
)
def test_malformed_json_is_400_with_the_standard_readers_message(raw: bytes) -> None:
    with pytest.raises(ServiceError) as caught:
        _parse(raw)
    assert caught.value.status == 400
    issue = caught.value.issues[0]
    assert "not valid JSON" in issue.diagnostics
    try:
        json.loads(raw.decode())
    except ValueError as exc:
        assert str(exc) in issue.diagnostics
    else:  # pragma: no cover
        pytest.fail("the standard reader accepts it")


@pytest.mark.parametrize("depth", [17, 1_000, 2_000])
def test_nesting_beyond_the_cap_is_400_at_every_depth(depth: int) -> None:
    raw = b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    with pytest.raises(ServiceError) as caught:
        _parse(raw, max_json_depth=16)
    assert caught.value.status == 400
    assert "nested deeper than 16" in caught.value.issues[0].diagnostics


def test_nesting_at_the_cap_is_accepted() -> None:
    raw = b'{"a": ' + b"[" * 15 + b'"]]]"' + b"]" * 15 + b"}"
    assert _parse(raw, max_json_depth=16)["a"]
