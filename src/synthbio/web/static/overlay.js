// Images with drawn overlays: minutiae (ground truth, MINDTCT), singularities, masks; pairs across two images.
"use strict";
const Overlay = {};

// A figure: the image, an SVG in the template's pixel frame on top, an optional mask image.
Overlay.figure = function (src, label) {
  const img = S.el("img", { class: "base", src, alt: label || "" });
  const fig = S.el("div", { class: "figure" }, img, label ? S.el("span", { class: "label", text: label }) : null);
  fig.img = img;
  fig.layers = {};
  return fig;
};

Overlay.ensureSvg = function (fig, width, height) {
  if (!fig.svgEl) {
    fig.svgEl = S.svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" });
    fig.append(fig.svgEl);
  }
  return fig.svgEl;
};

// Minutiae as circles with a tail along their ISO direction (counter-clockwise from +x, y down).
Overlay.minutiae = function (fig, data, cls, color) {
  Overlay.remove(fig, cls);
  const svg = Overlay.ensureSvg(fig, data.width, data.height);
  const g = S.svg("g", { class: cls, "data-testid": `overlay-${cls}`, "data-count": data.minutiae.length });
  const r = Math.max(3, data.width / 90);
  for (const m of data.minutiae) {
    const x2 = m.x + 2.6 * r * Math.cos(m.angle), y2 = m.y - 2.6 * r * Math.sin(m.angle);
    const shape = m.kind === "bifurcation"
      ? S.svg("rect", { x: m.x - r, y: m.y - r, width: 2 * r, height: 2 * r, fill: "none", stroke: color, "stroke-width": r / 3 })
      : S.svg("circle", { cx: m.x, cy: m.y, r, fill: "none", stroke: color, "stroke-width": r / 3 });
    g.append(shape, S.svg("line", { x1: m.x, y1: m.y, x2, y2, stroke: color, "stroke-width": r / 3 }));
  }
  svg.append(g);
  fig.layers[cls] = g;
};

Overlay.singularities = function (fig, data) {
  Overlay.remove(fig, "sing");
  const svg = Overlay.ensureSvg(fig, data.width, data.height);
  const g = S.svg("g", { class: "sing", "data-testid": "overlay-sing", "data-count": data.singularities.length });
  const r = Math.max(5, data.width / 45);
  for (const s of data.singularities) {
    const pts = s.kind === "delta"
      ? `${s.x},${s.y - r} ${s.x + r},${s.y + r} ${s.x - r},${s.y + r}`
      : `${s.x - r},${s.y} ${s.x},${s.y - r} ${s.x + r},${s.y} ${s.x},${s.y + r}`;
    g.append(S.svg("polygon", { points: pts, fill: "none", stroke: "#1565ff", "stroke-width": r / 4 }));
  }
  svg.append(g);
  fig.layers.sing = g;
};

Overlay.mask = function (fig, ref) {
  Overlay.remove(fig, "mask");
  const m = S.el("img", { class: "mask", src: `/api/mask?f=${encodeURIComponent(ref)}`, alt: "mask", "data-testid": "overlay-mask" });
  fig.append(m);
  fig.layers.mask = m;
};

Overlay.remove = function (fig, cls) {
  if (fig.layers[cls]) { fig.layers[cls].remove(); delete fig.layers[cls]; }
};

// Lines between paired minutiae of two figures placed side by side in `box`.
Overlay.pairs = function (box, figA, figB, result) {
  const old = box.querySelector("svg.links");
  if (old) old.remove();
  const ra = figA.img.getBoundingClientRect(), rb = figB.img.getBoundingClientRect(), rbox = box.getBoundingClientRect();
  const svg = S.svg("svg", { class: "links", width: rbox.width, height: rbox.height, "data-testid": "pair-lines", "data-count": result.pairs.length });
  const sa = ra.width / result.a.width, sb = rb.width / result.b.width;
  for (const [i, j] of result.pairs) {
    const a = result.a.minutiae[i], b = result.b.minutiae[j];
    svg.append(S.svg("line", {
      x1: ra.left - rbox.left + a.x * sa, y1: ra.top - rbox.top + a.y * (ra.height / result.a.height),
      x2: rb.left - rbox.left + b.x * sb, y2: rb.top - rbox.top + b.y * (rb.height / result.b.height),
      stroke: "#ffb300", "stroke-width": 1.5, opacity: 0.85,
    }));
  }
  box.append(svg);
};
