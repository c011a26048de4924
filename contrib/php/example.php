<?php
/**
 * A front script for a PHP OPD app behind Gerbang: every request is verified before the app sees it, and refused
 * as the Python middleware refuses it (401 nothing from the hub, 403 anything wrong, 503 the replay store cannot
 * answer; application/problem+json).
 *
 *     GERBANG_ISSUER=https://gerbang.palembang.go.id \
 *     GERBANG_AUDIENCE=https://e-budgeting.apps.palembang.go.id/ \
 *     GERBANG_ORIGINS=https://e-budgeting.apps.palembang.go.id \
 *     php -d apc.enable_cli=1 -S 127.0.0.1:8080 example.php
 *
 * GERBANG_ORIGINS (the app's origins, space-separated) turns on the message-signature check: set it for apps whose
 * integrity mode is `signed` or `ledger`, leave it empty for the others. GERBANG_REPLAY_REDIS (host:port) keeps
 * the nonces in Redis instead of apcu, for an app on several hosts. In a real app, write the values in place of
 * getenv() and put the app's own code where this one answers with what it verified.
 *
 * php://input is empty for multipart/form-data unless `enable_post_data_reading = Off`: a signed app that takes
 * uploads sets it, so the body hashed is the body received.
 */

declare(strict_types=1);

require __DIR__ . '/gerbang.php';

$issuer = getenv('GERBANG_ISSUER') ?: 'https://gerbang.palembang.go.id';
$audience = getenv('GERBANG_AUDIENCE') ?: 'https://e-budgeting.apps.palembang.go.id/';
$origins = preg_split('/\s+/', trim((string) getenv('GERBANG_ORIGINS')), -1, PREG_SPLIT_NO_EMPTY);
$jwks = gerbang_jwks_from(getenv('GERBANG_JWKS_URL') ?: "$issuer/auth/jwks");
// Several hosts (or no apcu): share the replay cache in Redis, e.g. GERBANG_REPLAY_REDIS=10.0.3.9:6379.
$redis = getenv('GERBANG_REPLAY_REDIS');
$first_use = $redis ? gerbang_redis_first_use(
    (string) parse_url("redis://$redis", PHP_URL_HOST),
    (int) (parse_url("redis://$redis", PHP_URL_PORT) ?: 6379),
    prefix: getenv('GERBANG_REPLAY_PREFIX') ?: 'gerbang:nonce:',
) : null;  // null: apcu

$body = (string) file_get_contents('php://input');
try {
    if ($origins) {
        gerbang_verify_signature($jwks, $origins, $body, $first_use);  // before the assertion, as gateway/assertion.py does
    }
    $claims = gerbang_verify_assertion($jwks, $issuer, $audience);
} catch (GerbangRejected $refusal) {
    gerbang_refuse($refusal);
}

header('Content-Type: application/json');
echo json_encode([
    'sub' => $claims['sub'] ?? null,            // null: nobody signed in (a public app, or a machine client alone)
    'client_id' => $claims['client_id'] ?? null,
    'roles' => $claims['roles'] ?? [],
    'method' => $_SERVER['REQUEST_METHOD'],
    'path' => $_SERVER['REQUEST_URI'],
    'body' => $body,
]);
