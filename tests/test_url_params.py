"""Every URL parameter of every page is validated (issue 15, item 7).

Hostile query strings — days out of range, huge numbers, NUL, unknown values, repeated values,
very long values, odd Unicode — never reach Streamlit's error box: a value out of range is
ignored, as if absent. Hypothesis drives each page through AppTest (as a first request to
`/explorer?…` is served) against a store filled by a real poll cycle; the parsers behind the
pages get many more examples as plain functions.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from reportwatch.store.explore import DAY_MAX, DAY_MIN, day_bounds, parse_day
from reportwatch.ui.i18n import t
from reportwatch.ui.panel import format_baseline, parse_baseline
from reportwatch.ui.sidebar import MAX_TAGS, MAX_TEXT, url_text
from tests.analysis_data import fill
from tests.feedserver import FeedServer
from tests.helpers import ROOT

PAGES = ["pages/report.py", "pages/explorer.py", "pages/trends.py", "pages/sources.py"]
# Every parameter a page reads (grep query_params), and `page`, which none does.
PARAMS = ["report", "tag", "seen", "q", "all", "new", "copies", "source", "from", "to", "sort",
          "range", "by", "mode", "page"]  # fmt: skip
GOOD = {  # values the pages do accept, so the valid paths run too
    "report": ["wechat-ecommerce"],
    "tag": ["腾讯", "视频号电商", "微信电商"],
    "q": ["视频号", "腾讯", "带货 视频号"],
    "all": ["1"], "new": ["1"], "copies": ["1"],
    "source": ["本地源", "坏源"],
    "sort": ["newest", "oldest", "first_seen", "title", "source"],
    "range": ["1d", "7d", "30d", "90d"], "by": ["day", "hour"], "mode": ["lines", "stacked"],
    "page": ["1", "2"],
}  # fmt: skip
ODD = ["", " ", "\x00", "a\x00b", "\n", "\t1", "\u202e1d", "\u200b", "\ufeff7d", "１", "٣",
       "🔎", "𠮷", "e\u0301", "ǅ", "NaN", "nan", "inf", "-inf", "-1", "0", "1e308", "1e-320",
       "9" * 40, "-" + "9" * 40, "0x10", "1_000", "None", "null", "[]", "true", "%00", "%",
       "' OR 1=1 --", '"', "*", "\\", "../", "<script>", "2024-02-30", "2024-13-01",
       "20240101", "2024-W01-1", "２０２４-01-01", "0001-01-01", "9999-12-31", "0000-00-00",
       "1969-12-31", "3000-01-01", "2024-01-01T00:00", "1e20", "-62135596801", "253402300800",
       "99999999999", "1700000000.1234567"]  # fmt: skip
ODD_DAYS = st.dates().map(date.isoformat)  # 0001-01-01 … 9999-12-31
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)  # no lone surrogates:
# a browser cannot send one (a query string is UTF-8, Streamlit decodes it with "replace")
LONG = st.sampled_from([201, 5_000]).flatmap(
    lambda n: st.sampled_from(["x" * n, "视" * n, "\x00" * n, "1" * n])
)
NUMBER = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


def values(param: str) -> st.SearchStrategy[str]:
    good = GOOD.get(param, [])
    hostile = st.one_of(st.sampled_from(ODD), TEXT, LONG, NUMBER, ODD_DAYS)
    return st.one_of(st.sampled_from(good), hostile) if good else hostile


# A query string: some of the parameters, each once or repeated (up to 3 values).
QUERY = st.fixed_dictionaries(
    {}, optional={p: st.lists(values(p), min_size=1, max_size=3) for p in PARAMS}
)


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One store for every example (what offline_app and fill do, for the whole module)."""
    server = FeedServer().start()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("REPORTWATCH_EMBEDDED_POLLER", "0")
        monkeypatch.delenv("REPORTWATCH_DATABASE_URL", raising=False)
        fill(server, tmp_path_factory.mktemp("urlparams"), monkeypatch)
        try:
            yield
        finally:
            server.stop()


def first_request(page: str, query: dict[str, list[str]]) -> AppTest:
    """The page as the server runs it for a first request to its URL with `query`."""
    app = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=30)
    for key, value in query.items():
        app.query_params[key] = value
    return app.switch_page(page).run()


def assert_page_shown(app: AppTest, page: str) -> None:
    assert not app.exception, [e.proto.message for e in app.exception]
    for error in app.error:  # a message may be an error box; a traceback never
        text = str(error.value)
        assert "Traceback" not in text and 'File "' not in text, text
        assert text not in {t("panel_error", "zh"), t("panel_error", "en")}  # caught, logged
    assert app.title, "the page stopped before its title"
    if page == "pages/explorer.py":
        for key in ("ex_from", "ex_to"):
            day = app.date_input(key=key).value
            assert day is None or DAY_MIN <= day <= DAY_MAX, day
        assert len(app.text_input(key="ex_q").value) <= MAX_TEXT
    if page != "pages/report.py":
        assert len(app.multiselect(key="side_tags").value) <= MAX_TAGS
    if page in ("pages/report.py", "pages/explorer.py"):  # the pages with a 'new' baseline
        seen = app.query_params.get("seen")  # a repeated parameter counts by its last value
        last = seen[-1] if isinstance(seen, list) else seen
        assert last is not None and parse_baseline(last) is not None, seen  # a valid one is set


