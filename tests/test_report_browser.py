"""report.html in a real browser: the plots render and model text never runs as code.

``test_html_report.py`` checks the HTML string; this opens the page in headless Chromium,
the way a person would, and reads back what the browser built: the DOM after the load
event (``--dump-dom``) and a screenshot. Attack strings in the model's outputs must come
back as text inside their table cells, the page title must be the one the report wrote
(every payload below tries to change it), and the SVG bars must be there and visible.

A control test first shows that the same harness *does* see a script run when one is live,
so a clean title in the report test means "did not run", not "could not have been seen".

Chromium comes from ``scripts/install-browser.sh`` (Debian's package); without a Chromium
binary on PATH these tests skip.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

from syllabus import Example
from syllabus.evaluate.html_report import render_report, write_report_html
from syllabus.evaluate.runner import evaluate
from syllabus.evaluate.task import Task
from syllabus.llm.fake import FunctionLLM

pytestmark = pytest.mark.browser

# Each payload would leave a distinct title if it ran, so a failure says which one got through.
ATTACKS = [
    "<script>document.title='PWNED'; window.__pwned=1</script>",
    "<img src=x onerror=\"document.title='PWNED2'\">",
    # A live <svg> would also add a red <rect>, which the bar count below would catch.
    "<svg onload=\"document.title='PWNED3'\"><rect width=999 height=999 fill=red /></svg>",
    # Tries to close the <pre> and the table cell it sits in, then run a script outside.
    "</pre></td></tr></table><script>document.title='PWNED4'</script><table><tr><td><pre>",
    "<a href=\"javascript:document.title='PWNED5'\">click me</a>",
]
CLEAN = "Paris"
# The model's name reaches the <title>, the <h1> and a JSON blob: another way in.
MODEL_NAME = "</title><script>document.title='PWNED6'</script>"

BAR_RGB = (0x6B, 0x8F, 0xC7)  # the fill of the report's bars (html_report.bar_chart_svg)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass
class Hostile(Task):
    """Six prompts; the fake model answers five of them with an attack and one plainly."""

    name: ClassVar[str] = "hostile"
    metrics: ClassVar[tuple[str, ...]] = ("exact_match", "has_markup")
    source: ClassVar[str] = "written for the browser test"

    def load(self):
        return [Example.from_prompt(f"Question {i}?", reference=CLEAN, id=f"q{i}") for i in range(len(ATTACKS) + 1)]

    def score(self, example, outputs):
        text = outputs[0].text
        # Two metrics with values strictly between 0 and 1, so both bars have a visible width.
        return {"exact_match": float(text == example.reference), "has_markup": float("<" in text)}


def answer(request) -> str:
    i = int(re.search(r"Question (\d+)", request.messages[-1]["content"]).group(1))
    return ATTACKS[i] if i < len(ATTACKS) else CLEAN


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    pytest.skip("no Chromium on PATH (bash scripts/install-browser.sh installs Debian's)")


def open_in_browser(page: Path, workdir: Path) -> tuple[str, bytes]:
    """Load ``page`` in headless Chromium; return the DOM after load and a PNG screenshot."""
    shot = workdir / "shot.png"
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium refuses to start sandboxed
        "--disable-gpu",
        # No network of any kind: the page must not need it, and a test must not make any.
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={workdir / 'profile'}",  # fresh profile: no state from earlier runs
        "--hide-scrollbars",
        "--force-device-scale-factor=1",  # one CSS pixel per screenshot pixel
        "--window-size=1200,900",
        # Let timers and late events (onerror, onload) fire before the DOM is taken.
        "--virtual-time-budget=2000",
        f"--screenshot={shot}",
        "--dump-dom",
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.exists(), "Chromium wrote no screenshot:\n" + done.stderr[-2000:]
    return done.stdout, shot.read_bytes()


class DomSummary(HTMLParser):
    """What the browser's DOM holds: every element with its attributes and ancestors, the
    title, the text of each <pre>, and the <rect>s drawn inside an <svg>."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "source", "area", "base", "col", "embed", "wbr"}

    def __init__(self, dom: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None], tuple[str, ...]]] = []
        self.title = ""
        self.pre_texts: list[str] = []
        self._open: list[str] = []
        self.feed(dom)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), tuple(self._open)))
        if tag == "pre":
            self.pre_texts.append("")
        if tag not in self.VOID:
            self._open.append(tag)

    def handle_startendtag(self, tag, attrs):  # <rect .../> inside SVG
        self.elements.append((tag, dict(attrs), tuple(self._open)))

    def handle_endtag(self, tag):
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data):
        if self._open and self._open[-1] == "title":
            self.title += data
        if "pre" in self._open:
            self.pre_texts[-1] += data

    def tags(self, name: str) -> list[tuple[dict[str, str | None], tuple[str, ...]]]:
        return [(attrs, parents) for tag, attrs, parents in self.elements if tag == name]


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) into rows of
    RGB bytes. The standard library has no image reader, and the project does not depend
    on one, so this is the few lines of the PNG spec the check needs."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        data = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:  # Sub
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b, c = prev[i], prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        rows.append(bytes(line) if channels == 3 else bytes(v for i, v in enumerate(line) if i % 4 != 3))
    return width, height, rows


