// Passkeys from a browser: WebAuthn's JSON forms both ways (parse...FromJSON, toJSON()),
// so nothing here touches binary. Uses demo.js's calls (window.sessionDemo).
// docs/frontend.md explains each call.
"use strict";

(() => {
  const demo = window.sessionDemo;
  const $ = (id) => document.getElementById(id);
  const supported = typeof PublicKeyCredential !== "undefined"
    && typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";

  // Ask for a sign-in ceremony (for the username typed, if any) and let the browser's
  // authenticator answer it: the body POST /auth/passkeys/authentication and a passkey
  // step-up take.
  async function assertion(username) {
    const asked = await demo.send(
      "POST", "/auth/passkeys/authentication/options", username ? { username } : {},
    );
    if (!asked.ok) throw new Error(await demo.problem(asked));
    const { options, ceremony_id: ceremonyId } = await asked.json();
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    const credential = await navigator.credentials.get({ publicKey });
    return { ceremony_id: ceremonyId, credential: credential.toJSON() };
  }

  // The user cancelling the browser's prompt is not an error worth more than a line.
  function failed(error) {
    demo.show(error.name === "NotAllowedError" ? "No passkey was used." : error.message);
  }

  $("passkey-login").addEventListener("click", () => demo.act(async () => {
    if (!supported) return demo.show("This browser cannot use passkeys here.");
    let body;
    try {
      body = await assertion($("credentials").username.value.trim());
    } catch (error) {
      return failed(error);
    }
    const response = await demo.send("POST", "/auth/passkeys/authentication", body);
    if (!response.ok) return demo.refused($("credentials"), response);
    $("credentials").reset();
    demo.signedIn(await response.json());
    if (await demo.render()) demo.show("Signed in with a passkey.");
  }));

  // The second step of a password login, for an account with a passkey.
  $("second-step-passkey").addEventListener("click", () => demo.act(async () => {
    let body;
    try {
      body = await assertion(demo.mfaUsername());
    } catch (error) {
      return failed(error);
    }
    await demo.secondStep(body);
  }));

  // Step-up with a passkey instead of the password.
  $("reauth-passkey").addEventListener("click", () => demo.act(async () => {
    let body;
    try {
      body = await assertion("");
    } catch (error) {
      return failed(error);
    }
    const response = await demo.send("POST", "/auth/reauth", body);
    if (!response.ok) return demo.refused($("reauth"), response);
    demo.signedIn(await response.json());
    demo.stepUpDone(true);
  }));

  demo.onSubmit("passkey-add", async (form) => {
    if (!supported) return demo.show("This browser cannot create passkeys here.");
    const asked = await demo.api("POST", "/auth/passkeys/registration/options");
    if (!asked.ok) return demo.refused(form, asked);
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON((await asked.json()).options);
    let credential;
    try {
      credential = await navigator.credentials.create({ publicKey });
    } catch (error) {
      return failed(error);
    }
    const body = { credential: credential.toJSON() };
    if (form.name.value.trim()) body.name = form.name.value.trim();
    const added = await demo.api("POST", "/auth/passkeys", body);
    if (!added.ok) return demo.refused(form, added);
    form.reset();
    await render();
    demo.show("Passkey added.");
  });

  async function render() {
    const response = await demo.api("GET", "/auth/passkeys");
    if (!response.ok) return;
    const rows = (await response.json()).passkeys.map((passkey) => {
      const row = document.createElement("tr");
      for (const text of [
        passkey.name, demo.when(passkey.created_at),
        passkey.last_used_at ? demo.when(passkey.last_used_at) : "never",
      ]) {
        row.insertCell().textContent = text;
      }
      const button = document.createElement("button");
      button.textContent = "Remove";
      button.addEventListener("click", () => demo.act(async () => {
        const removed = await demo.api("DELETE", `/auth/passkeys/${passkey.passkey_id}`);
        if (!removed.ok) return demo.show(await demo.problem(removed));
        await render();
        demo.show("Passkey removed.");
      }));
      row.insertCell().append(button);
      return row;
    });
    $("passkeys").replaceChildren(...rows);
  }

  // For email.js: a passkey proves a password reset of an account that has one.
  window.sessionPasskeys = Object.freeze({ render, assertion, failed });
})();
