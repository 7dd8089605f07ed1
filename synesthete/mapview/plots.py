"""Writing a map document (``maps.build_map``) to a file: an interactive page, a static figure, or a table.

The page is one self-contained HTML file that works offline: plotly.js travels inside it, gzip-compressed
and unpacked by the browser's own ``DecompressionStream`` (every current browser has it). Inlined as is,
plotly.js alone weighs 4.8 MB; compressed it takes 1.9 MB, which keeps a 10^4-track map under 5 MB.
"""

from __future__ import annotations

import base64
import csv
import gzip
import html
import json
from collections import Counter
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

from synesthete.exceptions import ParameterError

FORMATS = (".html", ".png", ".csv", ".json")
MAX_LEGEND = 23  # colours given to the commonest labels; the rest share one grey "other"
NO_LABEL = "(none)"
OTHER = "(other)"


def write_map(
    doc: dict, path: str | Path, *, labels: Mapping[int, str] | None = None, title: str | None = None
) -> Path:
    """Write ``doc`` as .html, .png, .csv or .json, by the file's suffix.

    Points are coloured by ``labels`` (track id -> label) when given, else by genre. A file name that
    is not valid UTF-8 is written as ``\\udcXX`` (a valid escape in the JSON and the page's script).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ParameterError(
            f"cannot write a map as '{suffix or path.name}': use one of {', '.join(FORMATS)}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    title = title or f"{doc['model']} · {doc['method'].upper()} {doc['dims']}D · {len(doc['points'])} tracks"
    colour_of = _labeller(doc, labels)
    if suffix == ".html":
        path.write_text(to_html(doc, colour_of, title), encoding="utf-8", errors="backslashreplace")
    elif suffix == ".png":
        to_png(doc, colour_of, title, path)
    elif suffix == ".csv":
        to_csv(doc, colour_of, path)
    else:
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8", errors="backslashreplace")
    return path


def _labeller(doc: dict, labels: Mapping[int, str] | None) -> dict[int, str]:
    """Track id -> the legend entry it is drawn under (commonest labels first, rare ones lumped)."""
    raw = {
        p["track_id"]: str((labels.get(p["track_id"]) if labels is not None else p.get("genre")) or NO_LABEL)
        for p in doc["points"]
    }
    common = {label for label, _ in Counter(raw.values()).most_common(MAX_LEGEND)}
    return {i: (label if label in common else OTHER) for i, label in raw.items()}


def _groups(doc: dict, colour_of: dict[int, str]) -> list[tuple[str, list[dict]]]:
    by: dict[str, list[dict]] = {}
    for p in doc["points"]:
        by.setdefault(colour_of[p["track_id"]], []).append(p)
    return sorted(by.items(), key=lambda kv: (kv[0] in (OTHER, NO_LABEL), -len(kv[1]), kv[0]))


def _palette(n: int) -> list[str]:
    from plotly.colors import qualitative

    colours = qualitative.Dark24 if n > 10 else qualitative.Plotly
    return [colours[i % len(colours)] for i in range(n)]


def _coords(points: list[dict], dims: int) -> list[np.ndarray]:
    return [np.array([p[a] for p in points], dtype=np.float32) for a in ("x", "y", "z")[:dims]]


def figure(doc: dict, colour_of: dict[int, str], title: str):
    """The plotly figure: one trace per label, WebGL in 2D so 10^5 points stay fluid."""
    import plotly.graph_objects as go

    groups = _groups(doc, colour_of)
    fig = go.Figure()
    for (label, points), colour in zip(groups, _palette(len(groups)), strict=True):
        colour = "#b0b0b0" if label in (OTHER, NO_LABEL) else colour
        text = [
            " - ".join(x for x in (p.get("artist"), p.get("title")) if x) or Path(p["path"]).stem
            for p in points
        ]
        common = dict(
            name=f"{label} ({len(points)})",
            mode="markers",
            text=text,
            customdata=np.array([p["track_id"] for p in points], dtype=np.int32),
            hovertemplate="%{text}<br>track %{customdata}<extra>" + html.escape(label) + "</extra>",
        )
        xyz = _coords(points, doc["dims"])
        if doc["dims"] == 3:
            fig.add_trace(
                go.Scatter3d(x=xyz[0], y=xyz[1], z=xyz[2], marker=dict(size=2.5, color=colour), **common)
            )
        else:
            fig.add_trace(go.Scattergl(x=xyz[0], y=xyz[1], marker=dict(size=5, color=colour), **common))
    axes = doc["axes"]
    fig.update_layout(
        title=dict(text=html.escape(title)), template="plotly_white", legend=dict(itemsizing="constant")
    )
    if doc["dims"] == 3:
        fig.update_layout(scene=dict(xaxis_title=axes[0], yaxis_title=axes[1], zaxis_title=axes[2]))
    else:
        fig.update_layout(xaxis_title=axes[0], yaxis_title=axes[1])
    return fig


@lru_cache(maxsize=1)
def _plotly_js_gzip_b64() -> str:
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=9, mtime=0)).decode()


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>html,body{{margin:0;height:100%;font-family:sans-serif}}#map{{width:100vw;height:100vh}}</style>
</head><body><div id="map"><p style="padding:1em">Drawing the map&hellip;</p></div>
<script id="plotly-js-gzip" type="application/octet-stream">{plotly}</script>
<script id="figure" type="application/json">{figure}</script>
<script>
(async () => {{
  const box = document.getElementById("map");
  try {{
    const packed = atob(document.getElementById("plotly-js-gzip").textContent);
    const bytes = Uint8Array.from(packed, (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const code = document.createElement("script");
    code.textContent = await new Response(stream).text();
    document.head.appendChild(code);
    const fig = JSON.parse(document.getElementById("figure").textContent);
    box.innerHTML = "";
    await Plotly.newPlot(box, fig.data, fig.layout, {{responsive: true, displaylogo: false}});
  }} catch (err) {{
    box.textContent = "This page needs a browser with DecompressionStream (2023 or later): " + err;
  }}
}})();
</script>
</body></html>
"""


