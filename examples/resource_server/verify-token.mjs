// A Node.js resource server verifying the service's access tokens with jose and the
// published JWKS (what the authorizer checks of the token itself; not revocation).
//
//   node verify-token.mjs https://<api>/.well-known/jwks.json <issuer> <audience> <token>
import { createRemoteJWKSet, jwtVerify } from "jose";

const [jwksUrl, issuer, audience, token] = process.argv.slice(2);
// Caches the keys and fetches again for an unknown kid (a rotation): one per process.
const keys = createRemoteJWKSet(new URL(jwksUrl), { cacheMaxAge: 300_000 });

const { payload } = await jwtVerify(token, keys, {
  issuer,
  audience,
  algorithms: ["RS256", "ES256", "EdDSA"],
  typ: "at+jwt",
  clockTolerance: 1,
  requiredClaims: ["exp", "iat", "sub", "sid"],
});
console.log(JSON.stringify(payload));
