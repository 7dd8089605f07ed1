"""The web page in headless Chromium: search, play, upload, record from a fake microphone, the map.

Debian's Chromium (/usr/bin/chromium, package `chromium`) is driven by Playwright, which never downloads a
browser of its own here. The fake microphone plays a generated WAV in a loop. Screenshots are written to
the test's tmp folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .test_server import SR, make_library, piece, start_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="needs Debian's chromium (/usr/bin/chromium): apt-get install chromium",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def web_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def site(web_library: Path):
    proc, base = start_server(web_library)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone hears: beats, at 48 kHz as a sound card would give them."""
    import soxr

    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    y = soxr.resample(np.tile(piece("beats", 0, seconds=4.0), 3), SR, 48000)
    sf.write(path, y.astype(np.float32), 48000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(mic_wav: Path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=[*FLAGS, f"--use-file-for-fake-audio-capture={mic_wav}"]
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, site: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["microphone"], origin=site)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site + "/")
    page.wait_for_selector("body[data-ready='1']")
    yield page
    context.close()
    assert not errors, errors


def results_titles(page) -> list[str]:
    return page.locator("#results li .title").all_inner_texts()


def test_search_then_similar_and_play(page, tmp_path: Path) -> None:
    assert "9 tracks" in page.inner_text("#library-status")
    page.fill("#search", "drone")
    page.wait_for_selector("#search-results .pick")
    assert page.locator("#search-results li").count() == 3
    page.locator("#search-results .pick").first.click()
    page.wait_for_selector("#results li")
    assert page.inner_text("#results-title").startswith("Sounds like: Low Hum - Drone")
    titles = results_titles(page)
    assert len(titles) == 8 and titles[0].startswith("Drone")
    page.screenshot(path=tmp_path / "search.png", full_page=True)

    page.locator("#results li .play").first.click()
    page.wait_for_function(
        "() => { const a = document.querySelector('#player'); return a.currentTime > 0.2 && !a.error; }"
    )
    assert "/api/tracks/" in page.eval_on_selector("#player", "a => a.currentSrc")
    assert page.locator("#results li.playing").count() == 1


def test_keyboard_only(page) -> None:
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type("kick theory")
    page.wait_for_selector("#search-results .pick")
    page.keyboard.press("ArrowDown")
    assert "pick" in page.evaluate("document.activeElement.className")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results li")
    assert page.inner_text("#results-title").startswith("Sounds like: Kick Theory - Beats")
    page.select_option("#mode", "dissimilar")  # asks again, for the least similar
    page.wait_for_function(
        "() => document.querySelector('#results-title').textContent.startsWith('Least like')"
    )
    page.wait_for_function("() => !document.querySelector('#message').textContent.startsWith('Looking')")
    # "≈" is "more like this" whatever Show says (it gave the least like in dissimilar mode)
    far = page.locator("#results li").first
    far_title = far.locator(".title").inner_text()
    far.locator("button[title^='More like']").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "t => document.querySelector('#results-title').textContent.startsWith('Sounds like:')"
        " && document.querySelector('#results-title').textContent.endsWith(t)",
        arg=far_title,
    )
    page.wait_for_function("() => document.querySelector('#message').textContent.includes('tracks like it')")
    style = far_title.split()[0]  # Drone, Noise or Beats
    assert results_titles(page)[0].startswith(style)


def test_options_ask_the_question_again(page) -> None:
    page.fill("#search", "low hum")
    page.locator("#search-results .pick").first.click()
    page.wait_for_function("() => document.querySelectorAll('#results li').length === 8")
    page.fill("#k", "3")
    page.dispatch_event("#k", "change")
    page.wait_for_function("() => document.querySelectorAll('#results li').length === 3")
    assert results_titles(page)[0].startswith("Drone")
    page.select_option("#mode", "dissimilar")
    page.wait_for_function(
        "() => document.querySelector('#message').textContent.startsWith('3 tracks least like')"
    )
    assert page.inner_text("#results-title").startswith("Least like: Low Hum - Drone")
    assert not [t for t in results_titles(page) if t.startswith("Drone")]
    models = page.eval_on_selector_all("#model option", "os => os.map(o => o.value)")
    page.select_option("#model", models[-1])
    page.wait_for_function(
        "m => document.querySelector('#message').textContent.includes('model ' + m)", arg=models[-1]
    )


