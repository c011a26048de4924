// A relying party built on npm `openid-client` (OpenID Certified), run against the provider by
// tests/integration/test_rp_openid_client.py. Protocol on stdio, one JSON object per line:
//   stdin  (first line): {"issuer", "client_id", "client_secret", "redirect_uri", "scope"}
//   stdout: {"authorization_url"}        — Python plays the person at the login/consent pages
//   stdin : {"callback_url"}             — where the provider sent the browser back
//   stdout: {"ok": true, ...results} or {"ok": false, "error", "step"}
import * as client from "openid-client";
import * as readline from "node:readline";

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const nextJson = async () => JSON.parse((await lines.next()).value);
const say = (value) => process.stdout.write(JSON.stringify(value) + "\n");

let step = "discovery";
try {
  const input = await nextJson();
  // http on loopback only in tests; the check stays on for everything else openid-client does.
  const config = await client.discovery(new URL(input.issuer), input.client_id,
    { id_token_signed_response_alg: "ES256" }, client.ClientSecretBasic(input.client_secret),
    { execute: [client.allowInsecureRequests] });
  client.enableNonRepudiationChecks(config); // verify ID token signatures through jwks_uri

  step = "authorization";
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirect_uri, scope: input.scope, nonce, state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
  });
  say({ authorization_url: url.href });
  const { callback_url } = await nextJson();

  step = "code";
  const tokens = await client.authorizationCodeGrant(config, new URL(callback_url), {
    pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
  });
  const claims = tokens.claims();

  step = "userinfo";
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  step = "refresh";
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);

  step = "introspection";
  const introspected = await client.tokenIntrospection(config, refreshed.access_token);

  step = "revocation";
  await client.tokenRevocation(config, refreshed.refresh_token);
  const afterRevocation = await client.tokenIntrospection(config, refreshed.refresh_token);

  say({
    ok: true, issuer: config.serverMetadata().issuer, id_token_claims: claims, userinfo,
    refreshed_differs: refreshed.access_token !== tokens.access_token
      && refreshed.refresh_token !== tokens.refresh_token,
    introspected, refresh_active_after_revocation: afterRevocation.active,
  });
} catch (error) {
  say({ ok: false, step, error: `${error.name}: ${error.message}`, code: error.code ?? null,
        cause: error.cause ? JSON.stringify(error.cause) : null });
}
