// Two-step verification (TOTP) from a browser: turn it on (a QR code of the secret, then a
// code to confirm), see the recovery codes once, turn it off. Uses demo.js's calls
// (window.sessionDemo). docs/frontend.md explains each call.
"use strict";

(() => {
  const demo = window.sessionDemo;
  const $ = (id) => document.getElementById(id);

  $("totp-on").addEventListener("click", () => demo.act(async () => {
    const response = await demo.api("POST", "/auth/mfa/totp");
    if (!response.ok) return demo.show(await demo.problem(response));
    const setup = await response.json();
    $("totp-secret").textContent = setup.secret;
    // The local run draws the URI as a QR code; the URI goes nowhere else.
    const drawn = await fetch("qr", { method: "POST", body: setup.otpauth_uri });
    const svg = new DOMParser().parseFromString(await drawn.text(), "image/svg+xml");
    $("qr").replaceChildren(document.importNode(svg.documentElement, true));
    $("recovery").hidden = true;
    $("totp-setup").hidden = false;
    demo.show("Scan the code, then enter the code the app shows.");
  }));

  demo.onSubmit("totp-confirm", async (form) => {
    const response = await demo.api("POST", "/auth/mfa/totp/confirm", { code: form.code.value });
    if (!response.ok) return demo.refused(form, response);
    form.reset();
    const { recovery_codes: codes } = await response.json();
    $("recovery-codes").replaceChildren(...codes.map((code) => {
      const item = document.createElement("li");
      item.textContent = code;
      return item;
    }));
    $("totp-setup").hidden = true;
    $("recovery").hidden = false;
    // This session now counts the factor: new tokens say so.
    if ((await demo.refresh()) && (await demo.render())) demo.show("Two-step verification is on.");
  });

  $("totp-off").addEventListener("click", () => demo.act(async () => {
    const response = await demo.api("DELETE", "/auth/mfa/totp");
    if (!response.ok) return demo.show(await demo.problem(response));
    $("recovery").hidden = true;
    demo.show("Two-step verification is off.");
  }));
})();
