-- Forged, tampered, expired, wrong-audience and oversized tokens.
-- Uses a known operator secret (multitenant.jwt_secret) so the test can
-- sign tokens itself with pgcrypto, as any JWT library would.
\set ON_ERROR_STOP 1
\set QUIET 1
CREATE EXTENSION IF NOT EXISTS pgcrypto;
ALTER SYSTEM SET multitenant.jwt_secret = 'test-secret-0123456789-abcdefghijklmnop';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql AS
$$ SELECT translate(rtrim(encode(b, 'base64'), '='), E'+/\n', '-_') $$;
CREATE FUNCTION pg_temp.jwt(header text, payload text, key text DEFAULT 'test-secret-0123456789-abcdefghijklmnop')
RETURNS text LANGUAGE sql AS $$
    SELECT s || '.' || pg_temp.b64url(hmac(convert_to(s, 'UTF8'), convert_to(key, 'UTF8'), 'sha256'))
    FROM (SELECT pg_temp.b64url(convert_to(header, 'UTF8')) || '.' || pg_temp.b64url(convert_to(payload, 'UTF8')) AS s) q
$$;
CREATE FUNCTION pg_temp.claims(tid uuid, exp_offset int DEFAULT 3600, extra text DEFAULT '')
RETURNS text LANGUAGE sql AS $$
    SELECT format('{"tid":"%s","exp":%s%s}', tid, extract(epoch FROM now())::bigint + exp_offset, extra)
$$;
CREATE FUNCTION pg_temp.set_token(t text) RETURNS void LANGUAGE sql AS
$$ SELECT set_config('multitenant.token', t, false) $$;
CREATE FUNCTION pg_temp.accepts(t text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('multitenant.token', t, true);
    RETURN true;
EXCEPTION WHEN OTHERS THEN
    RETURN false;
END $$;
CREATE FUNCTION pg_temp.errors_of(t text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE m text; d text;
BEGIN
    PERFORM set_config('multitenant.token', t, true);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
    RETURN NEXT m;
    RETURN NEXT d;
END $$;

SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
\set hdr '{"alg":"HS256","typ":"JWT"}'
\set QUIET 0

SELECT plan(38);

-- a correctly signed external token works (any JWT library can mint one)
SELECT lives_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme'))),
                'externally signed HS256 token is accepted');
SELECT is(mt.current_tenant(), :'acme'::uuid, 'context is the token''s tenant');
SELECT lives_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', 3600, ',"aud":"' || current_database() || '"'))),
                'matching audience is accepted');
SELECT lives_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', 3600, ',"aud":["other","' || current_database() || '"]'))),
                'audience array containing this database is accepted');
SELECT lives_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt('{"typ":"JWT","alg":"HS256","kid":"x"}', pg_temp.claims(:'acme', 3600, ',"extra":{"nested":[1,2]}'))),
                'unknown header members and nested unknown claims are ignored');

-- from here on the context is Globex; every rejected SET must leave it so
SELECT pg_temp.set_token(mt.tenant_token(:'globex'));

SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme'), 'wrong-secret-0123456789-abcdefghijklmnop')),
                 '28000', 'invalid tenant token', 'wrong secret is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.b64url('{"alg":"none","typ":"JWT"}') || '.' || pg_temp.b64url(convert_to(pg_temp.claims(:'acme'), 'UTF8')) || '.'),
                 '28000', 'invalid tenant token', 'alg none with empty signature is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt('{"alg":"none"}', pg_temp.claims(:'acme'))),
                 '28000', 'invalid tenant token', 'alg none with a signature is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt('{"alg":"HS512"}', pg_temp.claims(:'acme'))),
                 '28000', 'invalid tenant token', 'other algorithms are refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt('{"typ":"JWT"}', pg_temp.claims(:'acme'))),
                 '28000', 'invalid tenant token', 'missing alg is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt('{"alg":"HS256","crit":["exp"]}', pg_temp.claims(:'acme'))),
                 '28000', 'invalid tenant token', 'crit header is refused');
-- tampered payload: take Globex's valid token and swap in Acme's claims
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)',
                 split_part(t, '.', 1) || '.' || pg_temp.b64url(convert_to(pg_temp.claims(:'acme'), 'UTF8')) || '.' || split_part(t, '.', 3)),
                 '28000', 'invalid tenant token', 'tampered payload is refused')
FROM (SELECT mt.tenant_token(:'globex') AS t) q;
-- tampered header (alg switched) keeps the signature
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)',
                 pg_temp.b64url('{"alg":"HS256","typ":"JWT","x":1}') || '.' || split_part(t, '.', 2) || '.' || split_part(t, '.', 3)),
                 '28000', 'invalid tenant token', 'tampered header is refused')
