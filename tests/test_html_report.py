"""report.html: every piece of model text is escaped, plots are inline SVG, no scripts."""

from __future__ import annotations

import re

from syllabus import Example
from syllabus.evaluate.html_report import bar_chart_svg, render_report

ATTACK = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def report_with(output: str) -> str:
    ex = Example.from_prompt("Say hi " + ATTACK, reference="hi", completion=output)
    ex.set_score("t", "acc", 1.0)
    report = {
        "created": "now",
        "model": {"model_id": "fake:<b>echo</b>"},
        "tasks": {"t<script>": {"n": 1, "source": ATTACK, "metrics": {"acc": {"value": 1.0, "low": 0.2, "high": 1.0, "n": 1, "method": "wilson"}}}},
    }
    return render_report(report, {"t<script>": [ex]})


def test_model_text_is_escaped_everywhere():
    page = report_with(ATTACK)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;document.title" in page
    assert "<img" not in page
    assert "fake:&lt;b&gt;echo&lt;/b&gt;" in page


def test_page_has_svg_plots_and_a_strict_content_policy():
    page = report_with("hi")
    assert page.count("<svg") == 1
    assert "default-src 'none'" in page
    assert not re.search(r"<script", page, re.I)


def test_bar_chart_whiskers_follow_the_interval():
    svg = bar_chart_svg([("a", 0.5, 0.25, 0.75), ("b", 1.0, None, None)], title="x")
    assert svg.count("<rect") == 2
    assert svg.count("<line") == 3  # one whisker with two end ticks for "a", none for "b"