def test_upload_a_file(page, tmp_path: Path) -> None:
    clip = tmp_path / "my noise.wav"
    sf.write(clip, piece("noise", 2, seconds=3.0), SR)
    page.set_input_files("#file", str(clip))
    page.wait_for_function(
        "() => document.querySelector('#results-title').textContent === 'Sounds like: my noise.wav'"
    )
    page.wait_for_selector("#results li")
    assert results_titles(page)[0].startswith("Noise")

    bad = tmp_path / "notes.mp3"
    bad.write_bytes(b"ID3 these are words, not sound" * 10)
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#message.error")
    assert "HTTP 415" in page.inner_text("#message")
    # the error stands under this file's heading, not the previous answer's, and no old rows stay
    assert page.inner_text("#results-title") == "Sounds like: notes.mp3"
    assert not results_titles(page)


def test_upload_a_recording_of_a_catalogued_track_names_it(page, web_library: Path, tmp_path: Path) -> None:
    # the page identifies only once it has read /api/info, which also shows the playlist panel
    page.wait_for_selector("#playlist-panel", state="visible")
    from synesthete import Library

    with Library(web_library) as lib:
        track = next(t for t in lib.tracks() if t.title == "Beats 2")
    y, sr = sf.read(track.path, dtype="float32")
    clip = tmp_path / "heard.wav"
    sf.write(clip, y, sr)  # the whole piece, re-encoded: the page must name it
    page.set_input_files("#file", str(clip))
    page.wait_for_function("() => document.querySelector('#identified').textContent !== ''")
    assert "Beats 2" in page.inner_text("#identified")
    # the track it is a recording of is that recording, not something that sounds like it
    page.wait_for_function("() => document.querySelector('#message').textContent.includes('tracks like it')")
    shown = page.eval_on_selector_all("#results li", "lis => lis.map(li => li.dataset.id)")
    assert len(shown) == 8 and str(track.id) not in shown


def test_record_from_the_microphone(page, tmp_path: Path) -> None:
    page.select_option("#record-seconds", "5")
    page.click("#record")
    page.wait_for_function("() => document.querySelector('#record').getAttribute('aria-pressed') === 'true'")
    page.screenshot(path=tmp_path / "recording.png")
    page.wait_for_function(
        "() => document.querySelector('#results-title').textContent.startsWith('Sounds like: recording.')",
        timeout=40_000,
    )
    page.wait_for_selector("#results li")
    assert not page.locator("#message.error").count(), page.inner_text("#message")
    page.wait_for_function("() => document.querySelector('#message').textContent.includes('tracks like it')")
    named = page.inner_text("#identified")  # the microphone plays Beats 1: recognised, as a rule
    if named.startswith("This is"):  # the track it is a recording of is not among what sounds like it
        assert len(results_titles(page)) == 8 and "Beats 1" not in results_titles(page), named
    else:
        assert len(results_titles(page)) == 9  # an outside recording: every track is a candidate
    page.screenshot(path=tmp_path / "recorded.png", full_page=True)


def test_stop_too_early_keeps_its_message(page) -> None:
    page.select_option("#record-seconds", "10")
    page.click("#record")
    page.wait_for_function("() => document.querySelector('#record').getAttribute('aria-pressed') === 'true'")
    page.click("#record")  # Stop, well before the 5 s a recording needs
    page.wait_for_timeout(1000)  # five ticks of the recording's clock
    assert "at least 5 s" in page.inner_text("#record-status")
    assert page.get_attribute("#record", "aria-pressed") == "true"


