// Browsing views: the home page (folders found), a dataset's grid, one item's samples, a comparison.
"use strict";
const Browse = {};

Browse.home = async function (view) {
  const o = await S.get("/api/overview");
  Browse.overview = o;
  view.append(S.el("h1", { text: "Served folders" }),
    S.el("p", { class: "muted" }, o.roots.map((r) => `${r.name} = ${r.path}`).join(" · "), " (read-only) ",
      S.el("button", { onclick: async () => { await S.post("/api/rescan", {}); App.route(); } }, "rescan")));
  const cards = S.el("div", { class: "cards", "data-testid": "datasets" });
  for (const d of o.datasets) {
    cards.append(S.el("div", { class: "card", "data-kind": d.kind },
      S.el("h3", {}, S.el("a", { href: `#/ds?ds=${encodeURIComponent(d.ref)}`, "data-testid": "dataset-link" }, d.ref)),
      S.el("div", { class: "muted" }, `${d.title} · ${d.count === null ? "unreadable" : d.count + " items"}`),
      d.error ? S.el("div", { class: "error" }, d.error) : null,
      d.editor ? S.el("div", {}, S.el("a", { href: `#/editor?ds=${encodeURIComponent(d.ref)}` }, "open its generator in the editor")) : null));
  }
  if (!o.datasets.length) cards.append(S.el("p", { class: "muted" }, "No synthbio output found under these folders."));
  view.append(S.el("h2", { text: "Datasets and outputs" }), cards);
  if (o.reports.length) {
    view.append(S.el("h2", { text: "Reports" }), S.el("ul", { "data-testid": "reports" },
      o.reports.map((r) => S.el("li", {}, S.el("a", { href: S.fileUrl(r), target: "_blank", rel: "noopener" }, r)))));
  }
  view.append(S.el("h2", { text: "Tools" }), S.el("ul", {},
    S.el("li", {}, S.el("a", { href: "#/editor" }, "latent editor"), " — seeds, truncation, style mixing, direction sliders"),
    S.el("li", {}, S.el("a", { href: "#/tool/reconstruct" }, "reconstruction from minutiae"), " — upload or pick a template"),
    S.el("li", {}, S.el("a", { href: "#/tool/translate" }, "translation between domains"), " — an image through a trained translator")));
};

