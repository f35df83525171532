// Passkeys (WebAuthn) for the sign-in, verification, confirmation and "add a passkey" pages.
// The server makes every challenge and checks every answer; this file only carries them between
// the page and the browser's authenticator, as base64url JSON in a hidden `credential` field.
// Without it the pages still work with codes and passwords; the <noscript> notes say so.
(function () {
  "use strict";
  if (window.portalPasskeys) { return; }  // included by several parts of one page
  window.portalPasskeys = true;

  function toBytes(value) {
    var text = atob(value.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((value.length + 3) % 4));
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) { bytes[i] = text.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    var o = JSON.parse(json);
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function requestOptions(json) {
    var o = typeof json === "string" ? JSON.parse(json) : json;
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function serialise(credential) {
    if (typeof credential.toJSON === "function") { return JSON.stringify(credential.toJSON()); }
    var r = credential.response, out = {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) { out.response.userHandle = toText(r.userHandle); }
    }
    return JSON.stringify(out);
  }

  // The button sits in a hidden wrapper (a styled button ignores its own hidden attribute).
  function show(button) { button.closest("[data-passkey-controls]").hidden = false; }

  function say(box, text) {
    var status = box.querySelector("[data-passkey-status]");
    if (status) { status.textContent = text; }
  }

  function submitWith(form, credential) {
    form.querySelector("input[name=credential]").value = serialise(credential);
    form.submit();
  }

  var supported = !!(window.PublicKeyCredential && navigator.credentials);
  // The words come from the page (translated there); these are only the fallback.
  function message(box, name, fallback) { return box.getAttribute("data-msg-" + name) || fallback; }
  function unsupported(box) { return message(box, "unsupported", "This browser cannot use passkeys here."); }
  function cancelled(box) { return message(box, "cancelled", "The passkey was not used. You can try again."); }

  // Buttons with server-made options: verification, confirmation, adding a passkey.
  document.querySelectorAll("[data-passkey-action]").forEach(function (box) {
    var button = box.querySelector("[data-passkey-button]");
    var form = box.closest("form");
    if (!supported) { say(box, unsupported(box)); return; }
    show(button);
    button.addEventListener("click", function () {
      var options = box.getAttribute("data-options");
      var ask = box.getAttribute("data-mode") === "create"
        ? navigator.credentials.create({ publicKey: creationOptions(options) })
        : navigator.credentials.get({ publicKey: requestOptions(options) });
      button.disabled = true;
      ask.then(function (credential) { submitWith(form, credential); })
        .catch(function () { button.disabled = false; say(box, cancelled(box)); });
    });
  });

  // Sign-in without a password: conditional UI in the address field, and a button.
  var login = document.querySelector("[data-passkey-login]");
  if (!login) { return; }
  if (!supported) { say(login, unsupported(login)); return; }
  var token = login.querySelector("input[name=csrf_token]").value;
  var pending = null;

  function fetchOptions() {
    return fetch(login.getAttribute("data-options-url"), {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": token, "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) { throw new Error("options"); }
      return response.json();
    });
  }

  function ask(mediation) {
    if (pending) { pending.abort(); }
    pending = new AbortController();
    var signal = pending.signal;
    return fetchOptions().then(function (options) {
      var request = { publicKey: requestOptions(options), signal: signal };
      if (mediation) { request.mediation = mediation; }
      return navigator.credentials.get(request);
    }).then(function (credential) {
      if (credential) { submitWith(login, credential); }
    });
  }

  var button = login.querySelector("[data-passkey-button]");
  show(button);
  button.addEventListener("click", function () {
    ask(null).catch(function (error) {
      if (!error || error.name !== "AbortError") { say(login, cancelled(login)); }
    });
  });
  if (PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (available) { ask("conditional").catch(function () { /* the person chose a password */ }); }
    });
  }
})();
