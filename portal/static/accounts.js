// Progressive enhancement for every page: the show-password control, the error summary, and a
// cookie check. Everything works without this file.
(function () {
  "use strict";

  // One show/hide control inside each password field (never a second one).
  document.querySelectorAll("input[data-show-toggle]").forEach(function (input) {
    var box = input.parentElement;
    if (!box || !box.classList.contains("password") || box.querySelector(".show-password")) {
      return;
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "show-password";
    button.setAttribute("aria-controls", input.id);
    function label(shown) {
      button.textContent = shown ? "Hide" : "Show";
      button.setAttribute("aria-label", shown ? "Hide password" : "Show password");
    }
    label(false);
    button.addEventListener("click", function () {
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      label(show);
    });
    box.appendChild(button);
  });

  // The error summary: focused on arrival (autofocus does it without a script, too), and its
  // links move focus into the field itself, with the field's label scrolled into view.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    if (document.activeElement === document.body) {
      summary.focus();
    }
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      var target = link && document.getElementById(link.getAttribute("href").slice(1));
      if (!target) {
        return;
      }
      event.preventDefault();
      var label = document.querySelector("label[for='" + target.id + "']");
      (label || target).scrollIntoView({ block: "center" });
      target.focus({ preventScroll: true });
    });
  }

  var warning = document.getElementById("cookies-off");
  if (warning && !navigator.cookieEnabled) {
    warning.hidden = false;
  }
})();
