// Tool pages: upload or pick an input, see the result (reconstruction now; translation plugs in the same way).
"use strict";
const Tools = {};

Tools.view = async function (view, name) {
  const list = (await S.get("/api/tools")).tools;
  const tool = list.find((t) => t.name === name);
  if (!tool) { view.append(S.errorBox(new Error(`no tool named ${name}`))); return; }
  view.append(S.el("h1", { text: tool.title }), S.el("p", { class: "muted" }, tool.description));
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
