// wharf's web UI: copy-to-clipboard buttons and a prompt before a delete. Every page
// works without this file (the delete goes through a confirmation page of its own).
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var text = button.getAttribute("data-copy");
  if (!navigator.clipboard) return;
  navigator.clipboard.writeText(text).then(function () {
    var label = button.textContent;
    button.textContent = "copied";
    setTimeout(function () { button.textContent = label; }, 1200);
  });
});
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
