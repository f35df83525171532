// Progressive enhancement for the consent banner: "Reject all" is decided in place, without
// leaving the page. The banner is a plain form; everything works without this file.
//
// Accepting is deliberately NOT done in place: a page's Content-Security-Policy is fixed when the
// page arrives, so tags inserted into it would have their beacons, frames and sockets blocked.
// "Accept all" and "Save" post the form the ordinary way; the server redirects back to the same
// page, which arrives with a CSP that allows exactly the granted hosts, and its view is counted.
(function () {
  "use strict";
  // The per-service switches follow their category and the other way round, as people expect
  // (switching a category on turns its services on; turning every service off turns it off).
  // Without this script the server applies the same rule: a service runs only when its category
  // and its own switch are both on.
  document.querySelectorAll("[data-consent-category]").forEach(function (row) {
    var category = row.querySelector("input[type=checkbox]");
    var list = row.nextElementSibling;
    if (!category || !list || !list.matches(".consent-service-switches")) {
      return;
    }
    var services = list.querySelectorAll("input[type=checkbox]");
    category.addEventListener("change", function () {
      services.forEach(function (s) { s.checked = category.checked; });
    });
    services.forEach(function (s) {
      s.addEventListener("change", function () {
        category.checked = Array.prototype.some.call(services, function (o) { return o.checked; });
      });
    });
  });

  var banner = document.querySelector("[data-consent-banner]");
  var form = banner && banner.querySelector("form[data-consent-form]");
  var status = document.getElementById("consent-status");
  if (!form || !window.fetch || !window.URLSearchParams) {
    return;
  }

  function announce(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function fallback(submitter) {
    // Anything unexpected: let the browser post the form the ordinary way.
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "action";
    hidden.value = submitter.value;
    form.appendChild(hidden);
    form.submit();
  }

  // Escape closes the open preferences panel and gives focus back to its "Settings" control.
  var panel = form.querySelector("details[data-consent-panel]");
  if (panel) {
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && panel.open) {
        panel.open = false;
        panel.querySelector("summary").focus();
      }
    });
  }

  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    // Accepting and saving the panel's switches reload the page with its new CSP: normal
    // navigations.
    if (!submitter || submitter.value !== "reject_all") {
      return;
    }
    event.preventDefault();
    // Read before disabling the buttons: a disabled button loses focus.
    var hadFocus = banner.contains(document.activeElement);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    var data = new URLSearchParams(new FormData(form));
    data.set("action", submitter.value);
    // Not form.action: the buttons are named "action" and would shadow the property.
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("consent not saved: " + response.status);
      }
      return response.json();
    }).then(function (result) {
      if (result.reload) {
        // Something withdrawn is already running; only a fresh page stops it.
        window.location.reload();
        return;
      }
      banner.remove();
      announce("Your choice is saved. You can change it under Cookie settings at the bottom of every page.");
      if (hadFocus) {
        // Focus must not vanish with the banner: put it back at the start of the content.
        var main = document.getElementById("main");
        if (main) {
          main.focus();
        }
      }
    }).catch(function () {
      buttons.forEach(function (b) { b.disabled = false; });
      fallback(submitter);
    });
  });
})();
