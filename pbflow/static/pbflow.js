/* pbflow page behaviour: only progressive enhancement, every page works without it. */
(function () {
  "use strict";

  /* The page's Content-Security-Policy allows no inline style but style elements carrying
     this page's nonce; the nonce comes with this script's own tag. */
  var NONCE = (document.currentScript && document.currentScript.nonce) || "";

  /* Mermaid builds each diagram with a <style> element of its own, and measures its text
     with the styles in place. While it renders, style elements it creates get the nonce and
     style attributes it sets go through the CSSOM (element.style), which the policy allows. */
  function withNoncedStyles(work) {
    var create = document.createElement;
    var setAttribute = Element.prototype.setAttribute;
    document.createElement = function (tag, options) {
      var element = create.call(document, tag, options);
      if (String(tag).toLowerCase() === "style") {
        element.nonce = NONCE;
      }
      return element;
    };
    Element.prototype.setAttribute = function (name, value) {
      if (String(name).toLowerCase() === "style" && this.style) {
        this.style.cssText = String(value);
        return undefined;
      }
      return setAttribute.call(this, name, value);
    };
    var restore = function () {
      document.createElement = create;
      Element.prototype.setAttribute = setAttribute;
    };
    return work().then(function (value) { restore(); return value; },
                       function (err) { restore(); throw err; });
  }

  /* Put a rendered SVG into its block. Its text is rewritten before it is parsed (parsing
     alone would already be reported against the policy): style elements get the nonce
     (the serialized text has lost it), and style attributes are set aside and applied
     through the CSSOM, which the policy allows, once the SVG is in the page. */
  function insertSvg(block, svgText) {
    var text = svgText.replace(/<[^<>]*>/g, function (tag) {
      return tag
        .replace(/^<style\b/, '<style nonce="' + NONCE + '"')
        .replace(/\sstyle="/g, ' data-pbflow-style="');
    });
    var parsed = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
    var svg = document.importNode(parsed, true);
    block.textContent = "";
    block.appendChild(svg);
    [svg].concat(Array.prototype.slice.call(svg.querySelectorAll("[data-pbflow-style]")))
      .forEach(function (element) {
        var css = element.getAttribute("data-pbflow-style");
        if (css !== null) {
          element.style.cssText = css;
          element.removeAttribute("data-pbflow-style");
        }
      });
    return svg;
  }

  /* Draw the state diagrams with the locally served mermaid library. The current state is
     highlighted by the diagram text itself (class s_active); once drawn, the container is
     marked data-rendered so tests and styles can tell. */
  function drawDiagrams() {
    var blocks = Array.prototype.slice.call(document.querySelectorAll("pre.mermaid"));
    if (!blocks.length || !window.mermaid) {
      return;
    }
    window.mermaid.initialize({
      startOnLoad: false,
      securityLevel: "strict",
      theme: "neutral",
      state: { useMaxWidth: true },
    });
    var drawOne = function (block, index) {
      var text = block.textContent;
      return withNoncedStyles(function () {
        return window.mermaid.render("pbflow-diagram-" + index, text);
      }).then(function (result) {
        var svg = insertSvg(block, result.svg);
        block.setAttribute("data-rendered", "1");
        var current = block.getAttribute("data-current-state");
        if (current) {
          svg.setAttribute("data-current-state", current);
        }
      });
    };
    blocks
      .reduce(function (done, block, index) {
        return done.then(function () { return drawOne(block, index); });
      }, Promise.resolve())
      .catch(function (err) {
        blocks.forEach(function (block) {
          if (block.getAttribute("data-rendered") !== "1") {
            block.setAttribute("data-rendered", "error");
          }
        });
        if (window.console) {
          window.console.error("diagram", err);
        }
      });
  }

  /* Buttons that print the page (the opinion slip, the opinion book). */
  function printButtons() {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
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
    printButtons();
  });
})();
