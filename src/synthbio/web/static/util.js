// Small helpers shared by the views: DOM building, JSON fetches, URLs of served files.
"use strict";
const S = {};

S.el = function (tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
};

S.svg = function (tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
};

S.get = async function (url, params) {
  const u = new URL(url, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  const r = await fetch(u);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
};

S.post = async function (url, data, opts) {
  const r = await fetch(url, Object.assign({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) }, opts || {}));
  const type = r.headers.get("content-type") || "";
  const body = type.includes("json") ? await r.json() : await r.blob();
  if (!r.ok) { const err = new Error((body && body.error) || r.statusText); err.status = r.status; throw err; }
  return body;
};

S.fileUrl = (ref) => "/files/" + ref.split("/").map(encodeURIComponent).join("/");
S.thumbUrl = (ref, size) => `/api/thumb?f=${encodeURIComponent(ref)}&size=${size || 160}`;
S.fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : v === null ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v));

S.status = function (text) { document.getElementById("status").textContent = text || ""; };

S.errorBox = (err) => S.el("p", { class: "error", "data-testid": "error" }, String(err.message || err));

S.facts = function (obj) {
  const dl = S.el("dl", { class: "facts" });
  for (const [k, v] of Object.entries(obj || {})) {
    if (v === null || v === undefined || k.endsWith("_key")) continue;
    dl.append(S.el("dt", { text: k.replace(/_/g, " ") }), S.el("dd", { text: S.fmt(v) }));
  }
  return dl;
};

S.download = function (blobOrUrl, name) {
  const url = typeof blobOrUrl === "string" ? blobOrUrl : URL.createObjectURL(blobOrUrl);
  const a = S.el("a", { href: url, download: name });
  document.body.append(a); a.click(); a.remove();
};

// Route parameters live in the hash: #/path?x=1&y=2
S.hashParams = function () {
  const h = location.hash.slice(1);
  const i = h.indexOf("?");
  return { path: i < 0 ? h : h.slice(0, i), params: new URLSearchParams(i < 0 ? "" : h.slice(i + 1)) };
};
S.go = function (path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  location.hash = path + (s ? "?" + s : "");
};
