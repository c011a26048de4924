<?php
/**
 * Verifying Gerbang's requests in a PHP OPD app: the `X-Gerbang-Assertion` (docs/assertion.md) and, for apps whose
 * integrity mode is `signed` or `ledger`, the hub's RFC 9421 message signature with its Content-Digest
 * (docs/integrity.md).
 *
 * One file, PHP 8.1+, standard extensions only (openssl, json, hash; apcu for the JWKS and replay caches when
 * present; phpredis for a replay cache shared by several hosts). It behaves as the Python verifiers do (gateway/assertion.py, gateway/integrity/http_signatures.py):
 * tests/integration/test_php_recipe.py runs it behind a real hub. Usage (example.php is a complete front script):
 *
 *     require __DIR__ . '/gerbang.php';
 *     $jwks = gerbang_jwks_from('https://gerbang.palembang.go.id/auth/jwks');
 *     try {
 *         $body = file_get_contents('php://input');
 *         gerbang_verify_signature($jwks, ['https://e-budgeting.apps.palembang.go.id'], $body);  // signed apps only
 *         $claims = gerbang_verify_assertion($jwks, 'https://gerbang.palembang.go.id',
 *                                            'https://e-budgeting.apps.palembang.go.id/');
 *     } catch (GerbangRejected $e) {
 *         gerbang_refuse($e);  // 401, 403 or 503, application/problem+json
 *     }
 *
 * Every refusal is a GerbangRejected whose `status` is 401 (nothing from the hub), 403 (something wrong) or 503 (the
 * replay store cannot answer); its message is safe to show.
 */

declare(strict_types=1);

const GERBANG_ASSERTION_TYP = 'gerbang-assertion+jwt';
const GERBANG_ALGS = ['ES256' => 'EC', 'RS256' => 'RSA'];
const GERBANG_FORBIDDEN_HEADERS = ['jku', 'jwk', 'x5u', 'x5c', 'crit'];
const GERBANG_MAX_LIFETIME = 60;
const GERBANG_LEEWAY = 5;
const GERBANG_SIGNATURE_LABEL = 'gerbang';
const GERBANG_SIGNATURE_ALG = 'ecdsa-p256-sha256';
const GERBANG_COMPONENTS = ['@method', '@target-uri', 'content-digest', 'x-gerbang-assertion', 'x-request-id'];
// SubjectPublicKeyInfo of a P-256 key up to its BIT STRING: SEQUENCE { id-ecPublicKey, prime256v1 }, then 04 || x || y.
const GERBANG_P256_SPKI_PREFIX = "\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00";
// AlgorithmIdentifier { rsaEncryption, NULL }.
const GERBANG_RSA_ALGORITHM = "\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00";

