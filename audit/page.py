"""The review: the ranked lists' rows (candidates.csv, suspicious.csv) and audit.html, one self-contained page
(inline CSS and script, nothing fetched) for both lists.

A row is a triple with the official prediction keys first (title, h_idx, t_idx, r, score), so a list can be scored
and merged like predictions, then its quality, rank, relation, the head's and tail's names and types, and the
sentences that show the pair: those mentioning both entities, or else the closest pair of a sentence with the head
and one with the tail. The CSV marks the head's mentions [[ ]] and the tail's {{ }}.

On the page each row shows the triple's score, relation, head and tail entities (name and type), the document title
and those sentences, the head's mentions marked <mark class="h"> and the tail's <mark class="t">. The tables sort by
score (click the header) and filter by relation (the select); both can also be set in the address,
`audit.html#relation=P17&sort=asc`, so a view can be linked. Accept / reject buttons record a decision per row, and
"Download decisions" saves them as CSV with the official prediction keys (title, h_idx, t_idx, r).
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from docrobust.base import atomic_write_text
from docrobust.corpus import Doc, RelationInventory

__all__ = ["COLUMNS", "context", "context_text", "csv_text", "list_rows", "write_page"]

# The official prediction keys first, so a list can be scored and merged like predictions.
COLUMNS = ("title", "h_idx", "t_idx", "r", "score", "quality", "rank", "relation", "h_name", "h_type", "t_name",
           "t_type", "sent_ids", "context")
HEAD, TAIL = ("[[", "]]"), ("{{", "}}")   # how the CSV's context marks the head and tail mentions


def context(doc: Doc, h: int, t: int) -> tuple[list[int], list[list[tuple[str, str | None]]]]:
    """(sentence ids, per sentence its text as (text, role) pieces, role "h", "t" or None) for the review: the
    sentences mentioning both entities, or else the closest pair of a sentence with h and one with t."""
    sents_h = {m["sent_id"] for m in doc["vertexSet"][h]}
    sents_t = {m["sent_id"] for m in doc["vertexSet"][t]}
    both = sorted(sents_h & sents_t)
    if not both:
        a, b = min(((a, b) for a in sents_h for b in sents_t), key=lambda ab: (abs(ab[0] - ab[1]), ab))
        both = sorted({a, b})
    roles: dict[tuple[int, int], str] = {}
    for entity, role in ((t, "t"), (h, "h")):       # a token in both entities' mentions reads as the head
        for m in doc["vertexSet"][entity]:
            for k in range(m["pos"][0], m["pos"][1]):
                roles[m["sent_id"], k] = role
    pieces = []
    for s in both:
        sentence: list[tuple[str, str | None]] = []
        for k, word in enumerate(doc["sents"][s]):
            role = roles.get((s, k))
            if sentence and sentence[-1][1] == role:
                sentence[-1] = (f"{sentence[-1][0]} {word}", role)
            else:
                sentence.append((word, role))
        pieces.append(sentence)
    return both, pieces


def context_text(pieces: list[list[tuple[str, str | None]]]) -> str:
    """The review sentences as one line, head mentions in [[ ]] and tail mentions in {{ }}."""
    marks = {"h": HEAD, "t": TAIL, None: ("", "")}
    return " ".join(" ".join(f"{marks[role][0]}{text}{marks[role][1]}" for text, role in s) for s in pieces)


def list_rows(cells: np.ndarray, docs: list[Doc], hts: list[np.ndarray], offsets: np.ndarray, margins: np.ndarray,
              quality: np.ndarray, relations: RelationInventory) -> list[dict[str, Any]]:
    """One review row (COLUMNS, plus "pieces" for the page) per flat cell index, in the order given."""
    n_rel = len(relations)
    rows = []
    for rank, cell in enumerate(cells.tolist(), start=1):
        pair, column = divmod(cell, n_rel)
        d = int(np.searchsorted(offsets, pair, side="right") - 1)
        h, t = (int(v) for v in hts[d][pair - offsets[d]])
        doc, r = docs[d], relations.ids[column]
        sent_ids, pieces = context(doc, h, t)
        rows.append({"title": doc["title"], "h_idx": h, "t_idx": t, "r": r,
                     "score": round(float(margins.flat[cell]), 4), "quality": float(f"{quality.flat[cell]:.6g}"),
                     "rank": rank, "relation": relations.name(r),
                     "h_name": doc["vertexSet"][h][0]["name"], "h_type": doc["vertexSet"][h][0].get("type", ""),
                     "t_name": doc["vertexSet"][t][0]["name"], "t_type": doc["vertexSet"][t][0].get("type", ""),
                     "sent_ids": ";".join(map(str, sent_ids)), "context": context_text(pieces), "pieces": pieces})
    return rows


def csv_text(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV text, COLUMNS only."""
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


