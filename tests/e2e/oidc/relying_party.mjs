// A relying party of the service's OpenID Connect provider, built on Node's openid-client
// (OpenID Certified, by Filip Skokan): discovery, the authorization code flow with PKCE and
// a nonce, ID-token validation, userinfo, refresh, introspection, revocation and
// RP-initiated logout. The browser's part (the hosted sign-in page's form and its cookie)
// is played with fetch. It prints one JSON object of what each step gave;
// tests/e2e/test_sso_relying_party.py asserts on it.
import { pathToFileURL } from "node:url";

const env = process.env;
const client = await import(pathToFileURL(env.OPENID_CLIENT_MODULE).href);
const issuer = new URL(env.ISSUER);
const outcome = {};

const config = await client.discovery(issuer, env.CLIENT_ID, env.CLIENT_SECRET, undefined, {
  execute: [client.allowInsecureRequests], // the local run is http on loopback
});
outcome.issuer = config.serverMetadata().issuer;

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorizationUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: env.REDIRECT_URI,
  scope: "openid profile",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  state,
  nonce,
});

// The browser: to the sign-in page, its form, back to the authorization request
let answer = await fetch(authorizationUrl, { redirect: "manual" });
const signIn = new URL(answer.headers.get("location"), issuer);
outcome.signInPage = signIn.pathname;
answer = await fetch(new URL("/signin", issuer), {
  method: "POST",
  redirect: "manual",
  headers: { "content-type": "application/x-www-form-urlencoded", origin: issuer.origin },
  body: new URLSearchParams({
    request: signIn.searchParams.get("request"),
    username: env.USERNAME,
    password: env.PASSWORD,
  }),
});
outcome.signInStatus = answer.status;
const cookie = answer.headers.get("set-cookie").split(";")[0];
answer = await fetch(new URL(answer.headers.get("location"), issuer), {
  redirect: "manual",
  headers: { cookie },
});
const callback = new URL(answer.headers.get("location"));

// The app: the code for tokens, the ID token validated by openid-client
const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
outcome.idToken = { sub: claims.sub, aud: claims.aud, nonce: claims.nonce, sid: claims.sid, amr: claims.amr };
outcome.userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
outcome.refreshRotated = refreshed.refresh_token !== tokens.refresh_token;
outcome.introspected = (await client.tokenIntrospection(config, refreshed.access_token)).active;

await client.tokenRevocation(config, refreshed.refresh_token);
try {
  await client.refreshTokenGrant(config, refreshed.refresh_token);
  outcome.afterRevocation = "refreshed";
} catch (error) {
  outcome.afterRevocation = error.error ?? error.code;
}

// RP-initiated logout: the central session ends, and every token of it with it
const logout = client.buildEndSessionUrl(config, {
  id_token_hint: tokens.id_token,
  post_logout_redirect_uri: env.POST_LOGOUT_REDIRECT_URI,
  state: "bye",
});
answer = await fetch(logout, { redirect: "manual", headers: { cookie } });
outcome.logoutRedirect = answer.headers.get("location");
outcome.activeAfterLogout = (await client.tokenIntrospection(config, refreshed.access_token)).active;

console.log(JSON.stringify(outcome));
