// The latent editor: a generator, a state, and renders that follow the controls (stale ones dropped).
"use strict";
const Editor = { rid: 0, client: Math.random().toString(36).slice(2), controller: null };

Editor.view = async function (view, p) {
  const o = Browse.overview || (Browse.overview = await S.get("/api/overview"));
  let link = null;
  if (p.get("ds")) link = (await S.get("/api/dataset", { ds: p.get("ds") })).editor;
  const firstLocal = o.models.find((m) => m.local);  // never start a download unasked
  const spec = p.get("model") || (link && link.model) || (firstLocal && firstLocal.spec) || "";
  view.append(S.el("h1", { text: "Latent editor" }));
  const modelSel = S.el("select", { "data-testid": "model" }, o.models.map((m) => S.el("option", { value: m.spec, selected: m.spec === spec }, m.label)));
  if (spec && !o.models.some((m) => m.spec === spec)) modelSel.prepend(S.el("option", { value: spec, selected: true }, spec));
  const typed = S.el("input", { type: "text", placeholder: "or a registry name / path under a served folder", size: 34 });
  const load = S.el("button", { "data-testid": "load-model", onclick: () => Editor.go(typed.value || modelSel.value) }, "load");
  view.append(S.el("div", { class: "toolbar" }, S.el("label", {}, "generator "), modelSel, typed, load));
  Editor.box = S.el("div", {});
  view.append(Editor.box);
  Editor.initial = {
    seed: Number(p.get("seed") || 0), psi: link ? link.truncation_psi : 1, cutoff: link ? link.truncation_cutoff : null,
    noise: (link && link.noise_mode) || "const", cls: link ? link.class_idx : null,
    mix: p.get("mix") !== null ? Number(p.get("mix")) : null, layers: (p.get("layers") || "").split(",").filter((x) => x !== "").map(Number),
  };
  if (spec) await Editor.go(spec);
  else Editor.box.append(S.el("p", { class: "muted" }, "Pick a generator and press load."));
};

