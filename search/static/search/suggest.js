// Suggestions under the search box as a visitor types (/api/suggest): artists and titles, in a
// listbox the keyboard walks (the ARIA combobox pattern: Down and Up move, Enter opens the one
// chosen, Escape closes). Without JavaScript the box is a plain search box.
(function () {
  "use strict";

  var DELAY_MS = 200;
  var MIN_LENGTH = 2;
  var MAX_LENGTH = 100;

  function attach(box) {
    var list = document.createElement("ul");
    list.id = box.id + "-suggestions";
    list.className = "suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", document.body.dataset.suggestionsLabel || "Suggestions");
    list.hidden = true;
    box.insertAdjacentElement("afterend", list);
    box.parentElement.classList.add("has-suggestions");

    box.setAttribute("role", "combobox");
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-expanded", "false");
    var controls = box.getAttribute("aria-controls");
    box.setAttribute("aria-controls", controls ? controls + " " + list.id : list.id);

    var timer = null;
    var pending = null;
    var active = -1;

    function options() { return Array.from(list.querySelectorAll("[role=option]")); }

    function close() {
      list.hidden = true;
      box.setAttribute("aria-expanded", "false");
      box.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      var all = options();
      active = index;
      all.forEach(function (option, i) { option.setAttribute("aria-selected", i === index ? "true" : "false"); });
      if (index >= 0 && all[index]) {
        box.setAttribute("aria-activedescendant", all[index].id);
        all[index].scrollIntoView({ block: "nearest" });
      } else {
        box.removeAttribute("aria-activedescendant");
      }
    }

    function show(text, suggestions) {
      list.textContent = "";
      suggestions.forEach(function (suggestion, i) {
        var option = document.createElement("li");
        option.id = list.id + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.url = suggestion.url;
        var label = document.createElement("span");
        label.className = "suggestion-label";
        label.textContent = suggestion.label;
        var detail = document.createElement("span");
        detail.className = "suggestion-kind";
        var words = document.body.dataset;
        var artworkWord = words.artworkLabel || "Artwork";
        detail.textContent = suggestion.kind === "artist" ? (words.artistLabel || "Artist") : (suggestion.artist ? artworkWord + " · " + suggestion.artist : artworkWord);
        option.append(label, " ", detail);
        option.addEventListener("mousedown", function (event) { event.preventDefault(); });  // keep the box focused
        option.addEventListener("click", function () { window.location.assign(option.dataset.url); });
        list.appendChild(option);
      });
      active = -1;
      box.removeAttribute("aria-activedescendant");
      if (suggestions.length && document.activeElement === box) {
        list.hidden = false;
        box.setAttribute("aria-expanded", "true");
      } else {
        close();
      }
    }

    function fetchFor(text) {
      if (pending) pending.abort();
      pending = new AbortController();
      fetch("/api/suggest?" + new URLSearchParams({ q: text }), { signal: pending.signal, headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
        .then(function (answer) { if (box.value.trim() === text) show(text, answer.suggestions || []); })
        .catch(function () { /* aborted by newer typing, or offline: no suggestions */ });
    }

    box.addEventListener("input", function () {
      clearTimeout(timer);
      var text = box.value.trim();
      if (text.length < MIN_LENGTH || text.length > MAX_LENGTH) {
        if (pending) pending.abort();
        close();
        return;
      }
      timer = setTimeout(function () { fetchFor(text); }, DELAY_MS);
    });

    box.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      var all = options();
      var open = !list.hidden;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        // Closed (never shown, or put away with Escape): the arrows are site.js's, into the results.
        if (!open || !all.length) return;
        event.preventDefault();
        event.stopPropagation();
        var step = event.key === "ArrowDown" ? 1 : -1;
        var next = active + step;
        if (next >= all.length) next = 0;
        if (next < -1) next = all.length - 1;
        highlight(next);
      } else if (event.key === "Enter" && open && active >= 0 && all[active]) {
        event.preventDefault();
        event.stopPropagation();
        window.location.assign(all[active].dataset.url);
      } else if (event.key === "Escape" && open) {
        event.preventDefault();
        event.stopPropagation();
        close();
      }
    });

    box.addEventListener("blur", function () { close(); });
  }

  function start() {
    var box = document.getElementById("q");
    if (box && window.fetch && window.AbortController) attach(box);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
