// Qorgau pages: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // Map: hovering or focusing a region shows its figures in the panel beside the map.
  var panel = document.getElementById("region-panel");
  if (panel) {
    var show = function (tile) {
      panel.querySelector("[data-field=name]").textContent = tile.getAttribute("data-name");
      panel.querySelector("[data-field=value]").textContent = tile.getAttribute("data-value");
      panel.querySelector("[data-field=n]").textContent = tile.getAttribute("data-n") || "";
      panel.hidden = false;
    };
    document.querySelectorAll(".tile[data-name]").forEach(function (tile) {
      tile.addEventListener("mouseenter", function () { show(tile); });
      tile.addEventListener("focus", function () { show(tile); });
    });
  }

  // Map: a changed picker applies at once.
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Case page: the replay slider moves over the history's moments.
  var slider = document.getElementById("replay-slider");
  var moment = document.getElementById("replay-at");
  var label = document.getElementById("replay-slider-label");
  if (slider && moment) {
    var options = moment.querySelectorAll("option[data-seq]");
    slider.addEventListener("input", function () {
      var i = parseInt(slider.value, 10) - 1;
      if (options[i]) {
        moment.value = options[i].value;
        if (label) { label.textContent = options[i].textContent; }
      }
    });
    moment.addEventListener("change", function () {
      var seq = moment.selectedOptions[0] && moment.selectedOptions[0].getAttribute("data-seq");
      if (seq) { slider.value = seq; }
    });
  }

  // Case page: draw the Mermaid diagram (the vendored copy), strict security, no external loads.
  var diagrams = document.querySelectorAll("pre.mermaid");
  if (diagrams.length && window.mermaid) {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral",
                                fontFamily: "system-ui, sans-serif", state: { useMaxWidth: false } });
    window.mermaid.run({ nodes: diagrams }).then(function () {
      diagrams.forEach(function (pre) {
        pre.setAttribute("data-rendered", "1");
        var svg = pre.querySelector("svg");
        if (svg) {
          svg.setAttribute("role", "img");
          svg.setAttribute("aria-label", pre.getAttribute("data-label") || "diagram");
        }
      });
    }).catch(function () { /* the text list of states beside it stays */ });
  }
})();
