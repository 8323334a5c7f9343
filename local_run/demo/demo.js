// The session service from a browser, in cookie mode: plain JavaScript, nothing to build.
// docs/frontend.md explains each call.
"use strict";

(() => {
  const API = ""; // this page's own origin; a frontend served elsewhere puts the API's URL here
  const REFRESH_LEAD_SECONDS = 30; // refresh this long before the access token expires

  // The access token lives in this variable only, never in localStorage or sessionStorage:
  // a reload forgets it and the HttpOnly refresh cookie, which no script can read, brings a
  // new one (a silent refresh).
  let accessToken = null;
  let refreshTimer = 0;
  let refreshing = null; // the refresh in flight, shared by every caller that needs one
  let mfaToken = null; // between a login's password step and its second step
  let mfaUsername = ""; // whose passkey the second step asks for
  let stepUpAnswer = null; // resolves the step-up prompt on screen: true when re-signed-in

  const $ = (id) => document.getElementById(id);
  const show = (message) => { $("status").textContent = message; };

  function send(method, path, body) {
    // X-Requested-With: the service's CSRF check for the cookie (any value will do).
    const headers = { "X-Requested-With": "fetch" };
    if (accessToken && path !== "/auth/refresh") headers.Authorization = `Bearer ${accessToken}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(API + path, {
      method,
      headers,
      credentials: "include", // send and accept the refresh cookie
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  // A call with the access token. When the service refuses the token (401 invalid_token:
  // expired, or the session ended), refresh once and retry once; if the refresh fails the
  // user is signed out.
  async function api(method, path, body) {
    const response = await send(method, path, body);
    const refused = response.headers.get("WWW-Authenticate") || "";
    // A route that needs a recent sign-in (RFC 9470): ask the user, then retry once.
    if (response.status === 401 && refused.includes("insufficient_user_authentication")) {
      return (await stepUp()) ? send(method, path, body) : response;
    }
    if (response.status !== 401 || !refused.includes("invalid_token") || !accessToken) {
      return response;
    }
    if (!(await refresh())) return response;
    const retried = await send(method, path, body);
    if (retried.status === 401) signedOut("Your session has ended. Please log in again.");
    return retried;
  }

  // Exchange the refresh cookie for a new access token (and a new cookie). Concurrent
  // callers share one request. Resolves to true when there is a new access token.
  function refresh() {
    refreshing ??= (async () => {
      try {
        const response = await send("POST", "/auth/refresh");
        if (response.ok) {
          signedIn(await response.json());
          return true;
        }
        if (response.status === 401) {
          signedOut(accessToken ? "Your session has ended. Please log in again." : "");
        } else if (response.status === 403) {
          signedOut(await problem(response));
        } else {
          show(await problem(response)); // 429, 503: still signed in; try again later
        }
        return false;
      } catch (error) {
        show(`The service cannot be reached: ${error.message}`);
        return false;
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  function signedIn(tokens) {
    accessToken = tokens.access_token;
    clearTimeout(refreshTimer);
    const seconds = Math.max(tokens.expires_in - REFRESH_LEAD_SECONDS, 5);
    refreshTimer = setTimeout(refresh, seconds * 1000);
    // A refresh token in the body means the service is not in cookie mode: this page
    // drops it, so a reload signs out.
    $("not-cookie-mode").hidden = !("refresh_token" in tokens);
    $("signed-out").hidden = true;
    $("signed-in").hidden = false;
  }

  // The step-up prompt: resolves to true once POST /auth/reauth gave this session a fresh
  // sign-in (and new tokens), false when the user cancels.
  function stepUp() {
    $("step-up").hidden = false;
    $("reauth").password.focus();
    show("Confirm it's you to continue.");
    return new Promise((resolve) => { stepUpAnswer = resolve; });
  }

  function stepUpDone(answer) {
    $("step-up").hidden = true;
    $("reauth").reset();
    stepUpAnswer?.(answer);
    stepUpAnswer = null;
  }

  function signedOut(message) {
    accessToken = null;
    mfaToken = null;
    clearTimeout(refreshTimer);
    $("signed-in").hidden = true;
    $("signed-out").hidden = false;
    $("credentials").hidden = false;
    $("second-step").hidden = true;
    stepUpDone(false);
    show(message || "Not signed in.");
  }

  async function problem(response) {
    let text = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      text = body.error_description || body.message || text;
    } catch {
      // not JSON: keep the status line
    }
    if (response.status === 403) text += ` (is ${location.origin} in ALLOWED_ORIGINS?)`;
    const wait = response.headers.get("Retry-After");
    if (response.status === 429 && wait) text += ` Try again in ${wait} s.`;
    return text;
  }

  // A refused form says why; after a 429 its buttons wait for Retry-After.
  async function refused(form, response) {
    show(await problem(response));
    const wait = Number(response.headers.get("Retry-After"));
    if (response.status === 429 && wait > 0) {
      const buttons = form.querySelectorAll("button");
      buttons.forEach((button) => { button.disabled = true; });
      setTimeout(() => buttons.forEach((button) => { button.disabled = false; }), wait * 1000);
    }
  }

  const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  function when(iso) {
    const seconds = (Date.parse(iso) - Date.now()) / 1000;
    for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
      if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
    }
    return "just now";
  }

  function device(userAgent) {
    const find = (names) => names.find((name) => userAgent.includes(name));
    const browser = find(["Edg/", "Firefox", "HeadlessChrome", "Chrome", "Safari", "curl"]);
    const system = find(["Android", "iPhone", "iPad", "Windows", "Mac OS X", "Linux"]);
    if (!browser) return userAgent || "unknown device";
    return system ? `${browser.replace("/", "")} on ${system}` : browser;
  }

  // RFC 8176 method references, as a person reads them.
  function methods(amr) {
    const names = {
      pwd: "password", otp: "authenticator code", hwk: "passkey", swk: "synced passkey",
      user: "user verification", email: "e-mailed code",
    };
    return (amr || []).map((method) => names[method] || method).join(" + ");
  }

  function cell(row, text, title) {
    const td = row.insertCell();
    td.textContent = text; // textContent, never innerHTML: user agents are anyone's text
    if (title) td.title = title;
    return td;
  }

  // Show this session and the list of sessions; true when both could be read.
  async function render() {
    const session = await api("GET", "/auth/session");
    const list = await api("GET", "/auth/sessions");
    if (!accessToken) return false; // signed out meanwhile
    if (!session.ok || !list.ok) {
      show(await problem(session.ok ? list : session));
      return false;
    }
    const current = await session.json();
    const details = [
      ["Device", device(current.user_agent)],
      ["IP", current.ip],
      ["Signed in", when(current.created_at)],
      ["Signed in with", methods(current.amr)],
      ["Ends", when(current.expires_at)],
    ];
    $("current").replaceChildren(...details.flatMap(([term, value]) => {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = term;
      dd.textContent = value;
      return [dt, dd];
    }));
    const rows = (await list.json()).sessions.map((item) => {
      const row = document.createElement("tr");
      row.dataset.sessionId = item.session_id;
      cell(row, device(item.user_agent), item.user_agent);
      cell(row, item.ip);
      cell(row, when(item.created_at));
      cell(row, when(item.last_used_at));
      const action = cell(row, item.current ? "this device" : "");
      if (!item.current) {
        const button = document.createElement("button");
        button.textContent = "Sign out";
        button.addEventListener("click", () => act(async () => {
          const response = await api("DELETE", `/auth/sessions/${item.session_id}`);
          if (!response.ok) return show(await problem(response));
          if (await render()) show("That device is signed out.");
        }));
        action.append(button);
      }
      return row;
    });
    $("sessions").replaceChildren(...rows);
    await renderActivity();
    await window.sessionPasskeys?.render();
    await window.sessionEmail?.render();
    return true;
  }

  // The account's recent security events (written a moment after they happen).
  const WHAT = {
    login_succeeded: "Signed in", login_failed: "Failed sign-in", login_throttled: "Sign-in refused (too many tries)",
    new_device: "New device", session_revoked: "Signed out", refresh_token_reuse_detected: "Stolen token detected",
    password_changed: "Password changed", mfa_enabled: "Two-step verification on",
    mfa_disabled: "Two-step verification off", recovery_code_used: "Recovery code used",
    passkey_added: "Passkey added", passkey_removed: "Passkey removed",
    account_disabled: "Account disabled", account_enabled: "Account enabled",
    email_verified: "E-mail address verified", password_reset_requested: "Password reset asked for",
    password_reset: "Password reset", factors_reset: "Second factors reset by an administrator",
    second_factor_failing: "Many wrong codes",
  };
  async function renderActivity() {
    const response = await api("GET", "/auth/activity?limit=10");
    if (!response.ok) return;
    const rows = (await response.json()).events.map((event) => {
      const row = document.createElement("tr");
      cell(row, (WHAT[event.type] || event.type) + (event.reason ? ` (${event.reason})` : ""));
      cell(row, when(event.at));
      cell(row, event.ip);
      cell(row, event.user_agent ? device(event.user_agent) : "", event.user_agent);
      return row;
    });
    $("activity").replaceChildren(...rows);
  }

  // Every user action: errors end up in the status line, never in the console only.
  function act(action) {
    action().catch((error) => show(`The service cannot be reached: ${error.message}`));
  }

  function onSubmit(id, handler) {
    $(id).addEventListener("submit", (event) => {
      event.preventDefault(); // the script sends the form, not the browser
      act(() => handler(event.target, event.submitter));
    });
  }

  onSubmit("credentials", async (form, submitter) => {
    const credentials = { username: form.username.value, password: form.password.value };
    if (submitter?.value === "register") {
      const email = form.email.value.trim(); // optional: a code is mailed there to verify it
      const registered = await send("POST", "/auth/register", email ? { ...credentials, email } : credentials);
      if (!registered.ok) return refused(form, registered);
    }
    const response = await send("POST", "/auth/login", credentials);
    if (await secondStepAsked(response, credentials.username)) return;
    if (!response.ok) return refused(form, response);
    form.reset();
    signedIn(await response.json());
    if (await render()) show("Signed in.");
  });

  // A first step (a password, an e-mailed code) that was right, for an account with a
  // second factor: 401 mfa_required. Ask for what it names (a code, a passkey, or either);
  // true when asked.
  async function secondStepAsked(response, username) {
    if (response.status !== 401) return false;
    const body = await response.clone().json();
    if (body.error !== "mfa_required") return false;
    mfaToken = body.mfa_token;
    mfaUsername = username;
    const factors = body.factors || ["totp"];
    const code = factors.includes("totp");
    $("credentials").reset();
    $("credentials").hidden = true;
    $("second-step").hidden = false;
    $("code-step").hidden = !code;
    $("code-step").disabled = !code;
    $("second-step-passkey").hidden = !factors.includes("passkey");
    if (code) $("second-step").code.focus();
    show(code ? "Enter the code from your authenticator app." : "Use your passkey.");
    return true;
  }

  // The second step with a code, or with a passkey's assertion (passkeys.js).
  async function secondStep(proof) {
    const form = $("second-step");
    const response = await send("POST", "/auth/login/mfa", { mfa_token: mfaToken, ...proof });
    if (!response.ok) return refused(form, response); // a wrong code leaves the token good
    form.reset();
    form.hidden = true;
    $("credentials").hidden = false;
    mfaToken = null;
    signedIn(await response.json());
    if (await render()) show("Signed in.");
  }

  onSubmit("second-step", (form) => secondStep({ code: form.code.value.trim() }));

  onSubmit("reauth", async (form) => {
    const body = { password: form.password.value };
    if (form.code.value.trim()) body.code = form.code.value.trim();
    const response = await send("POST", "/auth/reauth", body);
    if (!response.ok) return refused(form, response);
    signedIn(await response.json());
    stepUpDone(true);
  });

  $("step-up-cancel").addEventListener("click", () => {
    stepUpDone(false);
    show("Cancelled.");
  });

  $("logout").addEventListener("click", () => act(async () => {
    const response = await api("POST", "/auth/logout"); // the answer clears the cookie
    if (response.ok) signedOut("Signed out.");
    else show(await problem(response));
  }));

  $("sign-out-others").addEventListener("click", () => act(async () => {
    const response = await api("DELETE", "/auth/sessions");
    if (!response.ok) return show(await problem(response));
    if (await render()) show("Every other session has ended.");
  }));

  onSubmit("password", async (form) => {
    const response = await api("POST", "/auth/password", {
      current_password: form.current_password.value,
      new_password: form.new_password.value,
    });
    if (!response.ok) return refused(form, response);
    form.reset();
    // A fresh session (and cookie) for this browser; every other session has ended.
    signedIn(await response.json());
    if (await render()) show("Password changed. Every other session has ended.");
  });

  // For the console, the browser test and passkeys.js: the calls, never the token.
  window.sessionDemo = Object.freeze({
    api, refresh, render, send, signedIn, show, problem, refused, act, onSubmit, when, stepUpDone,
    secondStep, secondStepAsked, mfaUsername: () => mfaUsername,
  });

  // On load: the HttpOnly cookie may still hold a session; a silent refresh restores it.
  act(async () => {
    if ((await refresh()) && (await render())) show("Session restored.");
  });
})();
