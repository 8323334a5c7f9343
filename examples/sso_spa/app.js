// A single-page app signing in through the session service: a public client (no secret),
// the authorization code flow with PKCE (WebCrypto), its tokens in this tab's
// sessionStorage, refreshed on a timer and on its button. A refused refresh (invalid_grant:
// the central session ended, by a sign-out in any app) signs it out.
"use strict";

const $ = (id) => document.getElementById(id);
const store = sessionStorage;
let config; // this app's: issuer, client_id, redirect_uri, refresh_seconds (config.json)
let provider; // the issuer's discovery document
let refreshing = null;

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

const random = () => base64url(crypto.getRandomValues(new Uint8Array(32)));
const kept = () => JSON.parse(store.getItem("tokens") ?? "null");

async function signIn(silent) {
  const pending = { state: random(), nonce: random(), verifier: random() };
  store.setItem("pending", JSON.stringify(pending));
  store.setItem("tried", "yes");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(pending.verifier));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: config.redirect_uri,
    scope: "openid profile",
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: base64url(digest),
    code_challenge_method: "S256",
  });
  // Silent: signed in by the browser's central session, else back at once (login_required)
  if (silent) query.set("prompt", "none");
  location.assign(`${provider.authorization_endpoint}?${query}`);
}

async function token(form) {
  const answer = await fetch(provider.token_endpoint, {
    method: "POST",
    body: new URLSearchParams({ ...form, client_id: config.client_id }),
  });
  const body = await answer.json();
  if (!answer.ok) {
    throw Object.assign(new Error(body.error_description ?? body.error), { code: body.error });
  }
  return body;
}

// The ID token came straight from the token endpoint (TLS, or loopback here): its claims
// are checked, its signature need not be (OpenID Connect Core 1.0 §3.1.3.7, 6).
function checked(idToken, nonce) {
  const part = idToken.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
  const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
  const audience = [].concat(claims.aud);
  if (
    claims.iss !== provider.issuer ||
    !audience.includes(config.client_id) ||
    claims.exp * 1000 < Date.now() ||
    (nonce !== undefined && claims.nonce !== nonce)
  ) {
    throw new Error("the ID token is not for this sign-in");
  }
  return claims;
}

function keep(tokens, claims) {
  const { access_token, refresh_token, id_token } = tokens;
  store.setItem("tokens", JSON.stringify({ access_token, refresh_token, id_token, claims }));
}

async function finishSignIn(params) {
  const pending = JSON.parse(store.getItem("pending") ?? "null");
  store.removeItem("pending");
  history.replaceState(null, "", "/"); // the code leaves the address bar
  if (!pending || params.get("state") !== pending.state) {
    throw new Error("no sign-in of this tab is under way");
  }
  if (params.get("iss") !== provider.issuer) throw new Error("the answer is not the issuer's");
  if (params.has("error")) return; // login_required: no central session, still signed out
  const tokens = await token({
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: config.redirect_uri,
    code_verifier: pending.verifier,
  });
  keep(tokens, checked(tokens.id_token, pending.nonce));
}

// One refresh at a time: a refresh token presented twice would be reuse, which ends the grant.
function refresh() {
  refreshing ??= rotate().finally(() => (refreshing = null));
  return refreshing;
}

async function rotate() {
  const before = kept();
  if (!before) return;
  try {
    const tokens = await token({ grant_type: "refresh_token", refresh_token: before.refresh_token });
    keep({ id_token: before.id_token, ...tokens }, tokens.id_token ? checked(tokens.id_token) : before.claims);
    $("notice").textContent = `Refreshed at ${new Date().toLocaleTimeString()}.`;
  } catch (error) {
    if (error.code !== "invalid_grant") {
      $("notice").textContent = `The refresh failed (${error.message}); retrying later.`;
      return;
    }
    store.removeItem("tokens");
    $("notice").textContent = "Your session has ended.";
  }
  render();
}

function signOut() {
  const { id_token } = kept();
  store.removeItem("tokens");
  const query = new URLSearchParams({
    id_token_hint: id_token,
    post_logout_redirect_uri: config.redirect_uri,
  });
  location.assign(`${provider.end_session_endpoint}?${query}`);
}

function render() {
  const tokens = kept();
  const claims = tokens?.claims;
  $("status").textContent = tokens
    ? `Signed in as ${claims.preferred_username ?? claims.sub}.`
    : "Signed out.";
  $("sid").textContent = claims?.sid ?? "";
  $("signed-in").hidden = !tokens;
  $("sign-in").hidden = Boolean(tokens);
}

async function main() {
  config = await (await fetch("/config.json")).json();
  provider = await (await fetch(`${config.issuer}/.well-known/openid-configuration`)).json();
  $("sign-in").addEventListener("click", () => signIn(false));
  $("refresh").addEventListener("click", refresh);
  $("sign-out").addEventListener("click", signOut);
  const params = new URLSearchParams(location.search);
  try {
    if (params.has("state")) {
      await finishSignIn(params);
    } else if (!kept() && !store.getItem("tried")) {
      return signIn(true); // once per tab: an app opened beside another is signed in too
    }
  } catch (error) {
    $("notice").textContent = `Sign-in failed: ${error.message}`;
  }
  render();
  setInterval(refresh, config.refresh_seconds * 1000);
}

main();
