// Print views: the "print this page" button (no inline handlers: the CSP forbids them).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