Editor.go = async function (spec) {
  Editor.box.replaceChildren(S.el("p", { class: "muted" }, `loading ${spec}…`));
  let info;
  try { info = await S.post("/api/editor/load", { model: spec }); } catch (err) { Editor.box.replaceChildren(S.errorBox(err)); return; }
  Editor.info = info;
  const i0 = Editor.initial;
  const st = Editor.state = { x: i0.seed % info.pad_stride, y: Math.floor(i0.seed / info.pad_stride), truncation_psi: i0.psi ?? 1,
    truncation_cutoff: i0.cutoff ?? null, noise_mode: i0.noise, class_idx: i0.cls ?? (info.c_dim ? 0 : null),
    mix_seed: i0.mix, mix_layers: i0.layers, directions: [], extra: {} };
  for (const c of info.controls) st.extra[c.name] = c.default;
  const out = S.el("div", { class: "out", "data-testid": "editor-output" });
  Editor.out = out;
  Editor.timing = S.el("span", { class: "muted", "data-testid": "render-ms" });
  const left = S.el("div", {}, out, S.el("p", {}, Editor.timing));
  const right = S.el("div", {});
  Editor.box.replaceChildren(S.el("div", { class: "editor" }, left, right));
  const set = (k, v) => { st[k] = v; Editor.render(); };

  // seed and pad
  const seedIn = S.el("input", { type: "number", min: 0, value: i0.seed, "data-testid": "seed" });
  const setSeed = (s) => { s = Math.max(0, Math.floor(s)); seedIn.value = s; st.x = s % info.pad_stride; st.y = Math.floor(s / info.pad_stride); Editor.drawPad(); Editor.render(); };
  seedIn.addEventListener("input", () => setSeed(Number(seedIn.value)));
  const pad = S.el("canvas", { class: "pad", width: 220, height: 160, "data-testid": "pad" });
  Editor.pad = pad; Editor.seedIn = seedIn;
  Editor.padEvents(pad);
  right.append(S.el("div", { class: "panel" }, S.el("h3", { text: "Seed" }),
    S.el("div", { class: "row" }, S.el("button", { onclick: () => setSeed(Number(seedIn.value) - 1) }, "‹"), seedIn,
      S.el("button", { "data-testid": "next-seed", onclick: () => setSeed(Number(seedIn.value) + 1) }, "›")),
    pad, S.el("div", { class: "muted", "data-testid": "pad-label" })));

  // truncation, noise, class
  const trunc = S.el("div", { class: "panel" }, S.el("h3", { text: "Truncation and noise" }));
  trunc.append(Editor.slider("psi", "truncation ψ", -1, 2, 0.01, st.truncation_psi, (v) => set("truncation_psi", v), "psi"));
  const cut = S.el("input", { type: "number", min: 0, max: info.num_ws, placeholder: "all", value: st.truncation_cutoff ?? "", "data-testid": "cutoff" });
  cut.addEventListener("input", () => set("truncation_cutoff", cut.value === "" ? null : Number(cut.value)));
  const noise = S.el("select", { "data-testid": "noise" }, ["const", "random", "none"].map((m) => S.el("option", { value: m, selected: m === st.noise_mode }, m)));
  noise.addEventListener("change", () => set("noise_mode", noise.value));
  trunc.append(S.el("div", { class: "row" }, S.el("label", {}, "cutoff (ws)"), cut), S.el("div", { class: "row" }, S.el("label", {}, "noise"), noise));
  if (info.c_dim) {
    const cls = S.el("input", { type: "number", min: 0, max: info.c_dim - 1, value: st.class_idx });
    cls.addEventListener("input", () => set("class_idx", Number(cls.value)));
    trunc.append(S.el("div", { class: "row" }, S.el("label", {}, "class"), cls));
  }
  right.append(trunc);

  // style mixing
  const mix = S.el("div", { class: "panel" }, S.el("h3", { text: "Style mixing" }));
  const mixSeed = S.el("input", { type: "number", min: 0, placeholder: "seed", value: st.mix_seed ?? "", "data-testid": "mix-seed" });
  mixSeed.addEventListener("input", () => set("mix_seed", mixSeed.value === "" ? null : Number(mixSeed.value)));
  const layers = S.el("div", { class: "layers" });
  for (let l = 0; l < info.num_ws; l++) {
    const b = S.el("input", { type: "checkbox", checked: st.mix_layers.includes(l), "data-testid": "mix-layer" });
    b.addEventListener("change", () => { st.mix_layers = st.mix_layers.filter((x) => x !== l).concat(b.checked ? [l] : []).sort((a, c) => a - c); Editor.render(); });
    layers.append(S.el("label", {}, b, String(l)));
  }
  mix.append(S.el("div", { class: "row" }, S.el("label", {}, "from seed"), mixSeed), S.el("div", { class: "muted" }, "ws layers taken from it:"), layers);
  right.append(mix);

  // directions
  const dirs = S.el("div", { class: "panel", "data-testid": "directions" }, S.el("h3", { text: "Directions" }));
  if (!info.directions.length) dirs.append(S.el("p", { class: "muted" }, "no direction files for this model"));
  info.directions.forEach((d, k) => {
    const edit = { id: d.id, strength: 0, layers: d.layers || [0, info.num_ws - 1] };
    st.directions.push(edit);
    const lo = S.el("input", { type: "number", min: 0, max: info.num_ws - 1, value: edit.layers[0] });
    const hi = S.el("input", { type: "number", min: 0, max: info.num_ws - 1, value: edit.layers[1] });
    const fix = () => { edit.layers = [Math.min(Number(lo.value), Number(hi.value)), Math.max(Number(lo.value), Number(hi.value))]; Editor.render(); };
    lo.addEventListener("input", fix); hi.addEventListener("input", fix);
    dirs.append(Editor.slider("dir" + k, d.label, -10, 10, 0.1, 0, (v) => { edit.strength = v; Editor.render(); }, "direction"),
      S.el("div", { class: "row" }, S.el("label", {}, "layers"), lo, "–", hi));
  });
  right.append(dirs);

  // backend controls (StyleGAN3 translate/rotate, EG3D camera, ...)
  if (info.controls.length) {
    const extra = S.el("div", { class: "panel" }, S.el("h3", { text: `${info.family} controls` }));
    for (const c of info.controls) {
      if (c.kind === "select") {
        const sel = S.el("select", { "data-testid": "control-select", "data-name": c.name }, c.options.map((o) => S.el("option", { value: o, selected: o === c.default }, o)));
        sel.addEventListener("change", () => { st.extra[c.name] = sel.value; Editor.render(); });
        extra.append(S.el("div", { class: "row" }, S.el("label", {}, c.label), sel));
      } else extra.append(Editor.slider(c.name, c.label, c.min, c.max, c.step, c.default, (v) => { st.extra[c.name] = v; Editor.render(); }, "control"));
    }
    right.append(extra);
  }

  // export
  const cmd = S.el("pre", { class: "cmd", "data-testid": "commands" });
  right.append(S.el("div", { class: "panel" }, S.el("h3", { text: "Export" }),
    S.el("div", { class: "row" },
      S.el("button", { "data-testid": "export-png", onclick: () => { const img = Editor.out.querySelector("img"); if (img) S.download(img.src, `synthbio-${Editor.seedLabel()}.png`); } }, "image (PNG)"),
      S.el("button", { "data-testid": "export-latents", onclick: async () => S.download(await S.post("/api/editor/latents", { model: info.model, state: st }), "latents.npz") }, "latents (.npz)"),
      S.el("button", { "data-testid": "export-command", onclick: async () => {
        const r = await S.post("/api/editor/export", { model: info.model, state: st });
        cmd.textContent = r.commands.map((c) => `# ${c.note}\n${c.command}`).join("\n\n");
      } }, "command line")), cmd));
  Editor.drawPad();
  Editor.render();
};