def to_html(doc: dict, colour_of: dict[int, str], title: str) -> str:
    """A self-contained interactive page: no network, one file."""
    import plotly.io as pio

    fig_json = pio.to_json(figure(doc, colour_of, title), engine="json").replace("</", "<\\/")
    return PAGE.format(title=html.escape(title), plotly=_plotly_js_gzip_b64(), figure=fig_json)


def to_png(doc: dict, colour_of: dict[int, str], title: str, path: Path) -> None:
    """A static figure (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(doc, colour_of)
    fig = plt.figure(figsize=(11, 8), dpi=110)
    ax = fig.add_subplot(projection="3d" if doc["dims"] == 3 else None)
    size = float(np.clip(4000 / max(len(doc["points"]), 1), 2, 30))
    for (label, points), colour in zip(groups, _palette(len(groups)), strict=True):
        colour = "#b0b0b0" if label in (OTHER, NO_LABEL) else colour
        ax.scatter(
            *_coords(points, doc["dims"]), s=size, c=colour, label=f"{label} ({len(points)})", linewidths=0
        )
    axes = [_wrap(a) for a in doc["axes"]]
    ax.set_xlabel(axes[0], fontsize=8)
    ax.set_ylabel(axes[1], fontsize=8)
    if doc["dims"] == 3:
        ax.set_zlabel(axes[2], fontsize=8)
    ax.set_title(title)
    ax.legend(
        loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, markerscale=max(1.0, 20 / size), frameon=False
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _wrap(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text.replace(": ", ":\n", 1)


def to_csv(doc: dict, colour_of: dict[int, str], path: Path) -> None:
    """One row per track: id, coordinates, the label it is coloured by, and its tags."""
    axes = ["x", "y", "z"][: doc["dims"]]
    with open(path, "w", newline="", encoding="utf-8", errors="backslashreplace") as fh:
        w = csv.writer(fh)
        w.writerow(["track_id", *axes, "label", "genre", "artist", "title", "album", "path"])
        for p in doc["points"]:
            w.writerow(
                [p["track_id"], *(p[a] for a in axes), colour_of[p["track_id"]]]
                + [p.get(c) or "" for c in ("genre", "artist", "title", "album", "path")]
            )
