// A FAPI 2.0 relying party built on npm `openid-client` v6, run against Gerbang by
// tests/integration/test_rp_openid_client_fapi.py. Protocol on stdio, one JSON object per line:
//   stdin  (first line): {"issuer", "client_id", "client_jwk" (private, with kid and alg), "redirect_uri", "scope",
//                         "api_url"?, "api_resource"?, "api_scope"?}
//   stdout: {"authorization_url"}        — Python plays the person at the login/consent pages
//   stdin : {"callback_url"}
//   stdout: {"ok": true, ...results} or {"ok": false, "error", "step"}
// PAR + JAR (signed request object inside the pushed request) + DPoP (one key for every request) +
// private_key_jwt; then refresh and UserInfo with DPoP, and a DPoP call to an app through the gateway.
import * as client from "openid-client";
import * as readline from "node:readline";

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const nextJson = async () => JSON.parse((await lines.next()).value);
const say = (value) => process.stdout.write(JSON.stringify(value) + "\n");
const ALGORITHMS = {
  ES256: { name: "ECDSA", namedCurve: "P-256" },
  PS256: { name: "RSA-PSS", hash: "SHA-256" },
};

let step = "discovery";
try {
  const input = await nextJson();
  const { d, ...publicPart } = input.client_jwk; // eslint: the private key stays in this process
  const cryptoKey = await crypto.subtle.importKey("jwk", input.client_jwk, ALGORITHMS[input.client_jwk.alg], false,
                                                  ["sign"]);
  const clientKey = { key: cryptoKey, kid: publicPart.kid };
  const config = await client.discovery(new URL(input.issuer), input.client_id,
    { id_token_signed_response_alg: input.id_token_alg ?? "ES256" }, client.PrivateKeyJwt(clientKey),
    { execute: [client.allowInsecureRequests] });
  client.enableNonRepudiationChecks(config);
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair("ES256"));

  step = "par";
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const { searchParams: signed } = await client.buildAuthorizationUrlWithJAR(config, {
    redirect_uri: input.redirect_uri, scope: input.scope, nonce, state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
  }, clientKey);
  const url = await client.buildAuthorizationUrlWithPAR(config, signed, { DPoP });
  say({ authorization_url: url.href, pushed: url.searchParams.has("request_uri") });
  const { callback_url } = await nextJson();

  step = "code";
  const tokens = await client.authorizationCodeGrant(config, new URL(callback_url), {
    pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
  }, undefined, { DPoP });
  const claims = tokens.claims();

  step = "userinfo";
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });

  step = "refresh";
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });

  step = "userinfo-after-refresh";
  const userinfoAgain = await client.fetchUserInfo(config, refreshed.access_token, claims.sub, { DPoP });

  let api = null;
  if (input.api_url) {
    step = "client-credentials";
    const appToken = await client.clientCredentialsGrant(config,
      { resource: input.api_resource, scope: input.api_scope }, { DPoP });
    step = "gateway";
    const response = await client.fetchProtectedResource(config, appToken.access_token, new URL(input.api_url),
                                                         "GET", undefined, undefined, { DPoP });
    api = { status: response.status, body: await response.text(), token_type: appToken.token_type };
  }

  say({
    ok: true, token_type: tokens.token_type, refreshed_token_type: refreshed.token_type,
    id_token_claims: claims, userinfo, userinfo_after_refresh: userinfoAgain,
    access_token: refreshed.access_token, refresh_token: refreshed.refresh_token,
    refreshed_differs: refreshed.refresh_token !== tokens.refresh_token, api,
  });
} catch (error) {
  say({ ok: false, step, error: `${error.name}: ${error.message}`, code: error.code ?? null,
        cause: error.cause ? JSON.stringify(error.cause) : null });
}
