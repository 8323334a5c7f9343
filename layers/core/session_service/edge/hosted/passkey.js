// The central sign-in's passkey button (GET /signin?request=..., single sign-on): it asks
// the API for a sign-in ceremony (for the username typed, if any; else any discoverable
// passkey of this site), lets the browser's authenticator answer it, and posts the
// assertion with the page's own form to POST /signin/passkey, which answers as the
// password form does: the central session's cookie and back to the app's request. Without
// this script, or in a browser without WebAuthn's JSON methods, the button stays hidden
// and the password form works alone. Nothing from the answers is written as HTML.
"use strict";

(() => {
  const form = document.getElementById("passkey");
  const supported = typeof PublicKeyCredential !== "undefined"
    && typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";
  if (!form || !supported) return;
  const button = form.querySelector("button");
  const message = document.getElementById("passkey-message");
  const username = document.getElementById("username");
  const say = (text) => {
    message.textContent = text;
    message.classList.toggle("error", Boolean(text));
  };

  async function ceremony() {
    const typed = username ? username.value.trim() : "";
    const asked = await fetch("/auth/passkeys/authentication/options", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(typed ? { username: typed } : {}),
      credentials: "omit",
      cache: "no-store",
    });
    const data = await asked.json().catch(() => ({}));
    if (!asked.ok) {
      const problem = typeof data.error_description === "string" ? data.error_description : "";
      throw new Error(problem || "Passkeys cannot be used here now. Sign in with your password.");
    }
    return data;
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    say("");
    try {
      const { options, ceremony_id: ceremonyId } = await ceremony();
      const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
      const credential = await navigator.credentials.get({ publicKey });
      form.elements.ceremony_id.value = ceremonyId;
      form.elements.credential.value = JSON.stringify(credential.toJSON());
      form.submit(); // the page leaves: the button stays disabled
      return;
    } catch (error) {
      if (error.name === "NotAllowedError") say("No passkey was used.");
      else if (error.name === "SecurityError") say("Passkeys are not set up for this page. Sign in with your password.");
      else if (error instanceof TypeError) say("The service could not be reached. Try again.");
      else say(error.message);
    }
    button.disabled = false;
  });
  form.hidden = false;
})();
