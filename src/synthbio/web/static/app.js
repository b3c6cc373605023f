// The router: #/ (folders), #/ds, #/item, #/compare, #/editor, #/tool/<name>.
"use strict";
const App = {};

App.route = async function () {
  const view = document.getElementById("view");
  view.replaceChildren();
  const { path, params } = S.hashParams();
  S.status("");
  try {
    if (path === "" || path === "/") await Browse.home(view);
    else if (path === "/ds") await Browse.dataset(view, params);
    else if (path === "/item") await Browse.item(view, params);
    else if (path === "/compare") await Browse.compare(view, params);
    else if (path === "/editor") await Editor.view(view, params);
    else if (path.startsWith("/tool/")) await Tools.view(view, path.slice(6));
    else view.append(S.errorBox(new Error("unknown page " + path)));
  } catch (err) {
    view.append(S.errorBox(err));
  }
  view.dataset.ready = location.hash;
};

window.addEventListener("hashchange", App.route);
App.route();
