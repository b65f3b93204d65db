"""Issue 28: the parsers of typed values (the CLI's, the Python API's and the widget's are the same functions, in
``ganexplorer.limits``), property-tested: any string in, a result or a clear ValueError out, within a time and
memory bound. '0-99999999999' was expanded before its bound was checked (a MemoryError), '-3:3:1000000000' built a
billion shifts, and parse errors were SystemExit, not errors a caller can catch."""

import math
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganexplorer import cli, limits
from ganexplorer.widget import values

MEMORY = 8 << 20  # bytes one parse may allocate at its peak
SETTINGS = settings(max_examples=300, deadline=500, suppress_health_check=[HealthCheck.too_slow])

# strings people type (digits, ranges, lists, spans, numbers) with numbers of any size, and any text at all
NUMBER = st.one_of(st.integers(0, 40), st.integers(0, 10**15), st.integers(-10**12, 10**12)).map(str)
PIECE = st.one_of(NUMBER, st.sampled_from(["", "all", "-", ",", ":", " ", ".", "e", "1e99", "nan", "inf", "٣", "0x3",
                                           "1_000", "+", "ALL", "\t"]))
TYPED = st.one_of(st.text(max_size=60), st.lists(PIECE, max_size=12).map("".join),
                  st.lists(st.tuples(NUMBER, st.sampled_from(["-", ":", ","]), NUMBER), max_size=6).map(
                      lambda parts: ",".join(a + sep + b for a, sep, b in parts)),
                  st.integers(1, 3000).map(lambda n: "1" * n))


def bounded(parse, *args):
    """``parse(*args)``: its result, or the ValueError it raised; any other exception fails the test, and so does
    a peak allocation above MEMORY."""
    tracemalloc.start()
    try:
        return parse(*args)
    except ValueError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 400, message
        return exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MEMORY, f"{parse.__name__}{args!r:.80} allocated {peak} bytes"


@SETTINGS
@given(spec=TYPED, k=st.integers(1, 5000))
def test_direction_lists(spec, k):
    out = bounded(limits.parse_indices, spec, k)
    if not isinstance(out, ValueError):
        assert out and all(isinstance(i, int) and 0 <= i < k for i in out) and len(out) <= limits.MAX_INDICES


@SETTINGS
@given(spec=TYPED)
def test_shift_specs(spec):
    out = bounded(limits.parse_shifts, spec)
    if not isinstance(out, ValueError):
        assert 1 <= len(out) <= limits.MAX_SHIFTS
        assert all(isinstance(x, float) and math.isfinite(x) and abs(x) <= limits.MAX_SHIFT for x in out)


@SETTINGS
@given(spec=TYPED, num_layers=st.integers(1, 40))
def test_layer_ranges(spec, num_layers):
    out = bounded(limits.parse_layers, spec, num_layers)
    if not isinstance(out, ValueError):
        assert out == sorted(set(out)) and all(0 <= i < num_layers for i in out)
    stored = bounded(limits.layer_range, spec, num_layers)
    assert isinstance(stored, ValueError) == isinstance(out, ValueError)  # the widget's rule is the same rule
    if not isinstance(stored, ValueError):
        assert limits.parse_layers(stored, num_layers) == out


@SETTINGS
@given(text=TYPED, lo=st.integers(-5, 5), span=st.integers(0, 10**9))
def test_counts(text, lo, span):
    out = bounded(limits.whole, text, "count", lo, lo + span)
    if not isinstance(out, ValueError):
        assert isinstance(out, int) and lo <= out <= lo + span and out == int(text.strip())
    x = bounded(limits.number, text, "number", -1e6, 1e6)
    if not isinstance(x, ValueError):
        assert math.isfinite(x) and -1e6 <= x <= 1e6 and x == float(text)


@SETTINGS
@given(items=st.lists(TYPED, max_size=4))
def test_cli_options(items):
    out = bounded(cli.parse_options, items)
    if not isinstance(out, ValueError):
        assert len(out) <= len(items)


def test_the_cli_and_the_widget_use_these_parsers():
    assert cli.parse_indices is limits.parse_indices and cli.parse_shifts is limits.parse_shifts
    assert values.whole is limits.whole and values.layer_range is limits.layer_range
    assert values.Refused is limits.Refused


@pytest.mark.parametrize("parse,args,message", [
    (limits.parse_indices, ("0-99999999999", 64), "direction 99999999999 does not exist: the bank has 64"),
    (limits.parse_indices, ("0-30000000", 64), "direction 30000000 does not exist"),
    (limits.parse_indices, ("5-2", 64), "runs backwards; write 2-5"),
    (limits.parse_indices, ("0-9," * 3000, 64), "longer than 1000"),
    (limits.parse_indices, (",".join(["0-4999"] * 3), 5000), "name 15000 directions, more than 10000"),
    (limits.parse_shifts, ("-3:3:1000000000",), "number of shifts.*from 2 to 100, got 1000000000"),
    (limits.parse_shifts, ("-3:3:0",), "number of shifts.*from 2 to 100, got 0"),
    (limits.parse_shifts, ("-3:3:1",), "from 2 to 100, got 1"),  # one shift would drop the typed 'to'
    (limits.parse_shifts, ("0:1e300:5",), "within|from -1e\\+06 to 1e\\+06"),
    (limits.parse_shifts, ("nan,1",), "finite number, got 'nan'"),
    (limits.whole, (True, "k", 1, 64), "k must be a whole number from 1 to 64, got True"),
    (limits.whole, ("9" * 5000, "samples", 1, 64), r"got '9{36}\.\.\.$"),
])
def test_refusals_name_the_value_and_what_is_allowed(parse, args, message):
    with pytest.raises(ValueError, match=message):
        parse(*args)


def test_values_that_are_allowed_are_used_as_typed():
    assert limits.parse_indices("2-4, 9,0", 10) == [2, 3, 4, 9, 0] and limits.parse_indices("ALL", 3) == [0, 1, 2]
    assert limits.parse_shifts("-3:3:7") == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert limits.parse_shifts("2") == [2.0] and limits.parse_shifts("-1e3, .5") == [-1000.0, 0.5]
    assert limits.whole(" 12 ", "n", 1, 64) == 12 and limits.number("2.5", "r", 0, 100) == 2.5
    assert limits.layer_range(" 0 - 1, 8 ", 18) == "0-1,8" and limits.layer_range(None, None) == "all"
