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

  /* Load the diagram library once, on demand (2.7 MB: never with the page itself). */
  var mermaidLoading = null;
  function loadMermaid(src) {
    if (window.mermaid) {
      return Promise.resolve(window.mermaid);
    }
    if (!mermaidLoading) {
      mermaidLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = src;
        script.onload = function () { resolve(window.mermaid); };
        script.onerror = function () { reject(new Error("cannot load " + src)); };
        document.head.appendChild(script);
      });
    }
    return mermaidLoading;
  }

  /* Pan (drag, scroll) and zoom (buttons, ctrl+wheel) inside the diagram's box; the view
     starts at a readable size on the current state. */
  function panZoom(details, block, svg) {
    var box = block.parentElement;
    var natural = svg.viewBox && svg.viewBox.baseVal && svg.viewBox.baseVal.width
      ? svg.viewBox.baseVal.width : svg.getBoundingClientRect().width;
    var scale = 1;
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.style.maxWidth = "none";
    var apply = function () { svg.style.width = Math.round(natural * scale) + "px"; };
    var centreOn = function (node) {
      if (!node) { return; }
      var b = box.getBoundingClientRect();
      var n = node.getBoundingClientRect();
      box.scrollLeft += n.left + n.width / 2 - (b.left + b.width / 2);
      box.scrollTop += n.top + n.height / 2 - (b.top + b.height / 2);
    };
    var current = function () { return svg.querySelector("g.s_active"); };
    var zoom = function (factor) {
      var b = box.getBoundingClientRect();
      var cx = (box.scrollLeft + b.width / 2) / (natural * scale);
      var cy = (box.scrollTop + b.height / 2) / svg.getBoundingClientRect().height;
      scale = Math.min(3, Math.max(0.15, scale * factor));
      apply();
      box.scrollLeft = cx * natural * scale - b.width / 2;
      box.scrollTop = cy * svg.getBoundingClientRect().height - b.height / 2;
    };
    var fit = function () {
      scale = Math.min(1, box.clientWidth / natural);
      apply();
      box.scrollLeft = 0;
      box.scrollTop = 0;
    };
    apply();
    box.scrollIntoView({ block: "nearest" });
    centreOn(current());
    var tools = details.querySelector(".diagram-tools");
    if (tools) {
      tools.hidden = false;
      tools.addEventListener("click", function (event) {
        var what = event.target.getAttribute("data-zoom");
        if (what === "in") { zoom(1.25); }
        if (what === "out") { zoom(0.8); }
        if (what === "fit") { fit(); }
        if (what === "current") { scale = 1; apply(); centreOn(current()); }
      });
    }
    box.addEventListener("wheel", function (event) {
      if (event.ctrlKey) {
        event.preventDefault();
        zoom(event.deltaY < 0 ? 1.1 : 0.9);
      }
    }, { passive: false });
    var drag = null;
    box.addEventListener("pointerdown", function (event) {
      if (event.pointerType !== "mouse") { return; }  /* touch scrolls natively */
      drag = { x: event.clientX, y: event.clientY, left: box.scrollLeft, top: box.scrollTop };
      box.classList.add("dragging");
    });
    window.addEventListener("pointermove", function (event) {
      if (!drag) { return; }
      box.scrollLeft = drag.left - (event.clientX - drag.x);
      box.scrollTop = drag.top - (event.clientY - drag.y);
    });
    window.addEventListener("pointerup", function () {
      drag = null;
      box.classList.remove("dragging");
    });
  }

  /* Draw a state diagram when its <details> is opened. The current state is highlighted by
     the diagram text itself (class s_active); once drawn, the block is marked
     data-rendered so tests and styles can tell. */
  var drawn = 0;
  function drawDiagram(details) {
    var block = details.querySelector("pre.mermaid");
    if (!block || block.getAttribute("data-rendered")) {
      return;
    }
    block.setAttribute("data-rendered", "loading");
    var text = block.textContent;
    loadMermaid(block.getAttribute("data-src")).then(function (mermaid) {
      mermaid.initialize({
        startOnLoad: false,
        /* "strict" runs labels through DOMPurify in an inert document, which Chromium
           reports against the page's policy (console errors). The text is ours: the server
           strips quotes, brackets and separators from every label (procedure_view._text),
           and the policy refuses any script anyway. */
        securityLevel: "loose",
        theme: "neutral",
        htmlLabels: false,
        flowchart: { htmlLabels: false },
        state: { useMaxWidth: false },
        themeVariables: { fontSize: "16px" },
      });
      drawn += 1;
      return withNoncedStyles(function () {
        return mermaid.render("pbflow-diagram-" + drawn, text);
      });
    }).then(function (result) {
      var svg = insertSvg(block, result.svg);
      block.setAttribute("data-rendered", "1");
      var current = block.getAttribute("data-current-state");
      if (current) {
        svg.setAttribute("data-current-state", current);
      }
      panZoom(details, block, svg);
    }).catch(function (err) {
      block.setAttribute("data-rendered", "error");
      if (window.console) {
        window.console.warn("diagram", err);
      }
    });
  }

  function diagrams() {
    document.querySelectorAll("details.diagram-full").forEach(function (details) {
      details.addEventListener("toggle", function () {
        if (details.open) { drawDiagram(details); }
      });
      if (details.open) { drawDiagram(details); }
    });
  }

  /* The navigation folds behind a menu button on a phone (CSS decides when it shows). */
  function menu() {
    var button = document.querySelector(".menu-toggle");
    var nav = document.getElementById("site-nav");
    if (!button || !nav) { return; }
    button.hidden = false;
    document.documentElement.classList.add("has-menu");
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      nav.classList.toggle("open", open);
    });
  }

  /* Switching the language reloads the page: what was typed in its forms is kept in this
     tab's sessionStorage and filled in again on the page in the other language. Passwords,
     files and the forms' hidden tokens are never kept. */
  var KEEP = "pbflow-typed:";
  function keepable(el) {
    var type = (el.type || "").toLowerCase();
    return el.name && !el.disabled && ["password", "file", "hidden", "submit", "button"].indexOf(type) < 0;
  }
  function formKey(form, index) {
    return form.id || form.getAttribute("action") || String(index);
  }
  function keepTypedForms() {
    var forms = Array.prototype.slice.call(document.querySelectorAll("form[method=post], form[method=POST]"));
    var link = document.querySelector("a.lang-switch");
    if (link) {
      link.addEventListener("click", function () {
        var saved = {};
        forms.forEach(function (form, index) {
          var values = [];
          Array.prototype.forEach.call(form.elements, function (el) {
            if (!keepable(el)) { return; }
            if (el.type === "checkbox" || el.type === "radio") {
              values.push([el.name, el.value, el.checked]);
            } else if (el.multiple) {
              values.push([el.name, Array.prototype.filter.call(el.options, function (o) { return o.selected; }).map(function (o) { return o.value; })]);
            } else {
              values.push([el.name, el.value]);
            }
          });
          saved[formKey(form, index)] = values;
        });
        try {
          window.sessionStorage.setItem(KEEP + link.pathname, JSON.stringify(saved));
        } catch (e) { /* storage full or refused: the switch still works */ }
        dirty = false;
      });
    }
    var raw = null;
    try {
      raw = window.sessionStorage.getItem(KEEP + window.location.pathname);
      window.sessionStorage.removeItem(KEEP + window.location.pathname);
    } catch (e) { raw = null; }
    if (!raw) { return; }
    var saved = JSON.parse(raw);
    forms.forEach(function (form, index) {
      var values = saved[formKey(form, index)];
      if (!values) { return; }
      values.forEach(function (entry) {
        Array.prototype.forEach.call(form.elements, function (el) {
          if (el.name !== entry[0] || !keepable(el)) { return; }
          if (el.type === "checkbox" || el.type === "radio") {
            if (el.value === entry[1]) { el.checked = entry[2]; }
          } else if (el.multiple && Array.isArray(entry[1])) {
            Array.prototype.forEach.call(el.options, function (o) { o.selected = entry[1].indexOf(o.value) >= 0; });
          } else if (typeof entry[1] === "string" && entry[1] !== "") {
            el.value = entry[1];
            var open = el.closest("details");
            if (open) { open.open = true; }
          }
        });
      });
    });
  }

  /* Buttons that print the page (the opinion slip, the opinion book). */
  function printButtons() {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }

  /* Ask before leaving a page with a half-filled form (what was typed would be lost). */
  var dirty = false;
  function guardForms() {
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

  /* A box that scrolls sideways on a narrow screen (a wide table) can be reached and
     scrolled with the keyboard: it takes the focus when, and only when, it scrolls. */
  function focusableScrollers() {
    var boxes = document.querySelectorAll("main table, .table-wrap, .cg-wrap");
    var mark = function () {
      boxes.forEach(function (box) {
        var scrolls = box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== "visible";
        if (scrolls && !box.hasAttribute("tabindex")) {
          box.setAttribute("tabindex", "0");
          box.setAttribute("data-scroller", "1");
        } else if (!scrolls && box.getAttribute("data-scroller") === "1") {
          box.removeAttribute("tabindex");
          box.removeAttribute("data-scroller");
        }
      });
    };
    mark();
    window.addEventListener("resize", mark);
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusableScrollers();
    menu();
    diagrams();
    guardForms();
    keepTypedForms();
    printButtons();
  });
})();