Browse.dataset = async function (view, p) {
  const ds = p.get("ds");
  const info = await S.get("/api/dataset", { ds });
  const page = Number(p.get("page") || 0), size = Number(p.get("size") || 48);
  const q = p.get("q") || "", sort = p.get("sort") || "";
  const filters = {};
  for (const f of Object.keys(info.filters)) if (p.get("filter." + f)) filters["filter." + f] = p.get("filter." + f);
  const params = () => Object.assign({ ds, q: search.value, sort: sortSel.value, size }, ...Object.entries(filterSel).map(([f, s]) => ({ ["filter." + f]: s.value })));
  view.append(S.el("h1", {}, `${info.title}: ${info.ref}`, S.el("span", { class: "muted" }, ` · ${info.count} items`)));
  view.append(S.facts(info.facts));
  const search = S.el("input", { type: "search", placeholder: "search (id, seed, class)", value: q, "data-testid": "search" });
  search.addEventListener("change", () => S.go("/ds", params()));
  const sortSel = S.el("select", { "data-testid": "sort" }, S.el("option", { value: "" }, "natural order"),
    info.sort_keys.map((s) => S.el("option", { value: s.name, selected: s.name === sort }, s.label)));
  sortSel.addEventListener("change", () => S.go("/ds", params()));
  const filterSel = {};
  for (const [f, values] of Object.entries(info.filters)) {
    if (!values.length) continue;  // nothing to filter by in this folder
    filterSel[f] = S.el("select", { "data-testid": "filter-" + f }, S.el("option", { value: "" }, `any ${f}`),
      values.map((v) => S.el("option", { value: v, selected: v === p.get("filter." + f) }, v)));
    filterSel[f].addEventListener("change", () => S.go("/ds", params()));
  }
  const bar = S.el("div", { class: "toolbar" }, search, sortSel, Object.values(filterSel));
  if (info.editor) bar.append(S.el("a", { href: `#/editor?ds=${encodeURIComponent(ds)}` }, "editor"));
  const histBox = S.el("div", { class: "hist" });
  if (info.has_histograms) bar.append(S.el("button", { "data-testid": "show-histograms", onclick: () => Browse.histograms(histBox, ds) }, "genuine / impostor histograms"));
  view.append(bar, histBox);
  const res = await S.get("/api/items", Object.assign({ ds, page, size, q, sort }, filters));
  const pages = Math.max(1, Math.ceil(res.total / size));
  const pager = S.el("div", { class: "pager", "data-testid": "pager" },
    S.el("button", { disabled: page <= 0, "data-testid": "prev-page", onclick: () => S.go("/ds", Object.assign(params(), { page: page - 1 })) }, "‹ prev"),
    S.el("span", { "data-testid": "page-label" }, `page ${page + 1} / ${pages} (${res.total} items)`),
    S.el("button", { disabled: page + 1 >= pages, "data-testid": "next-page", onclick: () => S.go("/ds", Object.assign(params(), { page: page + 1 })) }, "next ›"));
  const grid = S.el("div", { class: "grid", "data-testid": "grid" });
  for (const it of res.items) {
    const badges = Object.entries(it.badges || {}).map(([k, v]) => `${k.replace(/_/g, " ")} ${S.fmt(v)}`).join(" · ");
    grid.append(S.el("a", { class: "tile", href: `#/item?ds=${encodeURIComponent(ds)}&key=${encodeURIComponent(it.key)}`, "data-testid": "tile", "data-key": it.key },
      it.thumb ? S.el("img", { src: S.thumbUrl(it.thumb), loading: "lazy", alt: it.title }) : S.el("div", { class: "muted" }, "no image"),
      S.el("div", { class: "cap" }, it.title, S.el("div", { class: "badges" }, badges))));
  }
  view.append(pager, grid);
};

Browse.histograms = async function (box, ds) {
  box.replaceChildren(S.el("p", { class: "muted" }, "scoring…"));
  const h = await S.get("/api/histograms", { ds });
  box.replaceChildren();
  if (!h.available) { box.append(S.el("p", { class: "muted" }, h.note || "no scores")); return; }
  const W = 640, H = 220, pad = 30, edges = h.edges, n = edges.length - 1;
  const svg = S.svg("svg", { width: W, height: H, "data-testid": "histogram" });
  const colors = { genuine: "#2b7bba", impostor: "#d9534f" };
  const maxFrac = Math.max(1e-9, ...Object.values(h.sets).map((s) => Math.max(...s.counts) / Math.max(1, s.n)));
  const x = (i) => pad + (i / n) * (W - 2 * pad);
  for (const [name, s] of Object.entries(h.sets)) {
    s.counts.forEach((c, i) => {
      const hh = ((c / Math.max(1, s.n)) / maxFrac) * (H - 2 * pad);
      svg.append(S.svg("rect", { x: x(i), y: H - pad - hh, width: Math.max(1, x(i + 1) - x(i) - 1), height: hh, fill: colors[name] || "#888", opacity: 0.55 }));
    });
  }
  if (h.threshold !== null && h.threshold !== undefined) {
    const t = pad + ((h.threshold - edges[0]) / (edges[n] - edges[0])) * (W - 2 * pad);
    svg.append(S.svg("line", { x1: t, x2: t, y1: pad / 2, y2: H - pad, stroke: "#333", "stroke-dasharray": "4 3" }));
  }
  const lo = S.svg("text", { x: pad, y: H - 8, "font-size": 11 }); lo.textContent = S.fmt(edges[0]);
  const hi = S.svg("text", { x: W - pad - 30, y: H - 8, "font-size": 11 }); hi.textContent = S.fmt(edges[n]);
  svg.append(lo, hi);
  box.append(S.el("div", { class: "legend" }, Object.entries(h.sets).map(([k, s]) => S.el("span", {}, `■ ${k} (n=${s.n}, mean ${S.fmt(s.mean)})`))),
    svg, S.el("p", { class: "muted" }, `${h.score_name}. ${h.note || ""}`));
};

