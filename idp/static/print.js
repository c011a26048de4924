// The print button on the recovery-codes page: shown only where scripts run (the page's CSP allows 'self' only).
const printButton = document.getElementById("print-codes");
if (printButton) {
  printButton.hidden = false;
  printButton.addEventListener("click", () => window.print());
}