@pytest.mark.parametrize("page", PAGES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # fmt: skip
@given(query=QUERY)
@example(query={"from": ["0001-01-01"], "to": ["9999-12-31"]})  # issue 15: the error box
@example(query={"q": ["x" * 100_000], "tag": ["\x00", "腾讯", "腾讯", "x" * 5_000]})
@example(query={"seen": ["1e308"], "new": ["1"], "range": ["1d", "30d"], "source": ["\x00"]})
def test_hostile_query_strings_never_show_an_error(polled, page: str, query) -> None:
    assert_page_shown(first_request(page, query), page)


def test_days_out_of_range_are_absent(polled) -> None:
    app = first_request("pages/explorer.py", {"from": ["0001-01-01"], "to": ["9999-12-31"]})
    assert_page_shown(app, "pages/explorer.py")
    assert app.date_input(key="ex_from").value is None and app.date_input(key="ex_to").value is None
    assert "共 3 条" in "\n".join(str(c.value) for c in app.caption)  # as with no date at all
    kept = first_request("pages/explorer.py", {"from": ["2020-01-01"], "q": ["视频号"]})
    assert kept.date_input(key="ex_from").value == date(2020, 1, 1)
    assert kept.text_input(key="ex_q").value == "视频号"


def test_tags_in_the_url_are_cleaned(polled) -> None:
    tags = ["腾讯", "", "\x00", "腾讯", "x" * 201, *(f"t{i}" for i in range(30))]
    app = first_request("pages/trends.py", {"tag": tags})
    assert_page_shown(app, "pages/trends.py")
    chosen = app.multiselect(key="side_tags").value
    assert chosen[0] == "腾讯" and len(chosen) == MAX_TAGS and len(set(chosen)) == MAX_TAGS


# -- the parsers, with many more examples -------------------------------------------------------


@settings(max_examples=300)
@given(st.one_of(TEXT, ODD_DAYS, st.sampled_from(ODD), st.none()))
def test_parse_day_is_a_day_in_range_or_none(value: str | None) -> None:
    day = parse_day(value)
    assert day is None or DAY_MIN <= day <= DAY_MAX
    if day is not None:
        assert day.isoformat() == value  # only plain YYYY-MM-DD
        start, end = day_bounds(day, day, "Asia/Shanghai")
        assert start is not None and end is not None and end - start == timedelta(days=1)


@settings(max_examples=300)
@given(
    st.one_of(st.dates(), st.none()),
    st.one_of(st.dates(), st.none()),
    st.sampled_from(["Asia/Shanghai", "UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"]),
)
def test_day_bounds_never_overflow(first: date | None, last: date | None, tz: str) -> None:
    start, end = day_bounds(first, last, tz)
    for bound in (start, end):  # the store moves both to UTC
        assert bound is None or bound.astimezone(UTC).year >= 1969


def test_parse_day_examples() -> None:
    assert parse_day("2024-02-29") == date(2024, 2, 29)
    for bad in ("0001-01-01", "9999-12-31", "2024-02-30", "20240101", "２０２４-01-01", "\x00"):
        assert parse_day(bad) is None
    assert day_bounds(date(1, 1, 1), date(9999, 12, 31), "Asia/Shanghai") == (None, None)


@settings(max_examples=300)
@given(st.one_of(TEXT, NUMBER, st.sampled_from(ODD), st.none()))
def test_parse_baseline_is_a_sane_time_or_none(value: str | None) -> None:
    now = datetime.now(UTC)
    seen = parse_baseline(value, now)
    assert seen is None or datetime(1970, 1, 1, tzinfo=UTC) <= seen <= now + timedelta(days=1)
    if seen is not None:
        assert set(value or "") <= set(string.digits + ".")


def test_parse_baseline_examples() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_baseline(format_baseline(now), now) == now
    assert parse_baseline("1700000000", now) == datetime.fromtimestamp(1700000000, UTC)
    for bad in ("1e20", "1e308", "nan", "inf", "-1", "١٧٠٠٠٠٠٠٠٠", " 1700000000", "1_700"):
        assert parse_baseline(bad, now) is None
    assert parse_baseline(format_baseline(now + timedelta(days=2)), now) is None  # the future


@settings(max_examples=200)
@given(st.one_of(TEXT, LONG, st.sampled_from(ODD)))
def test_url_text_is_the_value_within_the_limit_or_none(value: str) -> None:
    kept = url_text(value)
    assert (kept == value) if len(value) <= MAX_TEXT else kept is None
