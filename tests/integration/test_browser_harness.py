"""The browser harness (browser.py) itself, on small static pages that each
test writes into its tmp_path and serves over HTTP on loopback: axe-core
finds what is wrong in a page and nothing in a right one, a screenshot is a
PNG of the whole page, element text and attributes read back, and the
page's JavaScript runs. Needs no Kafka and no Vigie binary; skips with the
reason when Chromium is absent (outside CI)."""
import os
import struct
import zlib

import pytest

import browser

# WCAG contrast: #767676 on white is 4.54:1, the palest grey that passes AA
# for body text; #aaaaaa on white is 2.32:1.
BAD_PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>Bad</title></head>
<body style="background:#ffffff">
<h1>Sensors</h1>
<h4>Skipped two levels</h4>
<p id="faint" style="color:#aaaaaa">Faint caption, 2.3:1 on white</p>
<svg id="chart" role="img" width="200" height="100">
  <rect x="0" y="40" width="30" height="60" fill="#1f77b4"></rect>
</svg>
<img id="photo" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="10" height="10">
<input id="q" type="text">
</body>
</html>
"""

CLEAN_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Air quality, Centre</title>
<style>
  body { margin: 0; background: #ffffff; color: #222222; font: 16px sans-serif; }
  a { color: #1a4f8b; }
  .muted { color: #767676; }
</style></head>
<body>
<header><p>Vigie</p></header>
<nav aria-label="Sections"><a href="#now">Now</a></nav>
<main>
  <h1>Air quality, Centre</h1>
  <h2 id="now">Now</h2>
  <p>NO<sub>2</sub> <data id="no2" value="12.5">12,5</data> µg/m³,
     PM10 <data id="pm10" value="-3">−3</data> µg/m³</p>
  <p class="muted">Updated every minute</p>
  <svg role="img" aria-labelledby="chart-title" width="200" height="100">
    <title id="chart-title">NO2 over the last hour, rising from 10 to 12.5</title>
    <rect x="0" y="40" width="30" height="60" fill="#1f77b4"></rect>
  </svg>
  <form><label for="from">From</label> <input id="from" type="date"></form>
</main>
<footer><p>Open data</p></footer>
</body>
</html>
"""


def page(tmp_path, html, name="index.html"):
    (tmp_path / name).write_text(html, encoding="utf-8")
    return name


def png_pixels(path):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA PNG,
    decoded here with zlib alone, to check what a screenshot shows."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        [crc] = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind}"
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, colour, _, _, interlace = ihdr
    assert depth == 8 and colour in (2, 6) and interlace == 0, ihdr
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        start = y * (stride + 1)  # each row: its filter byte, then its bytes
        f, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def test_axe_names_what_is_wrong(chromium, tmp_path):
    with browser.serve(tmp_path) as base:
        chromium.load(base + page(tmp_path, BAD_PAGE))
        violations = browser.axe(chromium.driver)
    found = {v["id"]: v for v in violations}
    report = browser.describe(violations)
    for rule in ("color-contrast", "html-has-lang", "image-alt", "label",
                 "heading-order", "landmark-one-main", "region"):
        assert rule in found, f"{rule} not reported; axe said:\n{report}"
    assert found.keys() & {"svg-img-alt", "role-img-alt"}, report
    svg_rule = found.get("svg-img-alt") or found["role-img-alt"]
    # each names the element at fault, and only it
    assert [n["target"] for n in found["color-contrast"]["nodes"]] == [["#faint"]], report
    assert [n["target"] for n in svg_rule["nodes"]] == [["#chart"]], report
    assert [n["target"] for n in found["image-alt"]["nodes"]] == [["#photo"]], report
    assert [n["target"] for n in found["label"]["nodes"]] == [["#q"]], report
    assert "2.32" in found["color-contrast"]["nodes"][0]["failureSummary"], report


def test_axe_finds_nothing_in_an_accessible_page(chromium, tmp_path):
    with browser.serve(tmp_path) as base:
        chromium.load(base + page(tmp_path, CLEAN_PAGE))
        violations = chromium.axe()
        everything = browser.axe_results(chromium.driver)
    assert violations == [], browser.describe(violations)
    # the rules above did run here and passed, not merely stayed silent
    passed = {r["id"] for r in everything["passes"]}
    assert {"color-contrast", "svg-img-alt", "html-has-lang", "label",
            "heading-order", "landmark-one-main", "region"} <= passed, sorted(passed)
    assert everything["testEngine"]["version"] == browser.axe_version_pinned()


