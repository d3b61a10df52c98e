"""Attention maps as pictures: PNG grids (layers x heads), one large map, an HTML page.

Every map is drawn on the same scale, 0 (dark) to 1 (bright, viridis), so panels
compare; rows are queries, columns are keys, labelled with the tokens. The HTML page
holds its data as inline JSON and a short inline script: it needs no network and no
other file.
"""

import html
import json
from pathlib import Path

from aiayn.inspect.attention_maps import AttentionMaps, ModelAttention

CMAP = "viridis"  # every value, 0 included, is a saturated colour: panels stand out from the page


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _font(n: int, big: bool = False) -> float:
    """Tick label size that keeps n labels legible and apart."""
    return max(4.0, min(11.0 if big else 8.0, (260.0 if big else 120.0) / max(n, 1)))


def grid_png(maps: AttentionMaps, path: Path) -> Path:
    """All layers (rows) by all heads (columns) of one kind of attention in one PNG."""
    plt = _pyplot()
    n_q, n_kv = len(maps.query_tokens), len(maps.key_tokens)
    cell = 2.6 if max(n_q, n_kv) <= 24 else 3.6
    tall = min(max(n_q / n_kv, 0.5), 2.0)  # panel height / width, kept between 1:2 and 2:1
    fig, axes = plt.subplots(maps.n_layers, maps.h, figsize=(cell * maps.h + 1.2, cell * tall * maps.n_layers + 1.4),
                             squeeze=False, dpi=110)  # fmt: skip
    for layer in range(maps.n_layers):
        for head in range(maps.h):
            ax = axes[layer][head]
            ax.imshow(maps.weights[layer, head].numpy(), cmap=CMAP, vmin=0.0, vmax=1.0, aspect="auto",
                      interpolation="nearest")  # fmt: skip
            ax.set_title(f"layer {layer}, head {head}", fontsize=8)
            # token labels on the outer panels only (ticks are what makes a grid slow to draw)
            if layer == maps.n_layers - 1:
                ax.set_xticks(range(n_kv), maps.key_tokens, rotation=90, fontsize=_font(n_kv))
            else:
                ax.set_xticks([])
            if head == 0:
                ax.set_yticks(range(n_q), maps.query_tokens, fontsize=_font(n_q))
            else:
                ax.set_yticks([])
            ax.tick_params(length=0)
    fig.suptitle(f"{maps.title}: each row's weights over the keys (0 dark, 1 bright; rows sum to 1)", fontsize=10)
    fig.supylabel(maps.axes[0], fontsize=9)
    fig.supxlabel(maps.axes[1], fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def single_png(maps: AttentionMaps, layer: int, head: int, path: Path) -> Path:
    """One head's map, large, with every token labelled and a colour scale."""
    plt = _pyplot()
    n_q, n_kv = len(maps.query_tokens), len(maps.key_tokens)
    side = min(14.0, max(5.0, 0.32 * max(n_q, n_kv) + 2.5))
    fig, ax = plt.subplots(figsize=(side + 1.5, max(4.0, side * min(n_q / n_kv, 2.0))), dpi=110)
    image = ax.imshow(maps.weights[layer, head].numpy(), cmap=CMAP, vmin=0.0, vmax=1.0, aspect="auto",
                      interpolation="nearest")  # fmt: skip
    ax.set_xticks(range(n_kv), maps.key_tokens, rotation=90, fontsize=_font(n_kv, big=True))
    ax.set_yticks(range(n_q), maps.query_tokens, fontsize=_font(n_q, big=True))
    ax.set_xlabel(maps.axes[1])
    ax.set_ylabel(maps.axes[0])
    ax.set_title(f"{maps.title}, layer {layer}, head {head}", fontsize=11)
    fig.colorbar(image, ax=ax, fraction=0.04, label="attention weight")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>aiayn attention: {title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table.map {{ border-collapse: collapse; font-size: 12px; }}
table.map td {{ width: 22px; height: 22px; padding: 0; }}
table.map th {{ font-weight: normal; padding: 0 4px; white-space: nowrap; }}
table.map thead th {{ writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; }}
#value {{ margin-left: 1em; font-family: monospace; }}
</style></head><body>
<h1>Attention maps</h1>
<p>{summary}</p>
<p><label>attention <select id="kind"></select></label>
<label>layer <select id="layer"></select></label>
<label>head <select id="head"></select></label><span id="value"></span></p>
<p>Rows are queries, columns keys; darker blue is more weight (each row sums to 1).</p>
<table class="map" id="map"></table>
<script id="data" type="application/json">{data}</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
const kind = document.getElementById("kind"), layer = document.getElementById("layer"),
      head = document.getElementById("head"), table = document.getElementById("map"),
      value = document.getElementById("value");
function options(select, labels) {{
  select.innerHTML = "";
  labels.forEach((text, i) => {{ const o = document.createElement("option"); o.value = i; o.textContent = text; select.appendChild(o); }});
}}
function cell(tag, text) {{ const c = document.createElement(tag); c.textContent = text; return c; }}
function draw() {{
  const m = data.maps[kind.value], w = m.weights[layer.value][head.value];
  table.innerHTML = "";
  const top = document.createElement("thead"), row0 = document.createElement("tr");
  row0.appendChild(cell("th", ""));
  m.key_tokens.forEach(t => row0.appendChild(cell("th", t)));
  top.appendChild(row0); table.appendChild(top);
  const body = document.createElement("tbody");
  w.forEach((weights, i) => {{
    const tr = document.createElement("tr");
    tr.appendChild(cell("th", m.query_tokens[i]));
    weights.forEach((x, j) => {{
      const td = document.createElement("td");
      td.style.background = "rgba(8, 48, 160, " + x + ")";
      td.title = m.query_tokens[i] + " -> " + m.key_tokens[j] + ": " + x.toFixed(4);
      td.onmouseover = () => {{ value.textContent = td.title; }};
      tr.appendChild(td);
    }});
    body.appendChild(tr);
  }});
  table.appendChild(body);
}}
function pick() {{
  const m = data.maps[kind.value];
  options(layer, m.weights.map((_, i) => String(i)));
  options(head, m.weights[0].map((_, i) => String(i)));
  draw();
}}
options(kind, data.maps.map(m => m.title));
kind.onchange = pick; layer.onchange = draw; head.onchange = draw;
pick();
</script></body></html>
"""


def html_page(attention: ModelAttention, path: Path) -> Path:
    """One self-contained page: pick the kind of attention, the layer and the head."""
    maps = [
        {"kind": m.kind, "title": m.title, "query_tokens": list(m.query_tokens), "key_tokens": list(m.key_tokens),
         "weights": [[[[round(float(x), 4) for x in row] for row in hd] for hd in ly] for ly in m.weights.tolist()]}
        for m in attention.maps
    ]  # fmt: skip
    # "</" inside a script element would end it early; "<\/" is the same JSON string
    data = json.dumps({"maps": maps}, ensure_ascii=False).replace("</", "<\\/")
    summary = f"text: <b>{html.escape(attention.text)}</b>"
    if attention.target is not None:
        summary += f"<br>target ({html.escape(attention.target_source)}): <b>{html.escape(attention.target)}</b>"
    page = _PAGE.format(title=html.escape(attention.text[:60]), summary=summary, data=data)
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)
