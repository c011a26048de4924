// Passkey ceremonies for Gerbang's pages: buttons carry data-passkey="register|login|second|link".
// A separate file because the pages' CSP (default-src 'self') forbids inline scripts.
(function () {
  "use strict";
  function enc(buffer) {
    var bytes = new Uint8Array(buffer), text = "";
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function dec(value) {
    var text = atob(value.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((value.length + 3) % 4));
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) { bytes[i] = text.charCodeAt(i); }
    return bytes.buffer;
  }
  function csrf() { return document.querySelector("input[name=csrf_token]").value; }
  async function post(url, body) {
    var response = await fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    var data = await response.json().catch(function () { return {}; });
    if (!response.ok && data.redirect) { window.location.href = data.redirect; }  // sign in again first
    if (!response.ok) { throw new Error(data.error || String(response.status)); }
    return data;
  }
  function creation(options) {
    options.challenge = dec(options.challenge);
    options.user.id = dec(options.user.id);
    (options.excludeCredentials || []).forEach(function (c) { c.id = dec(c.id); });
    return options;
  }
  function request(options) {
    options.challenge = dec(options.challenge);
    (options.allowCredentials || []).forEach(function (c) { c.id = dec(c.id); });
    return options;
  }
  function attestation(c) {
    return {id: c.id, rawId: enc(c.rawId), type: c.type, authenticatorAttachment: c.authenticatorAttachment,
      clientExtensionResults: c.getClientExtensionResults(),
      response: {clientDataJSON: enc(c.response.clientDataJSON), attestationObject: enc(c.response.attestationObject),
        transports: c.response.getTransports ? c.response.getTransports() : []}};
  }
  function assertion(c) {
    return {id: c.id, rawId: enc(c.rawId), type: c.type, authenticatorAttachment: c.authenticatorAttachment,
      clientExtensionResults: c.getClientExtensionResults(),
      response: {clientDataJSON: enc(c.response.clientDataJSON), authenticatorData: enc(c.response.authenticatorData),
        signature: enc(c.response.signature), userHandle: c.response.userHandle ? enc(c.response.userHandle) : null}};
  }
  async function run(button) {
    var mode = button.getAttribute("data-passkey");
    if (mode === "register") {
      var created = await navigator.credentials.create({publicKey: creation(
        await post("/account/passkeys/options", {csrf_token: csrf()}))});
      var name = document.getElementById("passkey-name");
      await post("/account/passkeys", {csrf_token: csrf(), name: name ? name.value : "", credential: attestation(created)});
      window.location.href = "/account?done=passkey";
      return;
    }
    var base = button.getAttribute("data-passkey-base") || "/auth/passkey";  // linking: /auth/broker/passkey
    var got = await navigator.credentials.get({publicKey: request(
      await post(base + "/options", {csrf_token: csrf(), purpose: mode}))});
    var done = await post(base, {csrf_token: csrf(), purpose: mode, credential: assertion(got),
      interaction: button.getAttribute("data-interaction") || ""});
    window.location.href = done.redirect;
  }
  document.querySelectorAll("[data-passkey]").forEach(function (button) {
    if (!window.PublicKeyCredential) { button.hidden = true; return; }
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var status = document.getElementById("passkey-status");
      if (status) { status.hidden = true; }
      run(button).catch(function () { if (status) { status.hidden = false; } });
    });
  });
})();