FROM (SELECT mt.tenant_token(:'globex') AS t) q;
-- one flipped character anywhere in a valid token
SELECT ok(bool_and(NOT pg_temp.accepts(flipped)), 'every single-character flip is refused')
FROM (SELECT mt.tenant_token(:'acme') AS t) q,
     LATERAL (SELECT overlay(t PLACING CASE WHEN substr(t, i, 1) = 'A' THEN 'B' ELSE 'A' END FROM i FOR 1) AS flipped
              FROM generate_series(1, length(mt.tenant_token(:'acme'))) i
              WHERE substr(t, i, 1) <> '.') f;
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', -10))),
                 '28000', 'invalid tenant token', 'expired token is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', 3600, ',"nbf":' || (extract(epoch FROM now())::bigint + 600)))),
                 '28000', 'invalid tenant token', 'not-yet-valid token is refused');
-- a NumericDate is a JSON number: nbf / iat as a string or null are malformed, not absent
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', 3600, ',"nbf":"' || (extract(epoch FROM now())::bigint + 600) || '"'))),
                 '28000', 'invalid tenant token', 'nbf given as a string is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', 3600, ',"iat":null'))),
                 '28000', 'invalid tenant token', 'iat given as null is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', 3600, ',"aud":"otherdb"'))),
                 '28000', 'invalid tenant token', 'wrong audience is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', 3600, ',"aud":["a","b"]'))),
                 '28000', 'invalid tenant token', 'audience array without this database is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', format('{"exp":%s}', extract(epoch FROM now())::bigint + 60))),
                 '28000', 'invalid tenant token', 'missing tid is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', format('{"tid":"%s"}', :'acme'))),
                 '28000', 'invalid tenant token', 'missing exp is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', format('{"tid":"not-a-uuid","exp":%s}', extract(epoch FROM now())::bigint + 60))),
                 '28000', 'invalid tenant token', 'malformed tid is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', format('{"tid":"%s","exp":"tomorrow"}', :'acme'))),
                 '28000', 'invalid tenant token', 'string exp is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', format('{"tid":"%s","tid":"%s","exp":%s}', :'globex', :'acme', extract(epoch FROM now())::bigint + 60))),
                 '28000', 'invalid tenant token', 'duplicate tid claims are refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', format('{"tid":"%s","exp":%s}', gen_random_uuid(), extract(epoch FROM now())::bigint + 60))),
                 '28000', 'invalid tenant token', 'unknown tenant is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', '[1,2,3]')),
                 '28000', 'invalid tenant token', 'non-object payload is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', '{"tid":')),
                 '28000', 'invalid tenant token', 'truncated JSON is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', 'a.b.c.d'),
                 '28000', 'invalid tenant token', 'four segments are refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', 'eyJ!!!.eyJ.sig'),
                 '28000', 'invalid tenant token', 'invalid base64url is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', repeat('A', 1024 * 1024)),
                 '28000', 'invalid tenant token', '1 MB token is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', 3600, ',"pad":"' || repeat('x', 7000) || '"'))),
                 '28000', 'invalid tenant token', 'oversized payload is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', 3600, ',"sub":"' || repeat('s', 300) || '"'))),
                 '28000', 'invalid tenant token', 'oversized sub claim is refused');
SELECT throws_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt('{"alg":"EdDSA"}', pg_temp.claims(:'acme'))),
                 '28000', 'invalid tenant token', 'EdDSA without a configured public key is refused');
SELECT is(mt.current_tenant(), :'globex'::uuid, 'after all rejections the previous context is unchanged');

-- the error never echoes the token
SELECT is((SELECT count(*)::int FROM pg_temp.errors_of(pg_temp.jwt(:'hdr', pg_temp.claims(:'acme', -10))) e
           WHERE e LIKE '%eyJ%'), 0, 'error message and detail do not contain the token');

-- suspension applies to externally minted tokens too
SELECT lives_ok(format('SELECT pg_temp.set_token(%L)', pg_temp.jwt(:'hdr', pg_temp.claims(:'acme'))), 'acme token set');
SELECT mt.suspend_tenant(:'acme');
SELECT is(mt.current_tenant(), NULL, 'suspended tenant yields no context');
SELECT mt.resume_tenant(:'acme');

SELECT * FROM finish();

RESET multitenant.token;
ALTER SYSTEM RESET multitenant.jwt_secret;
SELECT pg_reload_conf();
