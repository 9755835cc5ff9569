"""One self-contained HTML page per report: tables (sortable), figures, a map gallery, the command,
the composed config and the machine. Images are inlined as data URIs and a Content-Security-Policy
forbids every request, so the file reads offline and as a CI artifact.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from camx.atomic import atomic_write_text
from camx.report.gallery import Tile
from camx.report.tables import Cell

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 1.2em 3em;color:#222}
h1{font-size:1.5em;margin:.8em 0 .2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
nav a{margin-right:1em}table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}th{background:#f4f4f4;cursor:pointer;
user-select:none}th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td:nth-child(-n+5){text-align:left}tbody tr:nth-child(even){background:#fafafa}.scroll{overflow-x:auto}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}figure img{max-width:100%;max-height:560px}
figcaption{font-size:12px;color:#555}.gallery td{text-align:center;vertical-align:top}
.gallery img{display:block;margin:auto;image-rendering:pixelated}.gallery small{display:block;
max-width:170px;margin:auto;white-space:normal}pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:12px}
.meta td{text-align:left}
"""
_SORT = """
for (const table of document.querySelectorAll("table.sortable")) {
  const heads = table.tHead ? table.tHead.rows[0].cells : [];
  [...heads].forEach((th, i) => th.addEventListener("click", () => {
    const asc = th.getAttribute("aria-sort") !== "ascending";
    for (const h of heads) h.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    const key = (row) => {
      const cell = row.cells[i], raw = cell.dataset.sort ?? cell.textContent.trim();
      const num = parseFloat(raw);
      return Number.isNaN(num) ? [1, raw] : [0, num];
    };
    const body = table.tBodies[0];
    const rows = [...body.rows].sort((a, b) => {
      const [ka, va] = key(a), [kb, vb] = key(b);
      if (ka !== kb) return ka - kb;  // numbers first, blanks and words after, in either direction
      return (va < vb ? -1 : va > vb ? 1 : 0) * (asc ? 1 : -1);
    });
    for (const row of rows) body.appendChild(row);
  }));
}
"""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def table(cols: Sequence[str], rows: Sequence[Sequence[Any]], css: str = "sortable") -> str:
    """A table whose :class:`Cell` entries show ``mean ± half-width`` (:meth:`Cell.text`) and sort by the mean."""
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = []
    for row in rows:
        tds = []
        for c in row:
            if isinstance(c, Cell):
                key = "" if c.value is None else f"{c.value:.6g}"
                tds.append(f'<td data-sort="{key}">{esc(c.text())}</td>')
            else:
                tds.append(f"<td>{esc(c)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (
        f'<div class="scroll"><table class="{css}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


#: the suffixes of the figure files :mod:`camx.figures` writes (``figure.format``)
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def figures(paths: Sequence[Path]) -> str:
    """Each figure inlined (PNG and SVG as they are, a PDF as its PNG preview), captioned with its file
    name; a PDF without a preview (written by another process) is named, not shown."""
    from camx.figures import preview

    out = []
    for p in (Path(p) for p in paths if Path(p).suffix in FIGURE_SUFFIXES):
        shown = preview(p)
        if shown is None:
            out.append(f"<p>{esc(p.name)} (PDF, not shown here: open the file)</p>")
            continue
        uri = data_uri(shown[1], shown[0])
        out.append(
            f'<figure><img src="{uri}" alt="{esc(p.name)}"><figcaption>{esc(p.name)}</figcaption></figure>'
        )
    return "".join(out) or "<p>No figures for this run (they need a noise curve, several heads or maps).</p>"


def gallery(tiles: Sequence[tuple[Tile, Path]]) -> str:
    """One table per method: a row per (run, test image), a column per condition."""
    if not tiles:
        return "<p>No maps (map_metrics=false or figures=false).</p>"
    out = []
    for method in dict.fromkeys(t.method for t, _ in tiles):
        mine = [(t, p) for t, p in tiles if t.method == method]
        conds = list(dict.fromkeys(t.condition for t, _ in mine))
        rows: dict[tuple[str, str], dict[str, tuple[Tile, Path]]] = {}
        for t, p in mine:  # a row per image: its file where the eval knows it, else its number
            rows.setdefault((t.run, t.name or f"#{t.image}"), {})[t.condition] = (t, p)
        head = "<th>run · image</th>" + "".join(f"<th>{esc(c)}</th>" for c in conds)
        body = []
        for (run, image), cells in rows.items():
            tds = [f"<td>{esc(run)} · {esc(image)}</td>"]
            for c in conds:
                if c not in cells:
                    tds.append("<td></td>")
                    continue
                t, p = cells[c]
                alt = f"{method} {run} {c} {image}"
                tds.append(
                    f'<td><img src="{data_uri(p.read_bytes())}" alt="{esc(alt)}"><small>{esc(t.caption)}</small></td>'
                )
            body.append("<tr>" + "".join(tds) + "</tr>")
        out.append(
            f'<h3>{esc(method)}</h3><div class="scroll"><table class="gallery"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )
    return "".join(out)


def meta(command: str, machine: str, config_yaml: str | None) -> str:
    """The command, the machine, when, and the composed config (folded)."""
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = [("command", f"<code>{esc(command)}</code>"), ("machine", esc(machine)), ("written", esc(when))]
    out = '<table class="meta">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
    if config_yaml:
        out += f"<details><summary>composed config</summary><pre>{esc(config_yaml)}</pre></details>"
    return out


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """The whole document: a title, a table of contents, then each (heading, html) section."""
    ids = [f"s{i}" for i in range(len(sections))]
    nav = "".join(f'<a href="#{i}">{esc(h)}</a>' for i, (h, _) in zip(ids, sections))
    body = "".join(f'<section id="{i}"><h2>{esc(h)}</h2>{s}</section>' for i, (h, s) in zip(ids, sections))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{esc(title)}</h1><nav>{nav}</nav>{body}"
        f"<script>{_SORT}</script></body></html>\n"
    )


def write(path: Path, title: str, sections: Sequence[tuple[str, str]]) -> Path:
    """Write the page atomically; returns ``path``."""
    atomic_write_text(Path(path), page(title, sections))
    return Path(path)


def config_yaml(config: Mapping[str, Any] | None) -> str | None:
    if not config:
        return None
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(dict(config)))