def test_screenshot_is_the_whole_page(tmp_path):
    # a browser of its own, with a small viewport: a smaller PNG to decode,
    # and chromium()'s size taken at its word
    browser.require()
    short = """<!doctype html><html lang="en"><title>s</title>
<body style="margin:0;background:#ff0000"></body></html>"""
    # red above, blue below, far past the 240 px high viewport
    tall = """<!doctype html><html lang="en"><title>t</title>
<body style="margin:0">
<div style="height:500px;background:#ff0000"></div>
<div style="height:500px;background:#0000ff"></div></body></html>"""
    with browser.serve(tmp_path) as base, browser.chromium(320, 240) as small:
        small.load(base + page(tmp_path, short, "short.html"))
        w, h, rows = png_pixels(small.screenshot(str(tmp_path / "short.png")))
        assert (w, h) == (320, 240)
        assert rows[0][0] == rows[-1][-1] == (255, 0, 0)

        small.load(base + page(tmp_path, tall, "tall.html"))
        shot = small.screenshot(browser.artefact_path("browser-harness/tall.png"))
        w, h, rows = png_pixels(shot)
        assert (w, h) == (320, 1000)
        assert rows[10][10] == rows[499][w - 1] == (255, 0, 0)
        assert rows[500][10] == rows[999][w - 1] == (0, 0, 255)
        # the viewport is what it was before the capture
        assert small.driver.execute_script("return [innerWidth, innerHeight]") == [320, 240]


def test_read_gives_attributes_and_visible_text(chromium, tmp_path):
    with browser.serve(tmp_path) as base:
        chromium.load(base + page(tmp_path, CLEAN_PAGE))
        chromium.screenshot(browser.artefact_path("browser-harness/clean.png"))
        cells = chromium.read("main data")
        [title] = chromium.read("svg title")
    assert cells == [browser.Element("data", "12,5", {"id": "no2", "value": "12.5"}),
                     browser.Element("data", "−3", {"id": "pm10", "value": "-3"})]
    assert [float(c.attrs["value"]) for c in cells] == [12.5, -3.0]
    assert title.text.startswith("NO2 over the last hour")
    assert chromium.read("table") == []


def test_javascript_runs_and_only_loopback_is_reached(chromium, tmp_path):
    (tmp_path / "latest.json").write_text('{"no2": 42.0}')
    # the data: icon spares a request for /favicon.ico, and its 404 error
    script = """<!doctype html><html lang="en"><title>js</title>
<link rel="icon" href="data:,"><body>
<output id="latest">loading…</output>
<p id="env"></p><p id="outside">trying</p>
<script>
  fetch("latest.json").then(r => r.json()).then(d => {
    document.getElementById("latest").textContent = "NO2 " + d.no2.toFixed(1);
  });
  document.getElementById("env").textContent = navigator.language + " " +
      Intl.DateTimeFormat().resolvedOptions().timeZone;
  fetch("http://vigie-outside.example/").then(
      () => { document.getElementById("outside").textContent = "reached"; },
      () => { document.getElementById("outside").textContent = "refused"; });
</script></body></html>"""
    with browser.serve(tmp_path) as base:
        chromium.console()  # drop what earlier pages logged
        chromium.load(base + page(tmp_path, script))
        assert chromium.wait_for("#latest", text="NO2").text == "NO2 42.0"
        assert chromium.read("#env")[0].text == "en-US UTC"
        assert chromium.wait_for("#outside", text="refused", timeout=10)
        errors = [m for m in chromium.console() if m["level"] == "SEVERE"]
        # the refused fetch is the only error the page logged
        assert errors and all("vigie-outside.example" in m["message"] for m in errors), errors

        page(tmp_path, "<!doctype html><title>x</title><script>"
             "throw new Error('boom in the page')</script>", "throws.html")
        chromium.load(base + "throws.html")
        assert any("boom in the page" in m["message"] for m in chromium.console())


def test_absent_browser_skips_outside_ci_and_fails_under_ci(monkeypatch):
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    reason = browser.missing()
    assert "/nonexistent/chromium" in reason and "bootstrap" in reason
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nonexistent"):
        browser.require()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI"):
        browser.require()


def test_artefact_path(monkeypatch, tmp_path):
    monkeypatch.setenv("VIGIE_ARTEFACTS", str(tmp_path / "kept"))
    p = browser.artefact_path("dashboard/overview.png")
    assert p == str(tmp_path / "kept" / "dashboard" / "overview.png")
    assert os.path.isdir(os.path.dirname(p))
    monkeypatch.delenv("VIGIE_ARTEFACTS")
    monkeypatch.setenv("VIGIE_BUILD_DIR", str(tmp_path / "build"))
    assert browser.artefact_path("a.png") == str(tmp_path / "build" / "test-artefacts" / "a.png")
    with pytest.raises(ValueError):
        browser.artefact_path("../outside.png")