def test_playlists(page) -> None:
    page.wait_for_selector("#playlist-panel", state="visible")  # shown once /api/info says playlists work
    for title in ("Drone 1", "Beats 3"):
        page.fill("#search", title)
        page.locator("#search-results li", has_text=title).locator("button[title^='Add']").click()
    assert page.locator("#seeds li").count() == 2
    page.fill("#playlist-n", "4")
    page.click("#journey")
    page.wait_for_function("() => document.querySelectorAll('#playlist li').length === 4")
    titles = page.locator("#playlist li .title").all_inner_texts()
    assert titles[0] == "Drone 1" and titles[-1] == "Beats 3"
    assert "steps: mean" in page.inner_text("#playlist-message")
    assert page.locator("#playlist li .score").count() == 3  # every track after the start has its score
    page.click("#radio")
    page.wait_for_function("() => document.querySelectorAll('#playlist li').length === 4")
    assert "format=m3u8" in page.get_attribute("#m3u", "href")
    # an error is said in the playlist panel, and the playlist shown stays
    page.fill("#playlist-n", "50")
    page.click("#journey")
    page.wait_for_selector("#playlist-message.error")
    assert "too few for a journey of 50" in page.inner_text("#playlist-message")
    assert page.locator("#playlist li").count() == 4 and not page.locator("#message.error").count()


def test_map_click_a_point(page, tmp_path: Path) -> None:
    page.wait_for_selector("#map-panel", state="visible")
    page.select_option("#map-method", "pca")  # UMAP would be the default; PCA keeps the test quick
    page.click("#map-show")
    page.wait_for_selector("#map .main-svg")
    page.wait_for_function("() => document.querySelector('#map-message').textContent.includes('tracks')")
    # Where a point is drawn, from plotly's own axes (the one nearest the middle of the plot: one at an
    # edge may sit under the legend), then a real mouse click there.
    page.locator("#map").scroll_into_view_if_needed()
    x, y = page.evaluate(
        """() => {
            const el = document.querySelector('#map'); const L = el._fullLayout; const t = el._fullData[0];
            const box = el.getBoundingClientRect();
            const at = t.x.map((_, i) => [L.xaxis.d2p(t.x[i]), L.yaxis.d2p(t.y[i])]);
            const mid = [L._size.w / 2, L._size.h / 2];
            const [px, py] = at.reduce((a, b) => Math.hypot(b[0] - mid[0], b[1] - mid[1]) <
                Math.hypot(a[0] - mid[0], a[1] - mid[1]) ? b : a);
            return [box.left + L._size.l + px, box.top + L._size.t + py];
        }"""
    )
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_function("() => document.querySelectorAll('#map-closest li').length === 3")
    assert page.inner_text("#now-playing").startswith("▶")
    page.select_option("#map-color", "cluster")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#map .legendtext')].some(e => e.textContent.startsWith('1:'))"
    )
    # folders and artists colour the map too (an untagged collection's only labels are its folders)
    traces = "() => document.querySelector('#map').data.map(t => t.name)"
    page.select_option("#map-color", "artist")
    page.wait_for_function(f"() => ({traces})().includes('Kick Theory')")
    assert sorted(page.evaluate(traces)) == ["Kick Theory", "Low Hum", "Static Choir"]
    page.select_option("#map-color", "folder")
    page.wait_for_function(f"() => ({traces})().includes('music')")
    assert page.evaluate(traces) == ["music"]  # every piece of make_library sits in music/
    page.select_option("#map-color", "cluster")
    page.select_option("#map-genre", "beats")
    page.fill("#map-radius", "0.5")
    page.dispatch_event("#map-radius", "input")
    page.screenshot(path=tmp_path / "map.png", full_page=True)
    page.select_option("#map-dims", "3")
    page.wait_for_selector("#map .gl-container, #map .svg-container")
    page.wait_for_function("() => document.querySelector('#map-message').textContent.includes('3D')")
    page.select_option("#map-genre", "")
    page.wait_for_timeout(500)
    # In 3D, a click on a point plays it too: find a point with the pointer (hover), then click there.
    before = page.inner_text("#map-selected")
    box = page.locator("#map").bounding_box()
    spot = None
    for fy in np.linspace(0.1, 0.9, 17):
        for fx in np.linspace(0.05, 0.95, 19):
            x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
            page.mouse.move(x, y)
            page.wait_for_timeout(20)
            if page.get_attribute("#map", "data-hovered"):
                spot = (x, y)
                break
        if spot:
            break
    assert spot, "no point of the 3D map answered the pointer"
    hovered = page.get_attribute("#map", "data-hovered")
    page.mouse.click(*spot)
    page.wait_for_function("b => document.querySelector('#map-selected').textContent !== b", arg=before)
    assert page.eval_on_selector("#player", "a => a.dataset.trackId") == hovered


