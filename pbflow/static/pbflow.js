/* pbflow page behaviour: only progressive enhancement, every page works without it. */
(function () {
  "use strict";

  /* Draw the state diagrams with the locally served mermaid library. The current state is
     highlighted by the diagram text itself (class s_active); once drawn, the container is
     marked data-rendered so tests and styles can tell. */
  function drawDiagrams() {
    var blocks = document.querySelectorAll("pre.mermaid");
    if (!blocks.length || !window.mermaid) {
      return;
    }
    window.mermaid.initialize({
      startOnLoad: false,
      securityLevel: "strict",
      theme: "neutral",
      state: { useMaxWidth: true },
    });
    window.mermaid
      .run({ nodes: blocks })
      .then(function () {
        blocks.forEach(function (block) {
          block.setAttribute("data-rendered", "1");
          var current = block.getAttribute("data-current-state");
          var svg = block.querySelector("svg");
          if (svg && current) {
            svg.setAttribute("data-current-state", current);
          }
        });
      })
      .catch(function (err) {
        blocks.forEach(function (block) {
          block.setAttribute("data-rendered", "error");
        });
        if (window.console) {
          window.console.error("diagram", err);
        }
      });
  }

  /* Ask before leaving a page with a half-filled form (what was typed would be lost). */
  function guardForms() {
    var dirty = false;
    document.querySelectorAll("form.action-form, #comment-form").forEach(function (form) {
      form.addEventListener("input", function () { dirty = true; });
      form.addEventListener("submit", function () { dirty = false; });
    });
    window.addEventListener("beforeunload", function (event) {
      if (dirty) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawDiagrams();
    guardForms();
  });
})();