TEMPLATE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>docrobust audit: {{ name }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.15em; margin: 1.4em 0 .4em; }
.summary { color: #555; margin-bottom: 1em; }
.controls { position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 1px solid #ddd; z-index: 1; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #eee; padding: .35em .5em; vertical-align: top; text-align: left; }
th.sort { cursor: pointer; white-space: nowrap; } th.sort::after { content: " \21C5"; color: #999; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ctx { max-width: 60em; } .ctx p { margin: 0 0 .3em; }
mark.h { background: #ffd54f; padding: 0 .15em; border-radius: 2px; }
mark.t { background: #81d4fa; padding: 0 .15em; border-radius: 2px; }
.type { color: #777; font-size: .85em; } .rel { white-space: nowrap; } .title { color: #555; font-size: .9em; }
tr.accept { background: #e8f5e9; } tr.reject { background: #fbe9e7; }
button.d { font-size: .85em; margin: 0 .1em .2em 0; }
</style></head>
<body>
<h1>Label audit of {{ name }}</h1>
<div class="summary">{{ counts.documents }} documents, {{ "{:,}".format(counts.pairs) }} entity pairs,
{{ "{:,}".format(counts.labels) }} labels; {{ settings.folds }}-fold cross-fitting with {{ training }}.
Score: the relation's out-of-fold logit above the threshold (higher: the model believes the triple more).
Showing the first {{ candidates|length }} missing-label candidates and {{ suspicious|length }} suspicious labels;
the CSV files hold more. <mark class="h">head</mark> <mark class="t">tail</mark></div>
<div class="controls">Relation: <select id="relation"><option value="">all</option>
{% for r, name, n in relations %}<option value="{{ r }}">{{ r }} {{ name }} ({{ n }})</option>{% endfor %}
</select> &nbsp; <button id="download">Download decisions</button> <span id="shown"></span></div>
{% for list_name, heading, rows in lists %}
<h2 id="{{ list_name }}-heading">{{ heading }}</h2>
<table id="{{ list_name }}"><thead><tr><th>#</th><th class="sort" data-list="{{ list_name }}">score</th>
<th>relation</th><th>head &rarr; tail</th><th>sentences</th><th>decision</th></tr></thead><tbody>
{% for row in rows %}<tr data-r="{{ row.r }}" data-score="{{ row.score }}" data-key="{{ row.title }}	{{ row.h_idx }}	{{ row.t_idx }}	{{ row.r }}">
<td class="num">{{ row.rank }}</td><td class="num">{{ "%.3f"|format(row.score) }}</td>
<td class="rel">{{ row.r }}<br><span class="type">{{ row.relation }}</span></td>
<td><mark class="h">{{ row.h_name }}</mark> <span class="type">{{ row.h_type }}</span> &rarr;
<mark class="t">{{ row.t_name }}</mark> <span class="type">{{ row.t_type }}</span><br>
<span class="title">{{ row.title }} ({{ row.h_idx }}, {{ row.t_idx }})</span></td>
<td class="ctx">{% for sentence in row.pieces %}<p>{% for text, role in sentence %}{% if role %}<mark class="{{ role }}">{{ text }}</mark>{% else %}{{ text }}{% endif %} {% endfor %}</p>{% endfor %}</td>
<td><button class="d" data-d="accept">accept</button><button class="d" data-d="reject">reject</button></td></tr>
{% endfor %}</tbody></table>
{% endfor %}
<script>
"use strict";
const select = document.getElementById("relation");
const order = {};
function filter() {
  const r = select.value;
  let shown = 0;
  for (const tr of document.querySelectorAll("tbody tr")) {
    tr.hidden = r !== "" && tr.dataset.r !== r;
    if (!tr.hidden) shown++;
  }
  document.getElementById("shown").textContent = shown + " rows shown";
}
function sortList(list, direction) {
  const body = document.querySelector("#" + list + " tbody");
  const rows = Array.from(body.rows);
  const sign = direction === "asc" ? 1 : -1;
  rows.sort((a, b) => sign * (parseFloat(a.dataset.score) - parseFloat(b.dataset.score)));
  for (const tr of rows) body.appendChild(tr);
  order[list] = direction;
}
for (const th of document.querySelectorAll("th.sort")) {
  th.addEventListener("click", () => sortList(th.dataset.list, order[th.dataset.list] === "desc" ? "asc" : "desc"));
}
select.addEventListener("change", filter);
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.d");
  if (!button) return;
  const tr = button.closest("tr");
  const decision = tr.dataset.decision === button.dataset.d ? "" : button.dataset.d;
  tr.dataset.decision = decision;
  tr.className = decision;
});
document.getElementById("download").addEventListener("click", () => {
  const lines = ["list,title,h_idx,t_idx,r,score,decision"];
  for (const tr of document.querySelectorAll("tr[data-decision]")) {
    if (!tr.dataset.decision) continue;
    const [title, h, t, r] = tr.dataset.key.split("\t");
    const list = tr.closest("table").id;
    lines.push([list, '"' + title.replace(/"/g, '""') + '"', h, t, r, tr.dataset.score, tr.dataset.decision].join(","));
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], {type: "text/csv"}));
  link.download = "decisions.csv";
  link.click();
});
const params = new URLSearchParams(location.hash.slice(1));
if (params.get("relation")) select.value = params.get("relation");
if (params.get("sort")) for (const table of document.querySelectorAll("table")) sortList(table.id, params.get("sort"));
filter();
</script>
</body></html>
"""


def write_page(path: Path, summary: dict[str, Any], candidates: list[dict], suspicious: list[dict]) -> None:
    """Write the review page of an audit (summary as in audit.json, rows as list_rows makes them)."""
    counts = Counter(row["r"] for row in candidates + suspicious)
    names = {row["r"]: row["relation"] for row in candidates + suspicious}
    training = summary["settings"].get("training") or {}
    described = (f"{training.get('model')} + {training.get('loss') or 'its default loss'} on "
                 f"{'frozen ' if training.get('freeze_encoder') else ''}{training.get('encoder')}") if training else \
        "a custom scorer"
    html = jinja2.Environment(autoescape=True).from_string(TEMPLATE).render(
        name=Path(summary.get("input") or "documents").name, counts=summary["counts"], settings=summary["settings"],
        training=described, candidates=candidates, suspicious=suspicious,
        relations=[(r, names[r], n) for r, n in sorted(counts.items())],
        lists=[("candidates", "Missing-label candidates (unlabeled triples, most confident first)", candidates),
               ("suspicious", "Suspicious labels (labeled triples the model rejects most strongly)", suspicious)])
    atomic_write_text(path, html)
