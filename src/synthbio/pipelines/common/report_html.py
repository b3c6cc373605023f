"""Small helpers for self-contained HTML reports with PNG figures beside them.

Figures are drawn on a `matplotlib.figure.Figure` with an explicit Agg canvas,
so no pyplot state and no global backend is touched (importing this module
does not import matplotlib at all).
"""

from __future__ import annotations

import html
import io
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from synthbio.utils.hashing import atomic_write_bytes

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 70em;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.met { color: #176f2c; font-weight: 600; } .missed { color: #b00020; font-weight: 600; }
.na { color: #777; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; max-width: 34em; }
code { background: #f5f5f5; padding: 0 0.2em; }
"""


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None, recursively, so results are strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def fmt_number(value: object, *, digits: int = 3, percent: bool = False) -> str:
    """A readable number: percentages with `digits - 1` decimals, NaN/None as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    v = float(value)  # type: ignore[arg-type]
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if percent:
        return f"{100 * v:.{max(digits - 1, 0)}f}%"
    return f"{v:.{digits}g}" if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3) else f"{v:.{digits}f}".rstrip("0").rstrip(".")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, raw_html: bool = False) -> str:
    """An HTML table; cells are escaped unless raw_html (then they are trusted HTML)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            text = str(cell) if raw_html else esc(cell)
            numeric = isinstance(cell, (int, float)) and not isinstance(cell, bool)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def status_html(met: bool | None) -> str:
    """'met' / 'not met' / 'not evaluated', coloured."""
    if met is None:
        return '<span class="na">not evaluated</span>'
    return '<span class="met">met</span>' if met else '<span class="missed">not met</span>'


def figure_html(src: str, caption: str, *, width: int | None = None) -> str:
    style = f' style="width:{int(width)}px"' if width else ""
    return f'<figure{style}><img src="{esc(src)}" alt="{esc(caption)}"><figcaption>{esc(caption)}</figcaption></figure>'


def page(title: str, sections: Sequence[tuple[str, str]], *, subtitle: str = "") -> str:
    """A whole HTML document: a title, a subtitle line and (heading, html) sections."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if subtitle:
        parts.append(f'<p class="sub">{esc(subtitle)}</p>')
    for heading, body in sections:
        parts.append(f"<h2>{esc(heading)}</h2>\n{body}")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def new_figure(width_in: float = 6.0, height_in: float = 4.0) -> Any:
    """A matplotlib Figure on an Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Render `fig` to PNG and write it atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    os.chmod(path, 0o644)
    return path


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    path = Path(path)
    atomic_write_bytes(path, text.encode("utf-8"))
    os.chmod(path, 0o644)
    return path
