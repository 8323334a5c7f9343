// Sign-in with other identity providers (docs/federation.md): a button per provider the
// local run has registered, the browser sent to the provider, and back here with the answer
// in the URL's fragment (never its query).
"use strict";

(() => {
  const demo = window.sessionDemo;
  const $ = (id) => document.getElementById(id);
  // This page's own random value in return_to, checked on the way back: an answer that
  // comes back without it is not of a sign-in this page started (a handoff planted by a
  // link someone sent would sign this browser in to their account: login CSRF).
  const STATE_KEY = "federation-state";

  async function buttons() {
    const response = await fetch("/demo/providers");
    if (!response.ok) return;
    const { providers } = await response.json();
    const place = $("providers");
    for (const { provider_id: id, name } of providers) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `Sign in with ${name}`;
      button.dataset.provider = id;
      button.addEventListener("click", () => start(id));
      place.append(button);
    }
    place.hidden = providers.length === 0;
  }

  function start(providerId) {
    const state = crypto.randomUUID();
    sessionStorage.setItem(STATE_KEY, state);
    const back = `${location.origin}/demo/?state=${state}`;
    location.assign(
      `/auth/federation/${encodeURIComponent(providerId)}/start?return_to=${encodeURIComponent(back)}`
    );
  }

  // Back from the provider: the fragment holds a handoff (body mode), an error, or an
  // mfa_token; in cookie mode a success holds nothing (the refresh cookie is set, and the
  // page's silent refresh signs in).
  async function returned() {
    const query = new URLSearchParams(location.search);
    const state = query.get("state");
    if (!state) return;
    const answer = new URLSearchParams(location.hash.slice(1));
    history.replaceState(null, "", location.pathname);
    const expected = sessionStorage.getItem(STATE_KEY);
    sessionStorage.removeItem(STATE_KEY);
    if (!expected || state !== expected) {
      demo.show("That sign-in was not started here: ignored.");
      return;
    }
    const error = answer.get("error");
    if (error === "mfa_required" && answer.get("mfa_token")) {
      const body = { error, mfa_token: answer.get("mfa_token"), factors: ["totp", "passkey"] };
      await demo.secondStepAsked(new Response(JSON.stringify(body), { status: 401 }), "");
      return;
    }
    if (error) {
      demo.show(answer.get("error_description") || error);
      return;
    }
    const handoff = answer.get("handoff");
    if (!handoff) return; // cookie mode: the silent refresh signs in
    const response = await demo.send("POST", "/auth/federation/exchange", { handoff });
    if (await demo.secondStepAsked(response, "")) return;
    if (!response.ok) {
      demo.show(await demo.problem(response));
      return;
    }
    demo.signedIn(await response.json());
    if (await demo.render()) demo.show("Signed in.");
  }

  demo.act(async () => {
    await buttons();
    await returned();
  });
})();
