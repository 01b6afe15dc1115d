// Keyboard navigation for the search page, and tidy URLs for htmx requests.
(function () {
  "use strict";

  function searchBox() { return document.getElementById("q"); }
  function resultLinks() { return Array.from(document.querySelectorAll("#results .result-link, .similar .result-link")); }

  // Links in the same row share a top offset: the number of columns is how many share the first one's.
  function columns(links) {
    if (!links.length) return 1;
    var top = links[0].getBoundingClientRect().top;
    var count = links.filter(function (link) { return Math.abs(link.getBoundingClientRect().top - top) < 2; }).length;
    return Math.max(count, 1);
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var box = searchBox();
    var target = event.target;
    var typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
    if (event.key === "/" && !typing && box) {
      event.preventDefault();
      box.focus();
      box.select();
      return;
    }
    var links = resultLinks();
    if (target === box && event.key === "ArrowDown" && links.length) {
      event.preventDefault();
      links[0].focus();
      return;
    }
    var index = links.indexOf(target);
    if (index < 0) return;
    var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(links), ArrowUp: -columns(links) }[event.key];
    if (event.key === "Escape" && box) {
      event.preventDefault();
      box.focus();
    } else if (step !== undefined) {
      event.preventDefault();
      var next = index + step;
      if (next < 0 && box) box.focus();
      else links[Math.min(Math.max(next, 0), links.length - 1)].focus();
    }
  });

  // Leave empty form fields out of the request, so the pushed URL holds only what was chosen.
  document.addEventListener("htmx:configRequest", function (event) {
    var params = event.detail.parameters;
    if (event.detail.verb !== "get" || !params) return;
    var names = params instanceof FormData ? Array.from(params.keys()) : Object.keys(params);
    names.forEach(function (name) {
      var value = params instanceof FormData ? params.get(name) : params[name];
      if (value === "" || (name === "mode" && value === "hybrid") || (name === "sort" && value === "relevance")) {
        if (params instanceof FormData) params.delete(name); else delete params[name];
      }
    });
  });
})();
