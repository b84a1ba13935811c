"""Hostile feed content never becomes live markup, on any page, in a real browser.

One cycle of the embedded poller (inside a real `streamlit run`) fetches every real-world feed
of the corpus (tests/corpus.py), every network fault kind, and a feed full of script payloads;
then headless Chromium checks each page: no dialog, no script/iframe/img/style or on* handler
from the feeds, no javascript:/data: link, no request to the beacon, and the payloads shown as
plain text.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from playwright.sync_api import Page

from tests.browser import APP_READY, chromium, streamlit_server
from tests.faults import black_hole, serve_faults
from tests.feedserver import FeedServer
from tests.helpers import write_config
from tests.test_corpus import FEEDS, content_type

MARK = "rwx"  # every payload carries it, so anything live that came from a feed can be found
TAG = "代理人战争"  # a report tag no corpus feed mentions: the panel filtered to it shows them all
BEACON = "/beacon.png"
MAX_BYTES = 2 << 20  # above the largest corpus file (1.2 MB)

# Every page, by URL path (st.navigation uses the file stems). Add a page: add one line.
PAGES = ["/", "/explorer", "/trends", "/sources"]


def payloads(beacon: str) -> list[str]:
    """Titles that must all come out as the same literal text (each matches TAG)."""
    return [
        f'{TAG} <script>alert("{MARK}1")</script>',
        f'{TAG} <img src=x onerror=alert("{MARK}2")>',
        f"{TAG} <iframe src=\"javascript:alert('{MARK}3')\"></iframe>",
        f"{TAG} <style>body{{display:none}}</style>{MARK}4",
        f'{TAG} [{MARK}5](javascript:alert(5)) <a href="data:text/html,x">{MARK}5b</a>',
        f"{TAG} ![{MARK}6]({beacon}) <{beacon}>",
        f"{TAG} :red[{MARK}7] :material/home: :smile: :+1: $x^2$ $$y$$ \\(z\\)",
        f"{TAG} **{MARK}8** _em_ # h1 `code` ~~del~~ <b onmouseover=alert(8)>b</b> &amp; &lt;",
        f"{TAG} <svg onload=alert('{MARK}9')></svg> <object data=x></object> {MARK}9",
        f"{TAG} {MARK}10@evil.example mailto:{MARK}@evil.example www.evil.example/{MARK}10 "
        f"ftp://evil.example/{MARK} {beacon}?bare",
    ]


def hostile_summary(beacon: str) -> str:
    return f'Tencent <script>alert("{MARK}s")</script> [s](javascript:alert(1)) ![b]({beacon})'


def hostile_feed(titles: list[str], beacon: str) -> bytes:
    """Atom with type="text" fields, so the markup survives parsing as literal text."""
    summary = hostile_summary(beacon)
    feed_title = f"<script>alert({MARK!r})</script> 恶意标题 :red[t]"
    links = [
        "javascript:alert('x')",
        "data:text/html,<script>alert(1)</script>",
        "https://ok.example/{i}",  # each its own story: one link would make them one
    ]
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f'<title type="text">{escape(feed_title)}</title>',
        "<id>urn:hostile</id><updated>2025-11-25T02:00:00Z</updated>",
    ]
    for i, title in enumerate(titles):
        out += [
            "<entry>",
            f'<title type="text">{escape(title)}</title>',
            f"<id>urn:hostile:{i}</id>",
            f"<link href={quoteattr(links[i % len(links)].format(i=i))}/>",
            f"<updated>2025-11-25T0{i}:00:00Z</updated>",
            f'<summary type="text">{escape(summary)}</summary>',
            f"<author><name>{escape(f'<img src=x onerror=alert(1)>{MARK}a')}</name></author>",
            f"<category term={quoteattr(f'<script>{MARK}c</script>')}/>",
            "</entry>",
        ]
    out.append("</feed>")
    return "\n".join(out).encode("utf-8")


INERT_CHECK = """(mark) => {
    const bad = [];
    // (svg is left out: charts draw labels as svg text; a handler on one is caught below)
    const live = 'script, iframe, frame, img, style, object, embed, link, meta, base, form';
    for (const el of document.querySelectorAll(live)) {
        if (el.outerHTML.includes(mark)) bad.push('element: ' + el.outerHTML.slice(0, 200));
    }
    for (const el of document.querySelectorAll('*')) {
        for (const attr of el.attributes) {
            if (attr.name.toLowerCase().startsWith('on'))
                bad.push('handler: ' + el.tagName + ' ' + attr.name + '=' + attr.value);
        }
    }
    for (const a of document.querySelectorAll('a[href]')) {
        const href = a.getAttribute('href').trim().toLowerCase();
        // http(s) only; a relative link (st.page_link's "explorer?…") is one of the app's pages.
        let scheme = 'unparsable';
        try { scheme = new URL(href, location.href).protocol; } catch (e) {}
        if (scheme !== 'http:' && scheme !== 'https:') bad.push('link: ' + href);
        // Bare URLs and addresses in feed text stay text (only an entry's own link links).
        if (href.includes(mark) || href.includes('beacon') || href.includes('evil.example'))
            bad.push('link from text: ' + href);
    }
    return bad;
}"""


def check_inert(page: Page, where: str) -> None:
    assert page.evaluate(INERT_CHECK, MARK) == [], where


def visible_text(page: Page) -> str:
    """The page's text, whitespace collapsed, without the invisible word joiners that keep
    bare URLs and addresses from turning into links (reportwatch.ui.markdown)."""
    return " ".join(page.locator("body").inner_text().replace("\u2060", "").split())


def test_hostile_feeds_stay_inert_text_on_every_page(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    beacon = feed_server.url(BEACON)
    titles = payloads(beacon)
    feed_server.set_feed("/hostile.xml", hostile_feed(titles, beacon),
                         content_type="application/atom+xml")  # fmt: skip
    evil_reason = f'<img src=x onerror=alert("{MARK}e")> [{MARK}e](javascript:alert(1))'
    feed_server.set_response("/evil-error", 502, b"", reason=evil_reason)
    evil_name = f'恶意源 <script>alert("{MARK}n")</script> :red[{MARK}n] ![n]({beacon})'
    sources: list[dict[str, object]] = [
        {"name": evil_name, "url": feed_server.url("/hostile.xml")},
        {"name": f"错误源 <iframe>{MARK}</iframe>", "url": feed_server.url("/evil-error")},
    ]
    for path in sorted(FEEDS.rglob("*.xml")):  # every real-world feed of the corpus
        rel = path.relative_to(FEEDS).as_posix()
        body = path.read_bytes()
        feed_server.set_feed(f"/corpus/{rel}", body, content_type=content_type(body))
        sources.append({"name": f"corpus {rel}", "url": feed_server.url(f"/corpus/{rel}")})
    fetch = {"timeout": 3, "connect_timeout": 1, "max_bytes": MAX_BYTES,
             "per_host": 50, "concurrency": 50}  # fmt: skip
    shown = [*titles, hostile_summary(beacon), evil_name, f"HTTP 502 {evil_reason}"]
    dialogs: list[str] = []
    browser_requests: list[str] = []
    with black_hole() as hole:
        sources += serve_faults(feed_server, hole, MAX_BYTES)
        config = write_config(tmp_path, sources, poll_interval=300, ui_refresh=2, fetch=fetch)
        with streamlit_server(config) as base, chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.on("request", lambda request: browser_requests.append(request.url))
            page.goto(f"{base}/?tag={TAG}")
            page.wait_for_selector(APP_READY, timeout=60_000)
            # The embedded poller's first cycle (400+ sources) ends; the panel shows the items.
            page.get_by_text(f'alert("{MARK}1")').first.wait_for(timeout=120_000)
            page.get_by_text("来源状态").first.click()  # open the source-status expander
            page.get_by_text(f"{MARK}e](javascript").first.wait_for(timeout=30_000)
            text = visible_text(page)
            for payload in shown:
                assert " ".join(payload.split()) in text, payload
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            check_inert(page, "/")
            for path in PAGES:
                page.goto(f"{base}{path}?tag={TAG}")
                page.wait_for_selector(APP_READY, timeout=60_000)
                assert page.locator("[data-testid='stException']").count() == 0, path
                check_inert(page, path)
            page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)
        log = (tmp_path / "streamlit.log").read_text(errors="replace")
    assert dialogs == []
    assert [url for url in browser_requests if BEACON in url] == []
    assert feed_server.requests(BEACON) == []  # nothing fetched the beacon: no browser, no poller
    assert "Traceback" not in log
