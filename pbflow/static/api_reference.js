// The API reference page: Swagger UI (vendored) over /api/openapi.json. No inline script
// (the Content-Security-Policy forbids it), so the page's element carries the document's URL.
(function () {
  "use strict";
  var node = document.getElementById("swagger-ui");
  if (!node || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.SwaggerUIBundle({
    url: node.getAttribute("data-spec"),
    domNode: node,
    deepLinking: true,
    tryItOutEnabled: false,
    validatorUrl: null,
  });
})();