Browse.selection = [];

Browse.item = async function (view, p) {
  const ds = p.get("ds"), key = p.get("key");
  const it = await S.get("/api/item", { ds, key });
  Browse.selection = [];
  view.append(S.el("p", {}, S.el("a", { href: `#/ds?ds=${encodeURIComponent(ds)}` }, `← ${ds}`)), S.el("h1", { text: it.title }));
  const facts = Object.assign({}, it.facts);
  view.append(S.facts(facts));
  if (it.facts.closest_other_key) view.append(S.el("p", {}, S.el("a", { href: `#/item?ds=${encodeURIComponent(ds)}&key=${encodeURIComponent(it.facts.closest_other_key)}` }, "open the closest other identity")));
  const hasTruth = it.samples.some((s) => s.truth), hasMask = it.samples.some((s) => s.mask), fp = hasTruth || /finger/.test(it.title);
  const figs = [];
  const toggles = S.el("div", { class: "toolbar legend" });
  const toggle = (name, label, cls, fn) => {
    const box = S.el("input", { type: "checkbox", "data-testid": "toggle-" + name });
    box.addEventListener("change", () => fn(box.checked));
    toggles.append(S.el("label", { class: cls }, box, " " + label));
    return box;
  };
  if (hasTruth) {
    toggle("truth", "ground-truth minutiae", "truth", (on) => figs.forEach((f) => on && f.sample.truth ? Browse.loadOverlay(f, "truth") : Overlay.remove(f, "truth")));
    toggle("sing", "singularities", "sing", (on) => figs.forEach((f) => on && f.sample.truth ? Browse.loadOverlay(f, "sing") : Overlay.remove(f, "sing")));
  }
  if (fp) toggle("mindtct", "MINDTCT minutiae", "found", (on) => figs.forEach((f) => on ? Browse.loadOverlay(f, "mindtct") : Overlay.remove(f, "found")));
  if (hasMask) toggle("mask", "mask", "", (on) => figs.forEach((f) => on && f.sample.mask ? Overlay.mask(f, f.sample.mask) : Overlay.remove(f, "mask")));
  const cmp = S.el("button", { disabled: true, "data-testid": "compare", onclick: () => S.go("/compare", { ds, a: Browse.selection[0], b: Browse.selection[1] }) }, "compare the 2 selected");
  toggles.append(cmp);
  view.append(toggles);
  const box = S.el("div", { class: "samples", "data-testid": "samples" });
  for (const s of it.samples) {
    const pick = S.el("input", { type: "checkbox", title: "select for comparison", "data-testid": "select" });
    pick.addEventListener("change", () => {
      Browse.selection = Browse.selection.filter((x) => x !== s.id);
      if (pick.checked) Browse.selection.push(s.id);
      cmp.disabled = Browse.selection.length !== 2;
    });
    const branchRefs = Object.keys(s.branches || {}).length ? s.branches : { "": s.image };
    const row = S.el("div", { class: "branches" });
    let first = null;
    for (const [b, ref] of Object.entries(branchRefs)) {
      if (!ref) continue;
      const f = Overlay.figure(S.fileUrl(ref), b);
      f.sample = s; f.imageRef = ref;
      if (!first) { first = f; figs.push(f); }
      row.append(f);
    }
    const meta = S.el("table", { class: "meta" });
    for (const [k, v] of Object.entries(s.meta || {})) meta.append(S.el("tr", {}, S.el("td", { text: k.replace(/_/g, " ") }), S.el("td", { text: S.fmt(v) })));
    for (const [k, v] of Object.entries(s.latents || {})) meta.append(S.el("tr", {}, S.el("td", { text: k }), S.el("td", { text: `[${v.shape}] |x| ${v.norm.toFixed(2)} (${v.head.join(", ")}, …)` })));
    const links = [];
    for (const [ext, ref] of Object.entries(s.downloads || {})) if (ref) links.push(S.el("a", { href: S.fileUrl(ref), download: "" }, ext));
    const edit = Browse.editorHref(ds, s.editor);
    box.append(S.el("div", { class: "sample", "data-testid": "sample", "data-id": s.id },
      S.el("h3", {}, pick, s.label, edit ? S.el("a", { href: edit, "data-testid": "open-editor" }, "edit") : null, links), row, meta));
  }
  view.append(box);
};