MAP_FILLS_ITS_BOX = """() => {
    const box = document.querySelector('#map').getBoundingClientRect();
    const plot = document.querySelector('#map .main-svg').getBoundingClientRect();
    return [Math.round(plot.width), Math.round(box.width), Math.round(plot.height), Math.round(box.height)];
}"""


def show_map(page) -> tuple[int, int, int, int]:
    page.select_option("#map-method", "pca")
    page.click("#map-show")
    page.wait_for_selector("#map .main-svg")
    page.wait_for_function("() => document.querySelector('#map-message').textContent.includes('tracks')")
    page.wait_for_timeout(300)
    return page.evaluate(MAP_FILLS_ITS_BOX)


@pytest.mark.parametrize(("width", "height"), [(320, 640), (390, 844), (430, 932)])
def test_phone_sized_screen(browser, site: str, tmp_path: Path, width: int, height: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(site + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#search", "noise")
    page.locator("#search-results .pick").first.click()
    page.wait_for_selector("#results li")
    for control in ("#search", "#record", "#drop", "#results"):
        assert page.locator(control).is_visible(), control
    # rows for reading: the title gets most of the row, not ~150 px
    title = page.locator("#results li .title").first.bounding_box()
    assert title["width"] >= width - 150, title
    # the map inside its frame, and nothing wider than the screen (the player bar stays on it)
    plot_w, box_w, plot_h, box_h = show_map(page)
    assert abs(plot_w - box_w) <= 2 and abs(plot_h - box_h) <= 2, (plot_w, box_w, plot_h, box_h)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    player = page.locator(".player").bounding_box()
    assert player["x"] >= 0 and player["x"] + player["width"] <= width
    # an upload's results are brought into view and focused (not left below the fold)
    clip = tmp_path / "mine.wav"
    sf.write(clip, piece("drone", 1, seconds=3.0), SR)
    page.locator("#search").scroll_into_view_if_needed()
    page.set_input_files("#file", str(clip))
    page.wait_for_function("() => document.querySelector('#message').textContent.includes('tracks like it')")
    page.wait_for_function("() => document.activeElement.id === 'results-panel'")
    page.wait_for_function(
        "() => { const r = document.querySelector('#results-panel').getBoundingClientRect();"
        " return r.top >= -1 && r.top < innerHeight / 2; }"
    )
    page.screenshot(path=tmp_path / f"phone-{width}.png", full_page=True)
    context.close()


def test_map_fills_its_frame_at_full_width(browser, site: str) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(site + "/")
    page.wait_for_selector("body[data-ready='1']")
    plot_w, box_w, plot_h, box_h = show_map(page)
    assert box_w > 1000 and abs(plot_w - box_w) <= 2 and abs(plot_h - box_h) <= 2
    page.set_viewport_size({"width": 1000, "height": 800})  # and follows its frame when it changes
    page.wait_for_function(f"() => ({MAP_FILLS_ITS_BOX})()[0] < 1000")
    plot_w, box_w, _, _ = page.evaluate(MAP_FILLS_ITS_BOX)
    assert abs(plot_w - box_w) <= 2
    context.close()


@pytest.mark.parametrize("url", ["/docs", "/redoc"])
def test_api_docs_render_offline(browser, site: str, tmp_path: Path, url: str) -> None:
    """Swagger UI and ReDoc draw our API from this server's files alone, and fetch nothing elsewhere."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    elsewhere: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Anything asked of another host must be stopped by the page's policy in the browser itself, not merely
    # fail for want of a network (this machine has none). ReDoc asks for its makers' logo.
    page.on(
        "requestfailed",
        lambda r: (
            None
            if (r.failure or "") in ("csp", "net::ERR_BLOCKED_BY_CSP")
            else elsewhere.append(f"{r.url}: {r.failure}")
        ),
    )
    page.on(
        "response", lambda r: None if r.url.startswith((site, "data:", "blob:")) else elsewhere.append(r.url)
    )
    page.goto(site + url)
    if url == "/docs":
        page.wait_for_selector(".swagger-ui .opblock")
        paths = page.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
        assert "/api/similar" in [p.replace("\u200b", "") for p in paths], paths
        assert "synesthete" in page.inner_text(".swagger-ui .info .title")
    else:
        page.wait_for_selector("redoc h1")
        assert "synesthete" in page.inner_text("redoc h1")
        page.wait_for_timeout(1000)  # the menu and its logo render after the title
    page.screenshot(path=tmp_path / "docs.png")
    context.close()
    assert not errors, errors
    assert not elsewhere, elsewhere


def tiny_png() -> bytes:
    """A 4x4 red PNG, written byte by byte."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_player_queue_artwork_and_endless_radio(page, web_library: Path) -> None:
    cover = web_library.parent / "music" / "cover.png"
    cover.write_bytes(tiny_png())
    try:
        # the query track plays from the results' heading, with its artwork
        page.fill("#search", "drone 1")
        page.locator("#search-results .pick").first.click()
        page.wait_for_selector("#results li")
        page.click("#play-query")
        page.wait_for_function(
            "() => document.querySelector('#now-playing').textContent === '▶ Low Hum - Drone 1'"
        )
        page.wait_for_function("() => !document.querySelector('#cover').hidden")
        assert page.eval_on_selector("#cover", "i => i.naturalWidth") > 0
    finally:
        cover.unlink()
    page.wait_for_selector("#playlist-panel", state="visible")  # shown once /api/info says playlists work
    # a playlist played in order: the queue shows what comes next, Next moves on
    page.locator("#results li button[title^='Add']").first.click()
    page.fill("#playlist-n", "5")
    page.click("#radio")
    page.wait_for_function("() => document.querySelectorAll('#playlist li').length === 5")
    page.click("#play-all")
    page.wait_for_function("() => document.querySelector('#queue-count').textContent === '4'")
    page.click("#queue-view summary")
    upcoming = page.locator("#queue li .title").all_inner_texts()
    assert upcoming == page.locator("#playlist li .title").all_inner_texts()[1:]
    page.click("#next")
    page.wait_for_function("() => document.querySelector('#queue-count').textContent === '3'")
    assert page.inner_text("#now-playing") == "▶ " + page.locator("#playlist li").nth(1).get_attribute(
        "data-label"
    )
    # endless radio: a queue about to run out is refilled from the last tracks played
    page.check("#endless")
    page.locator("#queue li .play").last.click()  # the last of the queue: nothing after it
    page.wait_for_function("() => Number(document.querySelector('#queue-count').textContent) >= 1")
    played = page.eval_on_selector("#player", "a => a.dataset.trackId")
    assert played not in page.eval_on_selector_all("#queue li", "lis => lis.map(li => li.dataset.id)")


def test_token_page_asks_and_uses_it(browser, web_library: Path) -> None:
    proc, base = start_server(web_library, "--host", "127.0.0.1", "--token", "letmein")
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(base + "/")
        page.wait_for_selector("#token-form:not([hidden])")
        assert "enter it below" in page.inner_text("#library-status")
        assert "Authorization" not in page.inner_text("body")  # no developer's words on the page
        page.fill("#token-input", "letmein")
        page.click("#token-form button")
        page.wait_for_function(
            "() => document.querySelector('#library-status').textContent.includes('9 tracks')"
        )
        page.fill("#search", "beats")
        page.locator("#search-results .play").first.click()
        page.wait_for_function("() => document.querySelector('#player').currentTime > 0.1")
        if page.locator("#playlist-panel").is_visible():  # the M3U8 to share is a signed link, not the token
            page.locator("#search-results button[title^='Add']").first.click()
            page.click("#radio")
            page.wait_for_selector("#m3u:not([hidden])")
            href = page.get_attribute("#m3u", "href")
            assert "sig=" in href and "letmein" not in href
            m3u = page.evaluate("h => fetch(h).then(r => r.text())", href)  # no token sent with it
            assert m3u.startswith("#EXTM3U") and "letmein" not in m3u and "/api/tracks/" in m3u
        context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
