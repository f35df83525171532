// Progressive enhancement for account forms: a show-password toggle and a cookie check.
// Everything works without this file.
(function () {
  "use strict";
  document.querySelectorAll("input[data-show-toggle]").forEach(function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary show-password";
    button.textContent = "Show password";
    button.setAttribute("aria-controls", input.id);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      button.textContent = show ? "Hide password" : "Show password";
      button.setAttribute("aria-pressed", show ? "true" : "false");
      input.focus();
    });
    input.insertAdjacentElement("afterend", button);
  });
  var warning = document.getElementById("cookies-off");
  if (warning && !navigator.cookieEnabled) {
    warning.hidden = false;
  }
})();