Editor.slider = function (id, label, min, max, step, value, onChange, testid) {
  const input = S.el("input", { type: "range", min, max, step, value, "data-testid": testid, "data-name": id });
  const out = S.el("output", { text: Number(value).toFixed(2) });
  input.addEventListener("input", () => { out.textContent = Number(input.value).toFixed(2); onChange(Number(input.value)); });
  return S.el("div", { class: "row" }, S.el("label", { title: label }, label.length > 18 ? label.slice(0, 17) + "…" : label), input, out);
};

Editor.seedLabel = function () {
  const st = Editor.state, stride = Editor.info.pad_stride;
  return Number.isInteger(st.x) && Number.isInteger(st.y) ? String(st.x + st.y * stride) : `pad-${st.x.toFixed(2)}-${st.y.toFixed(2)}`;
};

// The pad: one grid cell per seed step (x) and per PAD_STRIDE seeds (y); dragging blends the 4 neighbours.
Editor.padEvents = function (pad) {
  let drag = null;
  pad.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY, sx: Editor.state.x, sy: Editor.state.y }; pad.setPointerCapture(e.pointerId); });
  pad.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const cell = 60;
    Editor.state.x = Math.max(0, drag.sx + (e.clientX - drag.x) / cell);
    Editor.state.y = Math.max(0, drag.sy + (e.clientY - drag.y) / cell);
    Editor.drawPad(); Editor.render();
  });
  const end = () => { drag = null; };
  pad.addEventListener("pointerup", end); pad.addEventListener("pointercancel", end);
};

Editor.drawPad = function () {
  const pad = Editor.pad, g = pad.getContext("2d"), st = Editor.state, cell = 60;
  g.clearRect(0, 0, pad.width, pad.height);
  const cx = pad.width / 2, cy = pad.height / 2;
  g.strokeStyle = "#d0d6dc"; g.fillStyle = "#65707c"; g.font = "10px sans-serif";
  for (let i = Math.floor(st.x) - 2; i <= Math.floor(st.x) + 3; i++) {
    for (let j = Math.floor(st.y) - 2; j <= Math.floor(st.y) + 3; j++) {
      if (i < 0 || j < 0) continue;
      const px = cx + (i - st.x) * cell, py = cy + (j - st.y) * cell;
      g.beginPath(); g.arc(px, py, 2.5, 0, 2 * Math.PI); g.fill();
      if (px > 4) g.fillText(String(i + j * Editor.info.pad_stride), px + 4, py - 4);
    }
  }
  g.strokeStyle = "#2b7bba"; g.beginPath(); g.arc(cx, cy, 6, 0, 2 * Math.PI); g.stroke();
  const label = document.querySelector("[data-testid=pad-label]");
  if (label) label.textContent = `pad (${st.x.toFixed(2)}, ${st.y.toFixed(2)}) · seed ${Editor.seedLabel()}`;
  if (Number.isInteger(st.x) && Number.isInteger(st.y)) Editor.seedIn.value = st.x + st.y * Editor.info.pad_stride;
};

// One render in flight per client: a newer request aborts the older fetch; the server drops what it has not started.
Editor.render = async function () {
  const rid = ++Editor.rid;
  if (Editor.controller) Editor.controller.abort();
  const controller = Editor.controller = new AbortController();
  const t0 = performance.now();
  try {
    const r = await S.post("/api/editor/render", { model: Editor.info.model, state: Editor.state, client: Editor.client, rid }, { signal: controller.signal });
    if (rid !== Editor.rid) return;
    const imgs = Object.entries(r.images).map(([b, src]) => S.el("img", { src, alt: b, title: b, "data-testid": "render", "data-branch": b, "data-rid": rid }));
    Editor.out.replaceChildren(...imgs);
    Editor.out.dataset.rid = rid;
    Editor.timing.textContent = `render ${r.ms} ms · round trip ${(performance.now() - t0).toFixed(0)} ms`;
    S.status("");
  } catch (err) {
    if (err.name === "AbortError" || err.status === 409) return; // superseded by a newer state
    if (rid === Editor.rid) S.status(String(err.message || err));
  }
};