/** The request did not come through the hub as received (or not for this app). */
final class GerbangRejected extends RuntimeException
{
    public function __construct(string $message, public readonly int $status = 403)
    {
        parent::__construct($message);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The assertion (docs/assertion.md, "Verification rules")
// ---------------------------------------------------------------------------------------------------------------

/**
 * The verified claims of the request's `X-Gerbang-Assertion` (or of `$token`). `$jwks`: the hub's JWKS as an array,
 * or a callable `fn(?string $kid): array` that may refetch it for an unknown kid (gerbang_jwks_from).
 * Throws GerbangRejected: 401 when there is no assertion, 403 when it breaks any rule.
 */
function gerbang_verify_assertion(array|callable $jwks, string $issuer, string $audience, ?string $token = null): array
{
    $token ??= $_SERVER['HTTP_X_GERBANG_ASSERTION'] ?? '';
    [$alg, $kid] = gerbang_check_assertion_header($token);
    $key = gerbang_assertion_keys(gerbang_key_set($jwks, $kid))[$kid] ?? null;
    if ($key === null || $key['alg'] !== $alg) {
        throw new GerbangRejected('the assertion was not signed by a key of the hub');
    }
    [$header, $payload, $signature] = explode('.', $token);
    $raw = gerbang_b64url_decode($signature);
    if ($raw === null || !gerbang_verify_jws($alg, "$header.$payload", $raw, $key['pem'])) {
        throw new GerbangRejected('the assertion signature is invalid');
    }
    $claims = gerbang_json_object(gerbang_b64url_decode($payload) ?? '');
    if ($claims === null) {
        throw new GerbangRejected('the assertion signature is invalid');
    }
    gerbang_check_claims($claims, rtrim($issuer, '/'), $audience, time());
    return $claims;
}

/** [alg, kid] of an acceptable assertion header; the checks that need no key. */
function gerbang_check_assertion_header(string $token): array
{
    if ($token === '') {
        throw new GerbangRejected('this app is reachable only through Gerbang', 401);
    }
    if (substr_count($token, '.') !== 2) {
        throw new GerbangRejected('the assertion is not a signed JWT');
    }
    $header = gerbang_json_object(gerbang_b64url_decode(explode('.', $token)[0]) ?? '');
    if ($header === null) {
        throw new GerbangRejected('the assertion header is malformed');
    }
    $alg = $header['alg'] ?? null;
    if (!is_string($alg) || !isset(GERBANG_ALGS[$alg])) {
        throw new GerbangRejected('the assertion algorithm is not accepted');
    }
    if (!is_string($header['typ'] ?? null) || strtolower($header['typ']) !== GERBANG_ASSERTION_TYP) {
        throw new GerbangRejected('the assertion has the wrong type (typ)');
    }
    if (array_intersect(array_keys($header), GERBANG_FORBIDDEN_HEADERS)) {
        throw new GerbangRejected('the assertion header names its own key or extensions');
    }
    $kid = $header['kid'] ?? null;
    if (!is_string($kid) || $kid === '') {
        throw new GerbangRejected('the assertion header has no key id (kid)');
    }
    return [$alg, $kid];
}

function gerbang_check_claims(array $claims, string $issuer, string $audience, int $now): void
{
    foreach (['iat', 'exp'] as $name) {
        if (!is_int($claims[$name] ?? null)) {
            throw new GerbangRejected("the assertion has no valid $name");
        }
    }
    if (!is_string($claims['jti'] ?? null)) {
        throw new GerbangRejected('the assertion has no jti');
    }
    if (array_key_exists('sub', $claims) && !is_string($claims['sub'])) {
        throw new GerbangRejected('the assertion has no valid sub');  // pyjwt refuses it too
    }
    if (($claims['iss'] ?? null) !== $issuer) {
        throw new GerbangRejected('the assertion was issued by someone else (iss)');
    }
    $aud = $claims['aud'] ?? null;
    if (!($aud === $audience || (is_array($aud) && array_is_list($aud) && in_array($audience, $aud, true)))) {
        throw new GerbangRejected('the assertion is meant for another app (aud)');
    }
    if ($claims['exp'] + GERBANG_LEEWAY <= $now) {
        throw new GerbangRejected('the assertion has expired');
    }
    if ($claims['iat'] - GERBANG_LEEWAY > $now) {
        throw new GerbangRejected('the assertion was issued in the future (iat)');
    }
    if ($claims['exp'] - $claims['iat'] > GERBANG_MAX_LIFETIME) {
        throw new GerbangRejected('the assertion lives longer than allowed');
    }
}

/** kid => ['alg' => ..., 'pem' => ...]: the JWKS's keys that may sign an assertion (never message keys). */
function gerbang_assertion_keys(array $jwks): array
{
    $keys = [];
    foreach (is_array($jwks['keys'] ?? null) ? $jwks['keys'] : [] as $jwk) {
        if (!is_array($jwk) || isset($jwk['d']) || ($jwk['use'] ?? 'sig') !== 'sig' || isset($jwk['gerbang_use'])) {
            continue;  // a key marked gerbang_use signs HTTP messages, never a JWS
        }
        $kid = $jwk['kid'] ?? null;
        $alg = $jwk['alg'] ?? null;
        if (is_string($kid) && is_string($alg) && isset(GERBANG_ALGS[$alg]) && ($jwk['kty'] ?? null) === GERBANG_ALGS[$alg]) {
            $pem = $alg === 'ES256' ? gerbang_p256_pem($jwk) : gerbang_rsa_pem($jwk);
            if ($pem !== null) {
                $keys[$kid] = ['alg' => $alg, 'pem' => $pem];
            }
        }
    }
    return $keys;
}

function gerbang_verify_jws(string $alg, string $signing_input, string $signature, string $pem): bool
{
    if ($alg === 'ES256') {
        if (strlen($signature) !== 64) {
            return false;
        }
        $signature = gerbang_ecdsa_der(substr($signature, 0, 32), substr($signature, 32));
    }
    return openssl_verify($signing_input, $signature, $pem, OPENSSL_ALGO_SHA256) === 1;
}

// ---------------------------------------------------------------------------------------------------------------
// The message signature (docs/integrity.md, "Verifying in the app")
// ---------------------------------------------------------------------------------------------------------------

/**
 * Checks the hub's RFC 9421 signature on the current request and that `$body` is the signed Content-Digest.
 * `$origins`: the app's own origins (`https://e-budgeting.apps.palembang.go.id`), the first the default.
 * `$first_use`: `fn(string $nonce, int $expires): bool`, true the first time a nonce is seen (default: apcu, one
 * machine; several hosts share one in Redis with gerbang_redis_first_use); it may throw GerbangRejected(…, 503).
 * `$server`: the request as `$_SERVER` describes it (the default).
 */
function gerbang_verify_signature(
    array|callable $jwks,
    array $origins,
    string $body,
    ?callable $first_use = null,
    ?array $server = null,
): void {
    $server ??= $_SERVER;
    $input = (string) ($server['HTTP_SIGNATURE_INPUT'] ?? '');
    $signature = (string) ($server['HTTP_SIGNATURE'] ?? '');
    if ($input === '' || $signature === '') {
        throw new GerbangRejected('this app accepts only requests signed by Gerbang', 401);
    }
    $member = gerbang_read_member($input, GERBANG_SIGNATURE_LABEL);
    $signed = gerbang_read_member($signature, GERBANG_SIGNATURE_LABEL);
    if ($member === null || $signed === null || !str_starts_with($signed, ':')) {
        throw new GerbangRejected('the request carries no Gerbang signature', 401);
    }
    [$components, $params] = gerbang_parse_signature_input($member);
    gerbang_check_signature_params($components, $params, time());
    $pem = gerbang_message_keys(gerbang_key_set($jwks, $params['keyid']))[$params['keyid']] ?? null;
    if ($pem === null) {
        throw new GerbangRejected('the signature names a key the hub does not publish for messages');
    }
    $values = gerbang_component_values($server, $origins);
    $raw = gerbang_b64_decode(trim($signed, ':'));
    if ($raw === null) {
        throw new GerbangRejected('the signature is not base64');
    }
    if (!gerbang_verify_jws('ES256', gerbang_signature_base($values, trim($member)), $raw, $pem)) {
        throw new GerbangRejected(
            'the signature does not match the request (method, target, digest, assertion or request id changed after signing)'
        );
    }
    if (gerbang_parse_content_digest($values['content-digest']) !== hash('sha256', $body, true)) {
        throw new GerbangRejected('the body does not match its signed Content-Digest');
    }
    if (!($first_use ?? 'gerbang_apcu_first_use')($params['nonce'], $params['expires'])) {
        throw new GerbangRejected('this signed request was already received (replay)');
    }
}

/** The value of dictionary member `$label` in a Signature or Signature-Input field (RFC 8941 §3.2), or null. */
function gerbang_read_member(string $field, string $label): ?string
{
    $member = '/\G\s*([a-z*][a-z0-9_.*-]*)=(\((?:[^()"]|"(?:[^"\\\\]|\\\\.)*")*\)(?:;[^,]*)?|:[A-Za-z0-9+\/=]*:)\s*/';
    $found = null;
    $position = 0;
    while ($position < strlen($field)) {
        if (!preg_match($member, $field, $match, 0, $position)) {
            throw new GerbangRejected('the signature fields are malformed');
        }
        if ($match[1] === $label) {
            if ($found !== null) {
                throw new GerbangRejected('the signature label appears twice');
            }
            $found = $match[2];
        }
        $position += strlen($match[0]);
        if ($position < strlen($field)) {
            if ($field[$position] !== ',') {
                throw new GerbangRejected('the signature fields are malformed');
            }
            $position++;
        }
    }
    return $found;
}

/** [covered components, parameters] of one Signature-Input member. */
function gerbang_parse_signature_input(string $member): array
{
    $close = strpos($member, ')');
    if (!str_starts_with($member, '(') || $close === false) {
        throw new GerbangRejected('the signature input is not an inner list');
    }
    preg_match_all('/"([^"]*)"/', substr($member, 1, $close - 1), $names);
    $rest = substr($member, $close + 1);
    preg_match_all('/;([a-z*][a-z0-9_.*-]*)=("(?:[^"\\\\]|\\\\.)*"|-?\d{1,15})/', $rest, $found, PREG_SET_ORDER);
    $params = [];
    foreach ($found as [, $name, $raw]) {
        if (array_key_exists($name, $params)) {
            throw new GerbangRejected("the signature parameter $name appears twice");
        }
        $params[$name] = $raw[0] === '"' ? substr($raw, 1, -1) : (int) $raw;
    }
    if (implode('', array_column($found, 0)) !== trim($rest)) {
        throw new GerbangRejected('the signature parameters are malformed');
    }
    return [$names[1], $params];
}

function gerbang_check_signature_params(array $components, array $params, int $now): void
{
    if ($components !== GERBANG_COMPONENTS || ($params['alg'] ?? null) !== GERBANG_SIGNATURE_ALG
        || ($params['tag'] ?? null) !== GERBANG_SIGNATURE_LABEL) {
        throw new GerbangRejected('the signature does not cover what Gerbang signs');
    }
    if (!is_int($params['created'] ?? null) || !is_int($params['expires'] ?? null)
        || !is_string($params['nonce'] ?? null) || !is_string($params['keyid'] ?? null)
        || strlen($params['nonce']) < 16) {
        throw new GerbangRejected('the signature parameters are incomplete');
    }
    if ($params['created'] - GERBANG_LEEWAY > $now) {
        throw new GerbangRejected('the signature was created in the future');
    }
    if ($params['expires'] + GERBANG_LEEWAY <= $now || $params['expires'] - $params['created'] > GERBANG_MAX_LIFETIME) {
        throw new GerbangRejected('the signature has expired');
    }
}

/** The covered components' values as this request arrived. */
function gerbang_component_values(array $server, array $origins): array
{
    $values = [
        '@method' => strtoupper((string) ($server['REQUEST_METHOD'] ?? 'GET')),
        '@target-uri' => gerbang_origin($server, $origins) . ($server['REQUEST_URI'] ?? '/'),
    ];
    foreach (array_slice(GERBANG_COMPONENTS, 2) as $name) {
        $value = $server['HTTP_' . strtoupper(str_replace('-', '_', $name))] ?? null;
        if ($value === null) {
            throw new GerbangRejected("the signed header $name is missing");
        }
        $values[$name] = trim((string) $value);
    }
    return $values;
}

/**
 * The origin the client addressed: `X-Forwarded-Proto://X-Forwarded-Host` as the gateway sends them (the app's
 * registered host, never the client's), which must be one of the app's origins; the first origin without them.
 */
function gerbang_origin(array $server, array $origins): string
{
    $origins = array_map(fn (string $origin): string => rtrim($origin, '/'), $origins);
    if (!$origins) {
        throw new InvalidArgumentException("give the app's origin(s)");
    }
    $host = trim((string) ($server['HTTP_X_FORWARDED_HOST'] ?? ''));
    $proto = trim((string) ($server['HTTP_X_FORWARDED_PROTO'] ?? ''));
    if ($host === '' || $proto === '') {
        return $origins[0];
    }
    $origin = strtolower($proto) . '://' . strtolower($host);
    if (!in_array($origin, $origins, true)) {
        throw new GerbangRejected("the request was addressed to another origin than this app's");
    }
    return $origin;
}

/** RFC 9421 §2.5: one line per covered component, then "@signature-params". */
function gerbang_signature_base(array $values, string $params): string
{
    $lines = [];
    foreach (GERBANG_COMPONENTS as $name) {
        $lines[] = "\"$name\": " . $values[$name];
    }
    $lines[] = "\"@signature-params\": $params";
    return implode("\n", $lines);
}

/** The SHA-256 (32 raw bytes) a Content-Digest field states, or null. */
function gerbang_parse_content_digest(string $value): ?string
{
    if (!preg_match('/(?:^|,)\s*sha-256\s*=\s*:([A-Za-z0-9+\/]*={0,2}):\s*(?:;[^,]*)?(?=,|$)/', $value, $match)) {
        return null;
    }
    $digest = gerbang_b64_decode($match[1]);
    return $digest !== null && strlen($digest) === 32 ? $digest : null;
}

/** kid => PEM: the hub's P-256 keys marked `"gerbang_use": "http-message"` (they never sign an assertion). */
function gerbang_message_keys(array $jwks): array
{
    $keys = [];
    foreach (is_array($jwks['keys'] ?? null) ? $jwks['keys'] : [] as $jwk) {
        if (is_array($jwk) && ($jwk['gerbang_use'] ?? null) === 'http-message' && ($jwk['kty'] ?? null) === 'EC'
            && ($jwk['crv'] ?? null) === 'P-256' && !isset($jwk['d']) && is_string($jwk['kid'] ?? null)) {
            $pem = gerbang_p256_pem($jwk);
            if ($pem !== null) {
                $keys[$jwk['kid']] = $pem;
            }
        }
    }
    return $keys;
}

/** The default replay cache: apcu, shared by the PHP processes of one machine (php-fpm pool, `php -S`). */
function gerbang_apcu_first_use(string $nonce, int $expires): bool
{
    if (!function_exists('apcu_add') || !apcu_enabled()) {
        // Without a shared store every process would accept a copy: refuse, as the Python verifier's Redis cache does.
        throw new GerbangRejected('the app cannot check this request for replay now', 503);
    }
    return apcu_add('gerbang:nonce:' . $nonce, 1, max(1, $expires + 10 - time()));
}

/**
 * A replay cache shared by every host of the app, in Redis (the phpredis extension, `php-redis`): one
 * `SET <prefix><nonce> 1 NX EX <until expiry + 10 s>` per signed request, so a copy sent to another host is refused
 * too. Connects on first use. Fails closed: while Redis cannot answer, signed requests are refused with 503 (a
 * per-host fallback would let a copy through to another host for the signature's lifetime).
 */
function gerbang_redis_first_use(
    string $host,
    int $port = 6379,
    float $timeout = 0.25,
    string $prefix = 'gerbang:nonce:',
): Closure {
    if (!class_exists('Redis')) {
        throw new LogicException('gerbang_redis_first_use needs the phpredis extension (php-redis)');
    }
    $redis = null;
    return function (string $nonce, int $expires) use (&$redis, $host, $port, $timeout, $prefix): bool {
        try {
            if ($redis === null) {
                $redis = new Redis();
                $redis->connect($host, $port, $timeout);
                $redis->setOption(Redis::OPT_READ_TIMEOUT, $timeout);
            }
            return (bool) $redis->set($prefix . $nonce, '1', ['nx', 'ex' => max(1, $expires + 10 - time())]);
        } catch (RedisException) {
            $redis = null;
            throw new GerbangRejected('the app cannot check this request for replay now', 503);
        }
    };
}

// ---------------------------------------------------------------------------------------------------------------
// The hub's JWKS
// ---------------------------------------------------------------------------------------------------------------

/**
 * A JWKS source for the verifiers: fetches `$url` (`{issuer}/auth/jwks`), caches it in apcu (when present) for
 * `$max_age` seconds, refetches for an unknown kid at most once per `$min_refresh` seconds, keeps the keys it has
 * when a fetch fails.
 */
function gerbang_jwks_from(string $url, int $max_age = 300, int $min_refresh = 10, float $timeout = 3.0): Closure
{
    return function (?string $kid) use ($url, $max_age, $min_refresh, $timeout): array {
        $cached = GerbangCache::fetch('gerbang:jwks:' . $url);
        $kids = array_column(is_array($cached['jwks']['keys'] ?? null) ? $cached['jwks']['keys'] : [], 'kid');
        if ($cached !== null && ($kid === null || in_array($kid, $kids, true)) && time() - $cached['at'] < $max_age) {
            return $cached['jwks'];
        }
        // With keys at hand, at most one fetch per $min_refresh seconds: made-up kids cannot make the app hammer
        // the hub. With none yet, every process fetches (a closed gate would refuse requests while another fetches).
        $gate = GerbangCache::first('gerbang:jwks-fetch:' . $url, $min_refresh);
        $jwks = $gate || $cached === null ? gerbang_fetch_json($url, $timeout) : null;
        if ($jwks === null) {
            return $cached['jwks'] ?? ['keys' => []];  // keep the keys we have
        }
        GerbangCache::store('gerbang:jwks:' . $url, ['jwks' => $jwks, 'at' => time()]);
        return $jwks;
    };
}

function gerbang_key_set(array|callable $jwks, string $kid): array
{
    return is_array($jwks) ? $jwks : $jwks($kid);
}

function gerbang_fetch_json(string $url, float $timeout): ?array
{
    if (!preg_match('#^https?://#', $url)) {
        throw new InvalidArgumentException('the JWKS URL must be http(s)');
    }
    $context = stream_context_create(['http' => [
        'timeout' => $timeout,
        'header' => "Accept: application/jwk-set+json, application/json\r\n",
        'ignore_errors' => false,
    ]]);
    $text = @file_get_contents($url, false, $context, 0, 1 << 20);
    return $text === false ? null : gerbang_json_object($text);
}

/** The JWKS cache: apcu (every process of the machine) when present, else this request's memory. */
final class GerbangCache
{
    public static array $memory = [];

    public static function shared(): bool
    {
        return function_exists('apcu_fetch') && apcu_enabled();
    }

    public static function fetch(string $key): ?array
    {
        $value = self::shared() ? apcu_fetch($key) : (self::$memory[$key] ?? null);
        return is_array($value) ? $value : null;
    }

    public static function store(string $key, array $value): void
    {
        self::shared() ? apcu_store($key, $value) : self::$memory[$key] = $value;
    }

    /** True the first time within `$ttl` seconds (a gate shared by the machine's processes). */
    public static function first(string $key, int $ttl): bool
    {
        if (self::shared()) {
            return apcu_add($key, 1, max(1, $ttl));
        }
        $open = (self::$memory[$key] ?? 0) <= time();
        self::$memory[$key] = $open ? time() + $ttl : self::$memory[$key];
        return $open;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Encodings: base64url, JSON objects, DER for openssl
// ---------------------------------------------------------------------------------------------------------------

function gerbang_b64url_decode(string $text): ?string
{
    if (!preg_match('/^[A-Za-z0-9_-]*$/', $text) || strlen($text) % 4 === 1) {
        return null;
    }
    $decoded = base64_decode(strtr($text, '-_', '+/'), true);
    return $decoded === false ? null : $decoded;
}

/** Padded standard base64, strictly (as Python's b64decode(validate=True)), or null. */
function gerbang_b64_decode(string $text): ?string
{
    if (strlen($text) % 4 !== 0 || !preg_match('/^[A-Za-z0-9+\/]*={0,2}$/', $text)) {
        return null;
    }
    $decoded = base64_decode($text, true);
    return $decoded === false ? null : $decoded;
}

/** A JSON object as an array, or null (a JSON array, string or number is not an object). */
function gerbang_json_object(string $text): ?array
{
    try {
        $value = json_decode($text, false, 64, JSON_THROW_ON_ERROR);
    } catch (JsonException) {
        return null;
    }
    return $value instanceof stdClass ? json_decode($text, true, 64) : null;
}

/** PEM of an EC P-256 public JWK: the SubjectPublicKeyInfo prefix, then the uncompressed point 04 || x || y. */
function gerbang_p256_pem(array $jwk): ?string
{
    if (($jwk['crv'] ?? null) !== 'P-256' || !is_string($jwk['x'] ?? null) || !is_string($jwk['y'] ?? null)) {
        return null;
    }
    $x = gerbang_b64url_decode($jwk['x']);
    $y = gerbang_b64url_decode($jwk['y']);
    if ($x === null || $y === null || strlen($x) !== 32 || strlen($y) !== 32) {
        return null;
    }
    return gerbang_pem(GERBANG_P256_SPKI_PREFIX . "\x04" . $x . $y);
}

/** PEM of an RSA public JWK: SubjectPublicKeyInfo { rsaEncryption, BIT STRING { SEQUENCE { n, e } } }. */
function gerbang_rsa_pem(array $jwk): ?string
{
    $n = is_string($jwk['n'] ?? null) ? gerbang_b64url_decode($jwk['n']) : null;
    $e = is_string($jwk['e'] ?? null) ? gerbang_b64url_decode($jwk['e']) : null;
    if ($n === null || $e === null || ltrim($n, "\0") === '' || ltrim($e, "\0") === '') {
        return null;
    }
    $public_key = gerbang_der(0x30, gerbang_der_uint($n) . gerbang_der_uint($e));
    return gerbang_pem(gerbang_der(0x30, GERBANG_RSA_ALGORITHM . gerbang_der(0x03, "\0" . $public_key)));
}

/** An ECDSA signature as openssl wants it: SEQUENCE { INTEGER r, INTEGER s } from the JWS/RFC 9421 r || s. */
function gerbang_ecdsa_der(string $r, string $s): string
{
    return gerbang_der(0x30, gerbang_der_uint($r) . gerbang_der_uint($s));
}

/** A DER INTEGER of an unsigned big-endian number: leading zeros dropped, one added when the top bit is set. */
function gerbang_der_uint(string $bytes): string
{
    $bytes = ltrim($bytes, "\0");
    if ($bytes === '' || ord($bytes[0]) > 0x7f) {
        $bytes = "\0" . $bytes;
    }
    return gerbang_der(0x02, $bytes);
}

function gerbang_der(int $tag, string $content): string
{
    $length = strlen($content);
    if ($length < 0x80) {
        return chr($tag) . chr($length) . $content;
    }
    $octets = ltrim(pack('N', $length), "\0");
    return chr($tag) . chr(0x80 | strlen($octets)) . $octets . $content;
}

function gerbang_pem(string $der): string
{
    return "-----BEGIN PUBLIC KEY-----\n" . chunk_split(base64_encode($der), 64, "\n") . "-----END PUBLIC KEY-----\n";
}

// ---------------------------------------------------------------------------------------------------------------
// Answering a refusal
// ---------------------------------------------------------------------------------------------------------------

/** Answers the refusal as the Python middleware does (RFC 9457 problem+json) and ends the script. */
function gerbang_refuse(GerbangRejected $error): never
{
    $titles = [401 => 'Unauthorized', 403 => 'Forbidden', 503 => 'Service Unavailable'];
    http_response_code($error->status);
    header('Content-Type: application/problem+json');
    echo json_encode([
        'type' => 'about:blank',
        'title' => $titles[$error->status] ?? 'Forbidden',
        'status' => $error->status,
        'detail' => $error->getMessage(),
    ]);
    exit;
}
