// node oidc-provider as the token-endpoint benchmark peer: one confidential client with the
// client_credentials grant; resource indicators (RFC 8707) turn the token into an ES256 JWT
// access token (RFC 9068) whose aud is the resource — the same work Gerbang's token endpoint does.
//
// Settings come from the environment (the benchmark sets them):
//   PORT, ISSUER, CLIENT_ID, CLIENT_SECRET, RESOURCE (the API's URL), SCOPE (default "api").
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const env = process.env;
const PORT = Number(env.PORT ?? 8082);
const ISSUER = env.ISSUER ?? `http://127.0.0.1:${PORT}`;
const RESOURCE = env.RESOURCE;
const SCOPE = env.SCOPE ?? 'api';

// A fresh P-256 signing key per run: the benchmark never needs it after the process exits.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: env.CLIENT_ID,
    client_secret: env.CLIENT_SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    scope: SCOPE,
  }],
  jwks: { keys: [signingKey] },
  scopes: [SCOPE],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) throw new Error('unknown resource');
        return {
          scope: SCOPE,
          audience: resourceIndicator,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});

provider.listen(PORT, '127.0.0.1');
