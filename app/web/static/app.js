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
    document.querySelectorAll(".tile[data-name], .map-svg .region[data-name]").forEach(function (tile) {
      tile.addEventListener("mouseenter", function () { show(tile); });
      tile.addEventListener("focus", function () { show(tile); });
    });
  }

  // Map: the quarter slider names its quarter as it moves and applies when let go.
  var quarter = document.getElementById("quarter");
  if (quarter) {
    var labels = quarter.getAttribute("data-labels").split("|");
    var out = document.getElementById("quarter-out");
    var name = function () { return labels[quarter.value - quarter.min] || quarter.value; };
    quarter.addEventListener("input", function () {
      out.textContent = name();
      quarter.setAttribute("aria-valuetext", name());
    });
    quarter.addEventListener("change", function () { quarter.form.submit(); });
  }

  // Map: PNG of what is shown (the SVG, its title and legend drawn on a canvas; nothing leaves the page).
  var png = document.getElementById("map-png");
  var svg = document.getElementById("map-svg");
  if (png && svg) {
    png.hidden = false;
    png.addEventListener("click", function () {
      var box = svg.viewBox.baseVal, k = 2, top = 40, legendH = 40;
      var canvas = document.createElement("canvas");
      canvas.width = box.width * k;
      canvas.height = (box.height + top + legendH) * k;
      var g = canvas.getContext("2d");
      g.scale(k, k);
      g.fillStyle = "#ffffff";
      g.fillRect(0, 0, box.width, box.height + top + legendH);
      g.fillStyle = "#1f1f1f";
      g.font = "bold 18px system-ui, sans-serif";
      g.fillText(document.getElementById("map-h").textContent + " — " +
                 document.getElementById("map-period").textContent, 10, 26);
      var x = 10;
      g.font = "13px system-ui, sans-serif";
      document.querySelectorAll("#legend li").forEach(function (li) {
        var sw = li.querySelector(".sw");
        g.fillStyle = sw.classList.contains("hatch") ? "#9a9a9a" : getComputedStyle(sw).backgroundColor;
        g.fillRect(x, box.height + top + 12, 14, 14);
        g.strokeStyle = "#555555";
        g.strokeRect(x, box.height + top + 12, 14, 14);
        g.fillStyle = "#1f1f1f";
        var text = li.textContent.trim();
        g.fillText(text, x + 18, box.height + top + 24);
        x += 30 + g.measureText(text).width;
      });
      var image = new Image();
      image.onload = function () {
        g.drawImage(image, 0, top, box.width, box.height);
        var a = document.createElement("a");
        a.href = canvas.toDataURL("image/png");
        a.download = "map.png";
        document.body.appendChild(a);
        a.click();
        a.remove();
      };
      var copy = svg.cloneNode(true);
      copy.setAttribute("width", box.width);
      copy.setAttribute("height", box.height);
      image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(new XMLSerializer().serializeToString(copy));
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
