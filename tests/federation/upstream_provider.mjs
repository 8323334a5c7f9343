// The upstream identity provider of the federation tests: Node's oidc-provider (OpenID
// Certified, by Filip Skokan) on 127.0.0.1, with the clients and the private signing keys
// the test gives it (tests/federation/upstream.py starts it), and no login page: every
// authorization signs in as the "current account" (POST /test/account sets it) and is granted
// every scope and claim it asks for, so that a client following redirects goes from /auth
// straight to its redirect_uri with a code.
//
// UPSTREAM_CONFIG (JSON): {"port", "issuer", "clients": [{"client_id", "client_secret",
// "redirect_uris", "token_endpoint_auth_method"?}], "jwks": {"keys": [private JWKs]},
// "id_token_ttl"?}. OIDC_PROVIDER_MODULE: oidc-provider's entry (make oidc-provider installs
// it in .oidc-provider/; Node's ESM imports do not read NODE_PATH).
import { randomBytes } from "node:crypto";
import { fileURLToPath, pathToFileURL } from "node:url";

const config = JSON.parse(process.env.UPSTREAM_CONFIG);
const modulePath =
  process.env.OIDC_PROVIDER_MODULE ||
  fileURLToPath(
    new URL("../../.oidc-provider/node_modules/oidc-provider/lib/index.js", import.meta.url),
  );

// Silence only oidc-provider's notices that this harness expects: its in-memory store (the
// provider lives as long as one test) and Node 20 (oidc-provider 9 asks for Node 22 LTS).
const expected = [/in-memory adapter is used/, /Unsupported runtime/];
for (const name of ["warn", "info"]) {
  const original = console[name].bind(console);
  console[name] = (...args) => {
    if (typeof args[0] === "string" && expected.some((pattern) => pattern.test(args[0]))) return;
    original(...args);
  };
}

const { default: Provider } = await import(pathToFileURL(modulePath).href);

const CLAIMS = { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] };

// The accounts this provider knows, by sub; the current one signs in at every authorization.
const accounts = new Map();
let current;
function setAccount(account) {
  const { sub, email, email_verified: emailVerified = true, name } = account;
  if (typeof sub !== "string" || !sub) throw new TypeError("sub: a non-empty string");
  const claims = { sub, email_verified: Boolean(emailVerified) };
  if (email != null) claims.email = String(email);
  if (name != null) claims.name = String(name);
  accounts.set(sub, claims);
  current = sub;
}
setAccount({ sub: "upstream-user-1", email: "user1@upstream.test", email_verified: true });

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    token_endpoint_auth_method: "client_secret_basic",
    grant_types: ["authorization_code"],
    response_types: ["code"],
    id_token_signed_response_alg: "RS256",
    ...client,
  })),
  jwks: config.jwks,
  cookies: { keys: [randomBytes(32).toString("base64url")] },
  claims: CLAIMS,
  scopes: ["openid", "email", "profile"],
  // The scopes' claims in the ID token too, not only at userinfo (the code flow's default).
  conformIdTokenClaims: false,
  pkce: { required: () => true }, // S256 is the only method oidc-provider takes
  ttl: {
    IdToken: config.id_token_ttl ?? 60,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Grant: 3600,
    Session: 3600,
  },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    const claims = accounts.get(sub);
    if (!claims) return undefined;
    return { accountId: sub, claims: async () => ({ ...claims }) };
  },
});

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
}

// Ahead of oidc-provider's own routes (provider.use puts middleware before them).
provider.use(async (ctx, next) => {
  // Every authorization (its request at /auth and its resumption at /auth/<uid>) runs
  // without the upstream session an earlier one left in the browser's cookie: that session
  // would sign its account in again rather than the current one, and a login as another
  // account over it ends in a logout form rather than a redirect.
  if (/^\/auth(\/[^/]+)?$/.test(ctx.path) && ctx.req.headers.cookie) {
    const kept = ctx.req.headers.cookie
      .split(/;\s*/)
      .filter((pair) => !/^_session(\.[^=]*)?=/.test(pair));
    if (kept.length) ctx.req.headers.cookie = kept.join("; ");
    else delete ctx.req.headers.cookie;
  }

  if (ctx.path === "/test/account" && ctx.method === "POST") {
    try {
      setAccount(await readJson(ctx.req));
    } catch (error) {
      ctx.status = 400;
      ctx.body = { error: String(error.message || error) };
      return;
    }
    ctx.status = 204;
    return;
  }

  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (match && ctx.method === "GET") {
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params } = interaction;
    const result = {};
    let accountId = interaction.session?.accountId;
    if (prompt.name === "login") {
      accountId = current;
      result.login = { accountId };
    }
    // Consent given with the login: every scope asked for, and the claims they stand for.
    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    const scopes = String(params.scope || "").split(" ").filter(Boolean);
    grant.addOIDCScope(scopes.join(" "));
    grant.addOIDCClaims(scopes.flatMap((scope) => CLAIMS[scope] || []));
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(" "));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scope] of Object.entries(prompt.details.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scope.join(" "));
    }
    result.consent = { grantId: await grant.save() };
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
      mergeWithLastSubmission: false,
    });
    ctx.redirect(returnTo);
    ctx.status = 303;
    return;
  }

  await next();
});

const server = provider.listen(config.port, "127.0.0.1", () => {
  process.stdout.write(`listening ${config.issuer}\n`);
});
server.on("error", (error) => {
  process.stderr.write(`upstream provider: ${error.message}\n`);
  process.exit(1);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