Browse.editorHref = function (ds, state) {
  if (!state) return null;
  const q = new URLSearchParams({ ds });
  if (state.seed !== undefined && state.seed !== null) q.set("seed", state.seed);
  if (state.mix) { q.set("mix", state.mix.seed); q.set("layers", state.mix.layers.join(",")); }
  return "#/editor?" + q.toString();
};

Browse.loadOverlay = async function (fig, kind) {
  try {
    if (kind === "mindtct") {
      S.status("MINDTCT…");
      const d = await S.get("/api/minutiae", { f: fig.imageRef, source: "mindtct" });
      Overlay.minutiae(fig, d, "found", "#ff3d7f");
    } else {
      const d = await S.get("/api/minutiae", { f: fig.sample.truth, source: "truth" });
      if (kind === "truth") Overlay.minutiae(fig, d, "truth", "#00b050"); else Overlay.singularities(fig, d);
    }
    S.status("");
  } catch (err) { S.status(String(err.message || err)); }
};

Browse.compare = async function (view, p) {
  const ds = p.get("ds"), a = p.get("a"), b = p.get("b");
  view.append(S.el("p", {}, S.el("a", { href: `#/ds?ds=${encodeURIComponent(ds)}` }, `← ${ds}`)), S.el("h1", { text: `compare ${a} and ${b}` }));
  const r = await S.get("/api/compare", { ds, a, b });
  const facts = { score: r.score, measure: r.score_name, threshold: r.threshold, "same identity": r.same_identity ?? r.same_finger,
    "paired minutiae": r.pairs ? r.pairs.length : null, alignment: r.alignment ? `${r.alignment.rotation_deg.toFixed(1)}°, (${r.alignment.dx.toFixed(0)}, ${r.alignment.dy.toFixed(0)}) px` : null,
    note: r.score_note };
  view.append(S.el("div", { "data-testid": "compare-score", "data-score": r.score }, S.facts(facts)));
  const sa = await S.get("/api/item", { ds, key: a.split("/")[0] }), sb = a.split("/")[0] === b.split("/")[0] ? sa : await S.get("/api/item", { ds, key: b.split("/")[0] });
  const find = (it, id) => it.samples.find((s) => s.id === id);
  const A = find(sa, a), B = find(sb, b);
  const fa = Overlay.figure(S.fileUrl(A.image), a), fb = Overlay.figure(S.fileUrl(B.image), b);
  const box = S.el("div", { class: "compare" }, fa, fb);
  view.append(box);
  if (r.pairs) {
    let done = 0;
    const draw = () => { if (++done === 2) { Overlay.minutiae(fa, r.a, "truth", "#00b050"); Overlay.minutiae(fb, r.b, "truth", "#00b050"); Overlay.pairs(box, fa, fb, r); } };
    [fa, fb].forEach((f) => (f.img.complete ? draw() : f.img.addEventListener("load", draw)));
  }
};
