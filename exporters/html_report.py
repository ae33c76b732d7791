"""A self-contained HTML report for `mre eval`: ROC curves, score distributions split by label, and
the worst examples with their explanations. Inline SVG and CSS; no scripts, no network."""

from __future__ import annotations

from html import escape

from mre.processor.offline import EvalReport
from mre.processor.stats import ReliabilityBin, roc_curve

_W, _H, _PAD = 320, 240, 32
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #d8dee4;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}.num{text-align:right;font-variant-numeric:tabular-nums}.charts{display:flex;gap:1.5rem;flex-wrap:wrap}
figure{margin:0}figcaption{font-size:.85rem;color:#57606a}.bad{color:#b42318}.ok{color:#067647}code{font-size:.85em}
"""


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def _axes(title: str) -> list[str]:
    return [
        f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(title)}">',
        f'<rect x="{_PAD}" y="8" width="{_W - _PAD - 8}" height="{_H - _PAD - 8}" fill="#fff" stroke="#8c959f"/>',
    ]


def _xy(x: float, y: float) -> tuple[float, float]:
    return _PAD + x * (_W - _PAD - 8), 8 + (1 - y) * (_H - _PAD - 8)


def roc_svg(name: str, scores: list[float], positives: list[bool], area: float | None) -> str:
    fpr, tpr = roc_curve(scores, positives)
    parts = _axes(f"ROC {name}")
    x0, y0 = _xy(0, 0)
    x1, y1 = _xy(1, 1)
    parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#d0d7de" stroke-dasharray="4"/>')
    points = " ".join("{:.1f},{:.1f}".format(*_xy(f, t)) for f, t in zip(fpr, tpr, strict=True))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#0969da" stroke-width="2"/>')
    parts.append(f'<text x="{_PAD + 6}" y="24">AUROC {_fmt(area)}</text>')
    parts.append(f'<text x="{_W / 2}" y="{_H - 6}" text-anchor="middle" font-size="11">false positive rate</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(name: str, good: list[float], bad: list[float], bins: int = 20) -> str:
    parts = _axes(f"distribution {name}")
    counts_good = [0] * bins
    counts_bad = [0] * bins
    for v in good:
        counts_good[min(int(v * bins), bins - 1)] += 1
    for v in bad:
        counts_bad[min(int(v * bins), bins - 1)] += 1
    peak = max([*counts_good, *counts_bad, 1])
    width = (_W - _PAD - 8) / bins
    for i in range(bins):
        for counts, color, offset in ((counts_good, "#1a7f37", 0.0), (counts_bad, "#cf222e", 0.5)):
            h = counts[i] / peak * (_H - _PAD - 8)
            x = _PAD + i * width + offset * width
            parts.append(
                f'<rect x="{x:.1f}" y="{8 + (_H - _PAD - 8) - h:.1f}" width="{width / 2:.1f}" height="{h:.1f}" '
                f'fill="{color}" opacity=".8"/>'
            )
    parts.append(
        f'<text x="{_W / 2}" y="{_H - 6}" text-anchor="middle" font-size="11">score (green: faithful,'
        " red: not)</text></svg>"
    )
    return "".join(parts)


def reliability_svg(name: str, bins: list[ReliabilityBin], ece: float | None) -> str:
    """Observed share of faithful rows against the mean score per bin; the diagonal is calibrated.
    Dot area follows the bin's rows."""
    parts = _axes(f"reliability {name}")
    x0, y0 = _xy(0, 0)
    x1, y1 = _xy(1, 1)
    parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#d0d7de" stroke-dasharray="4"/>')
    total = sum(b.count for b in bins) or 1
    points = []
    for b in bins:
        x, y = _xy(b.mean_predicted, b.observed)
        points.append(f"{x:.1f},{y:.1f}")
        radius = 2.5 + 9 * (b.count / total) ** 0.5
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="#8250df" opacity=".75"/>')
    if points:
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#8250df" stroke-width="1.5"/>')
    parts.append(f'<text x="{_PAD + 6}" y="24">ECE {_fmt(ece)}</text>')
    parts.append(
        f'<text x="{_W / 2}" y="{_H - 6}" text-anchor="middle" font-size="11">score (read as P(faithful))'
        " vs observed share</text></svg>"
    )
    return "".join(parts)


def render(report: EvalReport, source: str, worst: int = 20) -> str:
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>mre eval: {escape(source)}</title><style>{_CSS}</style></head><body>",
        f"<h1>mre eval — {escape(source)}</h1>",
        f"<p>{report.n} interactions, {report.n_labeled} labeled. Baselines (AUROC): unsupported words "
        f"{_fmt(report.baselines.get('unsupported_words'))}, answer length "
        f"{_fmt(report.baselines.get('answer_length'))}: a scorer below them adds nothing over word overlap "
        "or length. Length-matched AUROC compares only answers about as long as each other "
        f"({report.length_matched_pairs} pairs; answer length then scores "
        f"{_fmt(report.baselines_length_matched.get('answer_length'))}). "
        "ECE: expected calibration error of the score read as P(faithful).</p>",
        "<table><tr><th>scorer</th><th class=num>scored</th><th class=num>mean</th><th class=num>AUROC</th>"
        "<th class=num>AUROC, length-matched</th><th class=num>ECE</th><th class=num>threshold</th>"
        "<th class=num>precision</th><th class=num>recall</th>"
        "<th class=num>F1</th></tr>",
    ]
    for r in report.scorers.values():
        out.append(
            f"<tr><td>{escape(r.name)}</td><td class=num>{r.n_scored}</td><td class=num>{_fmt(r.mean)}</td>"
            f"<td class=num>{_fmt(r.auroc)}</td><td class=num>{_fmt(r.length_matched_auroc)}</td>"
            f"<td class=num>{_fmt(r.ece)}</td><td class=num>{r.threshold:g}</td>"
            f"<td class=num>{_fmt(r.precision, True)}</td><td class=num>{_fmt(r.recall, True)}</td>"
            f"<td class=num>{_fmt(r.f1, True)}</td></tr>"
        )
    out.append("</table>")
    if report.by_source:
        names = list(report.scorers)
        baselines = ("unsupported_words", "answer_length")
        out.append(
            "<h2>AUROC per source</h2><table><tr><th>source</th><th class=num>rows</th>"
            + "".join(f"<th class=num>{escape(n)}</th>" for n in names)
            + "".join(f"<th class=num>baseline: {b}</th>" for b in baselines)
            + "</tr>"
        )
        for name_of_source, g in report.by_source.items():
            out.append(
                f"<tr><td>{escape(name_of_source)}</td><td class=num>{g.n}</td>"
                + "".join(f"<td class=num>{_fmt(g.auroc.get(n))}</td>" for n in names)
                + "".join(f"<td class=num>{_fmt(g.baselines.get(b))}</td>" for b in baselines)
                + "</tr>"
            )
        out.append("</table>")
    for name, r in report.scorers.items():
        pairs = [(s[name].value, bool(e.faithful)) for e, s in report.scored if name in s and e.faithful is not None]
        if not pairs:
            continue
        out.append(f"<h2>{escape(name)}</h2><div class=charts>")
        out.append(
            f"<figure>{roc_svg(name, [p[0] for p in pairs], [p[1] for p in pairs], r.auroc)}"
            "<figcaption>ROC, faithful = positive</figcaption></figure>"
        )
        out.append(
            f"<figure>{histogram_svg(name, [p[0] for p in pairs if p[1]], [p[0] for p in pairs if not p[1]])}"
            "<figcaption>scores by label</figcaption></figure>"
        )
        out.append(
            f"<figure>{reliability_svg(name, r.reliability, r.ece)}"
            "<figcaption>reliability: on the diagonal, a score of 0.7 means 70 % faithful</figcaption></figure></div>"
        )
    ranked = sorted(
        ((e, s) for e, s in report.scored if "faithfulness" in s), key=lambda pair: pair[1]["faithfulness"].value
    )[:worst]
    if ranked:
        out.append(
            f"<h2>Lowest faithfulness ({len(ranked)})</h2><table><tr><th>line</th><th>question</th>"
            "<th>answer</th><th class=num>score</th><th>label</th><th>explanation</th></tr>"
        )
        for example, scores in ranked:
            f = scores["faithfulness"]
            truth = (
                ""
                if example.faithful is None
                else ("<span class=ok>faithful</span>" if example.faithful else "<span class=bad>not faithful</span>")
            )
            out.append(
                f"<tr><td class=num>{example.line}</td><td>{escape(example.interaction.question or '')}</td>"
                f"<td>{escape(example.interaction.answer or '')}</td><td class=num>{f.value:.2f}</td>"
                f"<td>{escape(f.label)} {truth}</td><td>{escape(f.explanation)}</td></tr>"
            )
        out.append("</table>")
    if report.skipped:
        out.append(
            "<h2>Skipped lines</h2><ul>"
            + "".join(f"<li><code>{escape(s)}</code></li>" for s in report.skipped)
            + "</ul>"
        )
    out.append("</body></html>")
    return "\n".join(out)
