// Tool pages: upload or pick an input, see the result (reconstruction from a template; translation of an image).
"use strict";
const Tools = {};

Tools.view = async function (view, name) {
  const list = (await S.get("/api/tools")).tools;
  const tool = list.find((t) => t.name === name);
  if (!tool) { view.append(S.errorBox(new Error(`no tool named ${name}`))); return; }
  view.append(S.el("h1", { text: tool.title }), S.el("p", { class: "muted" }, tool.description));
  if (tool.accepts === "image") { await Tools.translate(view, tool); return; }
  const file = S.el("input", { type: "file", "data-testid": "upload" });
  const w = S.el("input", { type: "number", placeholder: "width", min: 64 }), h = S.el("input", { type: "number", placeholder: "height", min: 64 });
  const pick = S.el("input", { type: "text", size: 44, placeholder: "or a file under a served folder, e.g. demo_out/fingerprints/00000/00.iso", "data-testid": "pick" });
  const result = S.el("div", { "data-testid": "tool-result" });
  const run = async (body, params) => {
    result.replaceChildren(S.el("p", { class: "muted" }, "working…"));
    const u = new URL(tool.route, location.origin);
    for (const [k, v] of Object.entries(params)) if (v) u.searchParams.set(k, v);
    const r = await fetch(u, body ? { method: "POST", body, headers: { "Content-Type": "application/octet-stream", "X-Filename": file.files[0].name } } : { method: "POST" });
    const d = await r.json();
    if (!r.ok) { result.replaceChildren(S.errorBox(new Error(d.error))); return; }
    const fig = Overlay.figure(d.image, `${d.method}, ${d.width}×${d.height}`);
    result.replaceChildren(fig, S.el("p", { class: "muted" }, `${d.template.minutiae.length} template minutiae drawn in green`));
    const draw = () => Overlay.minutiae(fig, d.template, "truth", "#00b050");
    fig.img.complete ? draw() : fig.img.addEventListener("load", draw);
  };
  const go = S.el("button", { "data-testid": "run-tool", onclick: () => {
    if (pick.value) run(null, { f: pick.value, xyt_width: w.value, xyt_height: h.value });
    else if (file.files[0]) run(file.files[0], { xyt_width: w.value, xyt_height: h.value });
  } }, "run");
  view.append(S.el("div", { class: "panel" }, S.el("div", { class: "row" }, file), S.el("div", { class: "row" }, pick),
    S.el("div", { class: "row" }, S.el("label", {}, ".xyt size"), w, "×", h), go), result);
};

// Translation: a translator found under the served folders, a direction, N styles; the source and its outputs.
Tools.translate = async function (view, tool) {
  const found = (await S.get("/api/tools/translate/models")).translators;
  if (!found.length) {
    view.append(S.el("p", { class: "muted", "data-testid": "no-translators" },
      "No translator under the served folders: train one with synthbio translate train and serve its folder."));
    return;
  }
  const model = S.el("select", { "data-testid": "translator" },
    found.map((t) => S.el("option", { value: t.ref }, `${t.ref} (${t.domains.a} ↔ ${t.domains.b})`)));
  const direction = S.el("select", { "data-testid": "direction" });
  const fillDirections = () => {
    const t = found.find((x) => x.ref === model.value);
    direction.replaceChildren(S.el("option", { value: "a2b" }, `${t.domains.a} → ${t.domains.b}`),
      S.el("option", { value: "b2a" }, `${t.domains.b} → ${t.domains.a}`));
  };
  model.addEventListener("change", fillDirections);
  fillDirections();
  const styles = S.el("input", { type: "number", min: 1, max: 8, value: 3, "data-testid": "styles" });
  const seed = S.el("input", { type: "number", min: 0, value: 0, "data-testid": "style-seed" });
  const file = S.el("input", { type: "file", accept: "image/png,image/jpeg", "data-testid": "upload" });
  const pick = S.el("input", { type: "text", size: 44, placeholder: "or an image under a served folder, e.g. demo_out/tb/test/A/00002/00.png", "data-testid": "pick" });
  const result = S.el("div", { "data-testid": "tool-result" });
  const run = async () => {
    const u = new URL(tool.route, location.origin);
    const params = { model: model.value, direction: direction.value, styles: styles.value, style_seed: seed.value };
    if (pick.value) params.f = pick.value;
    else if (!file.files[0]) { result.replaceChildren(S.errorBox(new Error("choose an image or name one"))); return; }
    for (const [k, v] of Object.entries(params)) if (v !== "") u.searchParams.set(k, v);
    result.replaceChildren(S.el("p", { class: "muted" }, "working…"));
    const f = file.files[0];
    const r = await fetch(u, pick.value ? { method: "POST" } : { method: "POST", body: f, headers: { "Content-Type": f.type || "application/octet-stream" } });
    const d = await r.json();
    if (!r.ok) { result.replaceChildren(S.errorBox(new Error(d.error))); return; }
    const row = S.el("div", { class: "row", "data-testid": "translations", "data-count": d.outputs.length },
      Overlay.figure(d.source, `${d.domains.source} (input)`),
      d.outputs.map((src, k) => Overlay.figure(src, `${d.domains.target}, style seed ${d.style_seeds[k]}`)));
    result.replaceChildren(row, S.el("p", { class: "muted" }, `${d.width}×${d.height} px, ${d.ms} ms · ` +
      `synthbio translate apply INPUT -m ${d.model} -o OUT --direction ${d.direction} --styles ${d.outputs.length} --style-seed ${d.style_seeds[0]}`));
  };
  const go = S.el("button", { "data-testid": "run-tool", onclick: run }, "translate");
  view.append(S.el("div", { class: "panel" },
    S.el("div", { class: "row" }, S.el("label", {}, "translator"), model, direction),
    S.el("div", { class: "row" }, S.el("label", {}, "styles"), styles, S.el("label", {}, "style seed"), seed),
    S.el("div", { class: "row" }, file), S.el("div", { class: "row" }, pick), go), result);
};
