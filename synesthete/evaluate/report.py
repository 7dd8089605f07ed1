"""The evaluation report: Markdown and HTML pages with figures, from one ``evaluate_labels`` document.

Figures (PNG, matplotlib): the models side by side (precision@k, mAP, nDCG@k, chance), a heat map per
model of which groups each group's neighbours belong to, the labelled tracks' map coloured by group, and
for a few queries the boxplots of descriptor values among their recommendations (the query marked), which
show what the recommendations share with it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from synesthete.features.registry import EXTRACTORS
from synesthete.library.store import Track
from synesthete.recommend.space import Space

FIGURES = "figures"
BOX_QUERIES = 4  # queries shown with their recommendations' descriptor boxplots
BOX_DESCRIPTORS = 10  # descriptors per query: those where the query stands out most from the collection


def write_report(
    doc: dict,
    folder: str | Path,
    *,
    spaces: Mapping[str, Space],
    descriptors: Space | None,
    tracks: Mapping[int, Track],
    map_method: str = "umap",
) -> Path:
    """Write ``index.md``, ``index.html`` and ``figures/*.png`` into ``folder``; returns the Markdown path.

    ``spaces``: each scored model's space by its name in ``doc``; ``descriptors``: the descriptors' space
    (None: no boxplots); ``tracks``: the labelled tracks by id, for the figures' titles and labels.
    """
    import matplotlib

    matplotlib.use("Agg")
    folder = Path(folder).expanduser()
    (folder / FIGURES).mkdir(parents=True, exist_ok=True)
    groups = {int(i): g for i, g in doc["track_groups"].items()}
    k = doc["k"]
    blocks: list[tuple] = [("h1", "Retrieval quality")]
    filt = f"; {doc['filter_text']}"
    blocks.append(
        (
            "p",
            f"Labels `{doc['labels']}`: {doc['tracks']} tracks in {doc['groups']} groups, k = {k}{filt}. "
            f"Leave-one-out: every track queries all the others; a neighbour is relevant when it shares the "
            f"query's group. Chance precision ~{doc['chance']:.3f}.",
        )
    )
    rows = [
        [
            m,
            _f(s["precision_at_k"]),
            _f(s["map"]),
            _f(s["ndcg_at_k"]),
            f"{s['hubness']['skewness']:.2f}",
            s["queries"],
        ]
        for m, s in doc["models"].items()
    ]
    blocks.append(("table", ["model", f"P@{k}", "mAP", f"nDCG@{k}", "hubness (skew)", "queries"], rows))
    blocks.append(("img", _bars(doc, folder), "scores per model"))
    models = list(doc["models"])
    blocks.append(("h2", f"Per group (precision@{k} / mAP)"))
    first = doc["models"][models[0]]["per_group"]
    rows = [
        [g, first[g]["tracks"]]
        + [
            f"{_f(doc['models'][m]['per_group'][g]['precision_at_k'])} / {_f(doc['models'][m]['per_group'][g]['map'])}"
            for m in models
        ]
        for g in first
    ]
    blocks.append(("table", ["group", "tracks", *models], rows))
    blocks.append(("h2", "Where each group's neighbours come from"))
    blocks.append(
        ("p", f"Row: the query's group; column: the share of its {k} nearest neighbours in each group.")
    )
    for m in models:
        blocks.append(("img", _confusion(doc["models"][m]["confusion"], m, folder), f"confusion, {m}"))
    blocks.append(("h2", "The labelled tracks on the map"))
    for m in models:
        path = _map(spaces[m], groups, tracks, map_method, folder)
        if path:
            blocks.append(("img", path, f"{map_method} map, {m}"))
    boxes = [
        p
        for m in models
        if descriptors and (p := _boxplots(spaces[m], descriptors, groups, tracks, k, folder))
    ]
    if boxes:
        blocks.append(("h2", "What recommendations share with their query"))
        blocks.append(
            (
                "p",
                f"For {BOX_QUERIES} queries (one per large group): the descriptor values (z-scores over the "
                f"collection) of its {k} recommendations as boxes, the query as a red diamond, on the "
                f"{BOX_DESCRIPTORS} descriptors where the query stands out most.",
            )
        )
        blocks += [("img", p, f"descriptor boxplots, {p.stem}") for p in boxes]
    blocks.append(("h2", "Hubness"))
    blocks.append(
        (
            "p",
            f"k-occurrence N{k}: how often a track is among the others' {k} nearest. Skewness near 0: "
            "recommendations spread evenly; large: a few hubs come back for everything. Antihubs: share of "
            "tracks that are nobody's neighbour.",
        )
    )
    rows = [
        [
            m,
            f"{s['hubness']['skewness']:.2f}",
            s["hubness"]["max_occurrence"],
            f"{s['hubness']['antihubs']:.1%}",
        ]
        for m, s in doc["models"].items()
    ]
    blocks.append(("table", ["model", "skewness", "max occurrence", "antihubs"], rows))
    md = folder / "index.md"
    md.write_text(_markdown(blocks, folder), encoding="utf-8")
    (folder / "index.html").write_text(_html(blocks, folder), encoding="utf-8")
    return md


def _f(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _bars(doc: dict, folder: Path) -> Path:
    import matplotlib.pyplot as plt

    models = list(doc["models"])
    metrics = [("precision_at_k", f"P@{doc['k']}"), ("map", "mAP"), ("ndcg_at_k", f"nDCG@{doc['k']}")]
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=110)
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        values = [doc["models"][m][key] for key, _ in metrics]
        bars = ax.bar(np.arange(len(metrics)) + i * width, np.nan_to_num(values), width, label=m)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.axhline(doc["chance"], color="grey", linestyle="--", linewidth=1, label="chance precision")
    ax.set_xticks(np.arange(len(metrics)) + width * (len(models) - 1) / 2, [name for _, name in metrics])
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title("Retrieval quality per model")
    fig.tight_layout()
    path = folder / FIGURES / "models.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _confusion(confusion: dict, model: str, folder: Path) -> Path:
    import matplotlib.pyplot as plt

    groups, matrix = confusion["groups"], np.array(confusion["matrix"])
    size = 2.5 + 0.45 * len(groups)
    fig, ax = plt.subplots(figsize=(size + 1.5, size), dpi=110)
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(groups)), groups, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(groups)), groups, fontsize=7)
    if len(groups) <= 15:
        for i in range(len(groups)):
            for j in range(len(groups)):
                colour = "black" if matrix[i, j] > 0.5 else "white"
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6, color=colour)
    ax.set_xlabel("neighbour's group")
    ax.set_ylabel("query's group")
    ax.set_title(model)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    path = folder / FIGURES / f"confusion-{model}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _map(
    space: Space, groups: dict[int, str], tracks: Mapping[int, Track], method: str, folder: Path
) -> Path | None:
    """The labelled tracks alone, projected in ``space`` and coloured by group."""
    from synesthete.mapview.plots import write_map
    from synesthete.mapview.project import project

    rows = [n for n, i in enumerate(space.ids.tolist()) if i in groups]
    if len(rows) < 3:
        return None
    names = space.names
    proj = project(space.vectors[rows], method=method, dims=2, names=names)
    points = [
        {"track_id": int(space.ids[n]), "x": float(x), "y": float(y), **_tags(tracks.get(int(space.ids[n])))}
        for n, (x, y) in zip(rows, proj.coords, strict=True)
    ]
    doc = {"model": space.name, "method": method, "dims": 2, "axes": proj.axes, "points": points}
    path = folder / FIGURES / f"map-{space.name}.png"
    return write_map(doc, path, labels=groups, title=f"{space.name}: {method.upper()} of the labelled tracks")


def _tags(track) -> dict:
    if track is None:
        return {"path": ""}
    return {"title": track.title, "artist": track.artist, "genre": track.genre, "path": track.path}


def _boxplots(
    space: Space, desc: Space, groups: dict[int, str], tracks: Mapping[int, Track], k: int, folder: Path
) -> Path | None:
    """Boxplots of the descriptors (``desc``) among ``space``'s recommendations for a few queries."""
    import matplotlib.pyplot as plt

    descriptors = EXTRACTORS.get("descriptors")
    if descriptors is None or getattr(descriptors, "names", None) is None:
        return None
    z = ((desc.vectors / desc.weights) if np.all(desc.weights != 0) else desc.vectors).astype(np.float64)
    row_of = {int(i): n for n, i in enumerate(desc.ids.tolist())}
    by_group: dict[str, list[int]] = {}
    for track_id, g in sorted(groups.items()):
        if track_id in row_of and track_id in space:
            by_group.setdefault(g, []).append(track_id)
    largest = sorted(by_group, key=lambda g: (-len(by_group[g]), g))[:BOX_QUERIES]
    if not largest:
        return None
    fig, axes = plt.subplots(len(largest), 1, figsize=(10, 2.8 * len(largest)), dpi=100, squeeze=False)
    for ax, g in zip(axes[:, 0], largest, strict=True):
        query = by_group[g][0]
        ids, _ = space.search(space.vector_of(query), k, exclude=(query,))
        recs = [row_of[int(i)] for i in ids if int(i) in row_of]
        q = z[row_of[query]]
        dims = np.argsort(-np.abs(q), kind="stable")[:BOX_DESCRIPTORS]
        ax.boxplot([z[recs, d] for d in dims], widths=0.5)
        ax.scatter(np.arange(1, len(dims) + 1), q[dims], marker="D", color="red", zorder=3, label="query")
        ax.axhspan(-1, 1, color="grey", alpha=0.12, label="collection ±1 sd")
        ax.set_xticks(
            np.arange(1, len(dims) + 1), [descriptors.names[d] for d in dims], rotation=20, fontsize=7
        )
        hits = sum(groups.get(int(i)) == g for i in ids)
        label = tracks[query].label if query in tracks else str(query)
        ax.set_title(f"{label} [{g}]: {hits}/{len(ids)} recommendations share its group", fontsize=9)
        ax.set_ylabel("z-score", fontsize=8)
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    fig.suptitle(f"{space.name}: descriptor values among the recommendations", fontsize=10)
    fig.tight_layout()
    path = folder / FIGURES / f"boxplots-{space.name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _markdown(blocks: list[tuple], folder: Path) -> str:
    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            out.append(("# " if kind == "h1" else "## ") + rest[0])
        elif kind == "p":
            out.append(rest[0])
        elif kind == "table":
            header, rows = rest
            out.append("| " + " | ".join(map(str, header)) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
        elif kind == "img":
            out.append(f"![{rest[1]}]({rest[0].relative_to(folder).as_posix()})")
        out.append("")
    return "\n".join(out)


def _html(blocks: list[tuple], folder: Path) -> str:
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Retrieval quality</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style></head><body>",
    ]
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            out.append(f"<{kind}>{html.escape(rest[0])}</{kind}>")
        elif kind == "p":
            text = html.escape(rest[0])
            parts = text.split("`")
            out.append(
                "<p>" + "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)) + "</p>"
            )
        elif kind == "table":
            header, rows = rest
            out.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>")
            out += [
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
            ]
            out.append("</table>")
        elif kind == "img":
            src = html.escape(rest[0].relative_to(folder).as_posix())
            out.append(f"<p><img src='{src}' alt='{html.escape(rest[1])}'></p>")
    out.append("</body></html>")
    return "\n".join(out)
