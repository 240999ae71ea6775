"""Values crossing between Python and the engine (PY-03), through sdf.test() and callables."""

import math

import pytest

import streamframe as sf


@pytest.fixture
def new_sdf(embedded_app, name):
    """A new root frame per call: sdf.test() runs every branch of a root (SDF-18)."""
    app = embedded_app()
    return lambda: app.dataframe(app.topic(name("in")))


@pytest.fixture
def sdf(new_sdf):
    return new_sdf()


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -(2**63),
        2**63 - 1,
        2.5,
        -0.0,
        1e300,
        "",
        "héllo wörld ✓ 日本語 🙂",
        [],
        {},
        [1, "a", None, [2.5, {"x": [True]}]],
        {"a": {"b": {"c": [1, 2, {"d": None}]}}, "e": "f"},
    ],
)
def test_every_json_type_round_trips_through_a_callable(sdf, value):
    seen = []

    def identity(v):
        seen.append(v)
        return v

    assert sdf.apply(identity).test(value) == [value]
    assert seen == [value]
    assert type(seen[0]) is type(value)


def test_nan_and_infinities_cross_both_ways(sdf):
    out = sdf.apply(lambda v: [v, float("inf"), float("-inf")]).test(float("nan"))
    assert math.isnan(out[0][0])
    assert out[0][1:] == [math.inf, -math.inf]


def test_tuples_become_lists(sdf):
    assert sdf.apply(lambda v: (1, (2, 3))).test(None) == [[1, [2, 3]]]


def test_bytes_become_strings_of_the_same_bytes(new_sdf):
    # A JSON string cannot hold arbitrary bytes: bytes that are not UTF-8 come back as a str
    # with lone surrogates, which go back to the same bytes on the way in.
    out = new_sdf().apply(lambda v: b"ab\xff").test(None)
    assert out == ["ab\udcff"]
    again = new_sdf().apply(lambda v: v.encode("utf-8", "surrogateescape")).test(out[0])
    assert again == ["ab\udcff"]


def test_a_bytes_topic_gives_callables_bytes(embedded_app):
    app = embedded_app()
    sdf = app.dataframe(app.topic("raw", value_deserializer="bytes", value_serializer="bytes"))
    seen = []
    sdf = sdf.apply(lambda v: seen.append(v) or v)
    assert sdf.test(b"\x00\x01\xfe") == [b"\x00\x01\xfe"]
    assert seen == [b"\x00\x01\xfe"]


@pytest.mark.parametrize(
    "bad, words",
    [
        (2**64, "does not fit in 64 bits"),
        (-(2**63) - 1, "does not fit in 64 bits"),
        ({1, 2}, "'set' is not JSON-representable"),
        (object(), "'object' is not JSON-representable"),
        ({1: "a"}, "dict key must be a str"),
        ({"ok": [1, {"deep": {3}}]}, "'set' is not JSON-representable"),
    ],
)
def test_a_value_with_no_json_form_is_a_value_type_error_naming_the_operation(sdf, bad, words):
    with pytest.raises(sf.ValueTypeError) as raised:
        sdf.apply(lambda v: bad).test(1)
    assert words in str(raised.value)
    assert "apply" in str(raised.value)


def test_nesting_has_a_limit_instead_of_a_crash(sdf):
    deep = []
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(sf.ValueTypeError, match="nested over 512"):
        sdf.apply(lambda v: deep).test(1)


def test_metadata_callables_get_key_timestamp_and_headers(new_sdf):
    seen = []

    def f(value, key, timestamp, headers):
        seen.append((value, key, timestamp, headers))
        return value

    new_sdf().apply(f, metadata=True).test(
        {"a": 1}, key=b"k\xff", timestamp=1234, headers=[("h", b"\x01"), ("n", None)]
    )
    assert seen == [({"a": 1}, b"k\xff", 1234, [("h", b"\x01"), ("n", None)])]
    seen.clear()
    new_sdf().apply(f, metadata=True).test(1)
    assert seen == [(1, b"key", 0, None)]


def test_update_changes_the_value_in_place(sdf):
    def add(v):
        v["added"] = True
        return "ignored"

    assert sdf.update(add).test({"a": 1}) == [{"a": 1, "added": True}]


def test_a_callable_that_raises_raises_its_own_exception(sdf):
    def explode(v):
        raise KeyError("no such thing")

    with pytest.raises(KeyError, match="no such thing"):
        sdf.apply(explode).test(1)


def test_state_is_only_valid_during_its_call(sdf):
    kept = []

    def keep(v, state):
        state.set("k", v)
        kept.append(state)
        return state.get("k")

    assert sdf.apply(keep, stateful=True).test(7) == [7]
    with pytest.raises(sf.InvalidOperation, match="has returned"):
        kept[0].get("k")
