// The operator's console, enhanced: the email preview follows your typing, and the progress
// view updates in place. Without this file the Preview button and a page refresh do the same.
(function () {
  "use strict";

  // --- the live preview: the draft posted to the preview endpoint, shown in the frame --------
  var form = document.querySelector("form[data-preview]");
  var frame = document.querySelector("iframe[data-preview-frame]");
  if (form && frame && window.fetch) {
    var timer = null;
    var running = false;
    var again = false;
    var refresh = function () {
      if (running) {
        again = true;
        return;
      }
      running = true;
      fetch(form.getAttribute("data-preview"), {
        method: "POST", body: new FormData(form), credentials: "same-origin"
      }).then(function (response) {
        return response.ok ? response.text() : null;
      }).then(function (html) {
        var doc = frame.contentDocument;
        if (html === null || !doc || !doc.documentElement) {
          return;
        }
        // Parsed by the frame's own document, under the frame's own policy (which allows the
        // email's style attributes); the page's stricter policy never sees them.
        doc.documentElement.innerHTML = html;
      }).catch(function () {
        // Offline or the session ended: the Preview button still works.
      }).then(function () {
        running = false;
        if (again) {
          again = false;
          refresh();
        }
      });
    };
    form.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 400);
    });
  }

  // --- the progress view: a small JSON document polled while the issue is sending ----------------
  var box = document.querySelector("[data-progress][data-live]");
  if (box && window.fetch) {
    var url = box.getAttribute("data-progress");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) {
            return;
          }
          Object.keys(data).forEach(function (name) {
            var element = box.querySelector("[data-field='" + name + "']");
            if (!element || data[name] === null) {
              return;
            }
            if (element.tagName === "PROGRESS") {
              element.value = data[name];
              element.textContent = data[name] + " %";
            } else {
              element.textContent = typeof data[name] === "number" && name.indexOf("minute") >= 0
                ? data[name].toFixed(1) : String(data[name]);
            }
          });
          if (data.state === "sending") {
            window.setTimeout(poll, 2000);
          } else {
            // Finished or paused: the page's buttons change, so show the page itself again.
            window.location.reload();
          }
        })
        .catch(function () { window.setTimeout(poll, 10000); });
    };
    window.setTimeout(poll, 2000);
  }
})();
