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

  // htmx leaves the page as it was on an error answer. The site's own refusals (400 bad input,
  // 413 too large, 429 too many searches, 503 busy or no model) are results fragments saying why:
  // show them. Anything else (a
  // failed CSRF check, a server error, no answer at all) gets a message of its own, never a blank.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 413 || status === 429 || status === 503) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // The messages come in the page's language, from the body's data attributes (search/base.html).
  function pageMessage(name, fallback) { return document.body.getAttribute("data-" + name + "-message") || fallback; }

  function showFailure(event, text) {
    var results = document.getElementById("results");
    if (!results || event.detail.target !== results) return;
    var message = document.createElement("p");
    message.className = "error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    results.replaceChildren(message);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 413 || status === 429 || status === 503) return;
    showFailure(event, status === 403
      ? pageMessage("expired", "The page had expired: reload it and try again.")
      : pageMessage("failed", "The search failed (error {status}). Please try again.").replace("{status}", String(status)));
  });

  document.addEventListener("htmx:sendError", function (event) {
    showFailure(event, pageMessage("offline", "The search could not reach the server. Check the connection and try again."));
  });

  // The search log: opening a result sends its search's id, the artwork and its rank (the page's
  // CSRF token with them), and nothing else. sendBeacon outlives the page it leaves. The attributes
  // are on the results only while the log is on.
  function recordOpened(event) {
    if (event.type === "auxclick" && event.button !== 1) return;
    var link = event.target instanceof Element ? event.target.closest("a.result-link[data-rank]") : null;
    var grid = link ? link.closest("[data-search-id]") : null;
    var token = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (!grid || !token || !navigator.sendBeacon) return;
    var form = new FormData();
    form.append("csrfmiddlewaretoken", token.value);
    form.append("s", grid.getAttribute("data-search-id"));
    form.append("a", link.getAttribute("data-aic-id"));
    form.append("r", link.getAttribute("data-rank"));
    navigator.sendBeacon(grid.getAttribute("data-click-url"), form);
  }
  document.addEventListener("click", recordOpened);
  document.addEventListener("auxclick", recordOpened);

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
