"""Response cleaning drops exactly the null and empty members, at every depth."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.service_response import without_empty_values

values = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["", "x", " "]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "c"]), children, max_size=3)
    ),
    max_leaves=30,
)


def reference(value: Any) -> Any:
    """The definition, written plainly: clean the children, then drop the empty ones."""
    if isinstance(value, dict):
        cleaned = {k: reference(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if not _empty(v)}
    if isinstance(value, list):
        return [v for v in (reference(v) for v in value) if not _empty(v)]
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and len(value) == 0)


@settings(max_examples=300, deadline=None)
@given(values)
def test_cleaning_matches_the_definition(value: Any) -> None:
    expected = reference(value)
    assert repr(without_empty_values(value)) == repr(expected)


def test_false_and_zero_are_kept() -> None:
    assert without_empty_values({"a": False, "b": 0, "c": [None, "", {}, [[]]], "d": ""}) == {
        "a": False,
        "b": 0,
    }