def test_the_harness_sees_a_live_script_and_the_report_policy_stops_one(tmp_path):
    """Controls: the same raw payloads, not escaped. Without a policy they run (so the
    harness can see execution); under the report's own Content-Security-Policy they don't
    (so the policy is a working second line of defence, not decoration)."""
    policy = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', render_report({}, {})).group(0)
    for meta, ran in (("", True), (policy, False)):
        page = tmp_path / f"control-{ran}.html"
        page.write_text(f"<!doctype html><html><head>{meta}<title>orig</title></head><body>{''.join(ATTACKS)}</body></html>")
        dom = DomSummary(open_in_browser(page, tmp_path / f"run-{ran}")[0])
        if ran:
            assert dom.title.startswith("PWNED"), dom.title
        else:
            assert dom.title == "orig"


def test_report_renders_its_plots_and_never_runs_model_text(tmp_path):
    evaluate(FunctionLLM(answer, name=MODEL_NAME), [Hostile()], tmp_path / "eval")
    page = write_report_html(tmp_path / "eval")
    dom_text, png = open_in_browser(page, tmp_path)
    dom = DomSummary(dom_text)

    # Nothing ran: the title is exactly what the report wrote, model name shown as text.
    assert dom.title == f"syllabus report: fake:{MODEL_NAME}"
    # Nothing live was injected: no script or embedded-document elements, no event handler
    # (img onerror, svg onload) on any element, no javascript: URL in any attribute.
    tags = {tag for tag, _, _ in dom.elements}
    assert not tags & {"script", "iframe", "object", "embed"}, tags
    handlers = [(tag, a) for tag, attrs, _ in dom.elements for a in attrs if a.lower().startswith("on")]
    assert not handlers
    assert not [attrs for _, attrs, _ in dom.elements if any("javascript:" in (v or "").lower() for v in attrs.values())]
    # Every attack is shown whole, as text, inside its own output cell: the break-out
    # attempt did not close the <pre> (six examples x prompt, output, reference = 18 cells).
    assert len(dom.pre_texts) == 3 * (len(ATTACKS) + 1)
    for attack in ATTACKS:
        assert attack in dom.pre_texts

    # The plot: one chart, one bar per metric, both drawn with a visible width.
    svgs = dom.tags("svg")
    assert len(svgs) == 1
    bars = [attrs for attrs, parents in dom.tags("rect") if "svg" in parents]
    assert len(bars) == len(Hostile.metrics)
    assert all(float(b["width"]) > 10 and b["fill"] == "#6b8fc7" for b in bars), bars

    # The screenshot shows a real page, and the bars are painted in their colour.
    assert len(png) > 20_000
    width, height, rows = png_pixels(png)
    pixels = [row[i : i + 3] for row in rows for i in range(0, len(row), 3)]
    assert len(set(pixels)) > 50  # text, table borders, anti-aliasing: far from a blank page
    bar_pixels = sum(p == bytes(BAR_RGB) for p in pixels)
    assert bar_pixels > 1_000, f"only {bar_pixels} bar-coloured pixels in a {width}x{height} screenshot"
