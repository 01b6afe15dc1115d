// The artwork page: a deep-zoom viewer (OpenSeadragon) over the IIIF image in place of the still
// image, and a button that copies the citation. Without JavaScript, or when the viewer cannot open,
// the still image and the selectable citation stay as they are.
(function () {
  "use strict";

  function startViewer() {
    var holder = document.getElementById("zoom-viewer");
    if (!holder || !window.OpenSeadragon || !holder.dataset.iiifInfo) return;
    var still = holder.querySelector(".artwork-still");
    var stage = document.createElement("div");
    stage.className = "zoom-stage";
    stage.setAttribute("role", "img");
    stage.setAttribute("aria-label", holder.dataset.label || "Zoomable image");
    holder.appendChild(stage);
    holder.classList.add("zooming");  // the viewer measures its stage as it starts
    holder.dataset.zoomState = "opening";
    holder.dataset.tilesLoaded = "0";
    var viewer = window.OpenSeadragon({
      element: stage,
      prefixUrl: holder.dataset.viewerImages,
      tileSources: holder.dataset.iiifInfo,
      // The canvas drawer shows tiles from another origin without asking it for CORS on each one.
      drawer: "canvas",
      showNavigator: true,
      navigatorPosition: "BOTTOM_RIGHT",
      showRotationControl: false,
      visibilityRatio: 1,
      minZoomImageRatio: 0.8,
    });
    viewer.addHandler("open", function () {
      holder.dataset.zoomState = "open";
      if (still) still.hidden = true;
    });
    viewer.addHandler("tile-loaded", function () {
      holder.dataset.tilesLoaded = String(Number(holder.dataset.tilesLoaded) + 1);
    });
    viewer.addHandler("open-failed", function () {
      // The still image stays; the viewer leaves.
      holder.dataset.zoomState = "failed";
      holder.classList.remove("zooming");
      viewer.destroy();
      stage.remove();
      if (still) still.hidden = false;
    });
  }

  function offerCopy() {
    var button = document.querySelector(".copy-citation");
    if (!button || !navigator.clipboard || !window.isSecureContext) return;
    var status = button.parentElement.querySelector(".copy-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy).textContent.trim();
      navigator.clipboard.writeText(text).then(
        function () { if (status) status.textContent = document.body.dataset.copiedMessage || "Copied."; },
        function () { if (status) status.textContent = document.body.dataset.copyFailedMessage || "Could not copy: select the text instead."; }
      );
    });
  }

  function start() {
    startViewer();
    offerCopy();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
