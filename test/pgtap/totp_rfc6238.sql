-- TOTP (issue 17 item 5): the RFC 6238 appendix B test vectors (SHA-1,
-- SHA-256, SHA-512, 8 digits, 30 s steps) and 6/7-digit truncations; a
-- code is accepted once (replay refused), a code of a later step than an
-- accepted one only; recovery codes are single use and stored hashed; the
-- secret is stored encrypted and no tenant role can read it;
-- mt.current_mfa() is set for the context's own subject only, and is gone
-- with the context or when the verifying transaction rolls back; bad
-- input (wrong-length codes, unknown algorithm, digits out of range) is
-- refused with 22023.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
DROP ROLE IF EXISTS mt_test_app;
CREATE ROLE mt_test_app NOLOGIN;
\set QUIET 0

SELECT plan(43);

-- RFC 6238 appendix B (seeds: ASCII "1234567890" repeated to 20, 32, 64 bytes)
CREATE TEMP TABLE v (t bigint, alg text, code text);
INSERT INTO v VALUES
 (59, 'SHA1', '94287082'), (59, 'SHA256', '46119246'), (59, 'SHA512', '90693936'),
 (1111111109, 'SHA1', '07081804'), (1111111109, 'SHA256', '68084774'), (1111111109, 'SHA512', '25091201'),
 (1111111111, 'SHA1', '14050471'), (1111111111, 'SHA256', '67062674'), (1111111111, 'SHA512', '99943326'),
 (1234567890, 'SHA1', '89005924'), (1234567890, 'SHA256', '91819424'), (1234567890, 'SHA512', '93441116'),
 (2000000000, 'SHA1', '69279037'), (2000000000, 'SHA256', '90698825'), (2000000000, 'SHA512', '38618901'),
 (20000000000, 'SHA1', '65353130'), (20000000000, 'SHA256', '77737706'), (20000000000, 'SHA512', '47863826');
CREATE TEMP TABLE seeds AS
SELECT 'SHA1' AS alg, convert_to(repeat('1234567890', 2), 'UTF8') AS k
UNION ALL SELECT 'SHA256', convert_to(substr(repeat('1234567890', 4), 1, 32), 'UTF8')
UNION ALL SELECT 'SHA512', convert_to(substr(repeat('1234567890', 7), 1, 64), 'UTF8');
SELECT is((SELECT count(*) FROM v JOIN seeds USING (alg)
           WHERE mt.totp_code(k, to_timestamp(t), alg, 8) = code), 18::bigint,
          'all 18 RFC 6238 test vectors (SHA-1, SHA-256, SHA-512, 8 digits)');
SELECT is(mt.totp_code(k, to_timestamp(59), 'SHA1', 6), '287082', '6 digits truncate the same value') FROM seeds WHERE alg = 'SHA1';
SELECT is(mt.totp_code(k, to_timestamp(1111111109), 'SHA256', 7), '8084774', '7 digits') FROM seeds WHERE alg = 'SHA256';
SELECT is(mt.totp_code(k, to_timestamp(89), 'SHA1', 8), mt.totp_code(k, to_timestamp(60), 'SHA1', 8), 'one code per 30 s step') FROM seeds WHERE alg = 'SHA1';
SELECT throws_ok($$SELECT mt.totp_code('\x00', now(), 'MD5', 6)$$, '22023', NULL, 'an unknown algorithm is refused');
SELECT throws_ok($$SELECT mt.totp_code('\x00', now(), 'SHA1', 9)$$, '22023', NULL, '9 digits are refused');
SELECT throws_ok($$SELECT mt.totp_code('\x00', now(), 'SHA1', 5)$$, '22023', NULL, '5 digits are refused');

-- enrolment needs a tenant context
SELECT throws_ok($$SELECT mt.totp_enroll('alice')$$, '42501', NULL, 'enrolment without a tenant context is refused');
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT mt.totp_enroll('alice') AS uri \gset
SELECT matches(:'uri'::text, '^otpauth://totp/Acme:alice\?secret=[A-Z2-7]{32}&issuer=Acme&algorithm=SHA1&digits=6&period=30$',
               'enrolment returns an otpauth URI with a 160-bit secret');
SELECT throws_ok($$SELECT mt.totp_enroll('alice')$$, '42710', NULL, 'enrolling again is refused (the secret is shown once)');
SELECT throws_ok($$SELECT mt.totp_enroll('bob', 'SHA3', 6)$$, '22023', NULL, 'enrolment with an unknown algorithm is refused');
SELECT throws_ok($$SELECT mt.totp_enroll('bob', 'SHA1', 10)$$, '22023', NULL, 'enrolment with 10 digits is refused');
SELECT throws_ok($$SELECT mt.totp_enroll('')$$, '22023', NULL, 'an empty subject is refused');
SELECT is((SELECT count(*) FROM mt.totp_secrets WHERE subject = 'bob'), 0::bigint, 'nothing of a refused enrolment is stored');

-- the secret at rest: encrypted (not the base32 secret of the URI, not its bytes)
CREATE FUNCTION pg_temp.b32decode(s text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT decode(string_agg(lpad(to_hex(byte), 2, '0'), '' ORDER BY i), 'hex')
  FROM (SELECT i, (SELECT sum(((bits >> (7 - j)) & 1) << (7 - j))::int FROM generate_series(0, 7) j) AS byte
        FROM (SELECT i, substr(b, i * 8 + 1, 8)::bit(8)::int AS bits
              FROM (SELECT string_agg((strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', c) - 1)::bit(5)::text, '' ORDER BY n) AS b
                    FROM regexp_split_to_table(s, '') WITH ORDINALITY AS x(c, n)) q,
                   generate_series(0, length(s) * 5 / 8 - 1) i) r) t $$;
SELECT substring(:'uri' FROM 'secret=([A-Z2-7]+)') AS b32 \gset
SELECT pg_temp.b32decode(:'b32') AS secret \gset
SELECT is(length(:'secret'::bytea), 20, 'the URI secret decodes to 20 bytes');
SELECT ok((SELECT position(:'secret'::bytea IN secret_enc) = 0 AND length(secret_enc) = 20 + 40
           FROM mt.totp_secrets WHERE tenant_id = :'acme' AND subject = 'alice'),
          'the stored secret is encrypted (nonce + MAC + ciphertext, no plaintext)');

-- verification, replay, context marker: codes below are computed from the
-- clock; start early in a 30 s step so that no step boundary passes while
-- this part runs (a wait of at most 10 s, only when the clock is late in a step)
SELECT 1 AS waited FROM pg_sleep(CASE WHEN extract(epoch FROM clock_timestamp())::numeric % 30 > 20
                                  THEN 30 - extract(epoch FROM clock_timestamp())::numeric % 30 ELSE 0 END) \gset
SELECT is(mt.current_mfa(), false, 'no MFA before verification');
SELECT mt.totp_code(:'secret'::bytea, now()) AS code_now \gset
SELECT throws_ok(format('SELECT mt.totp_verify(%L, %L)', 'alice', substr(:'code_now', 1, 5)), '22023', 'malformed TOTP code', 'a 5-digit code is refused');
SELECT throws_ok(format('SELECT mt.totp_verify(%L, %L)', 'alice', :'code_now' || '0'), '22023', 'malformed TOTP code', 'a 7-digit code is refused');
SELECT throws_ok($$SELECT mt.totp_verify('nobody', '123456')$$, '42704', NULL, 'a subject without enrolment is an error');
SELECT is(mt.totp_verify('alice', :'code_now'), true, 'the current code is accepted');
SELECT is(mt.totp_verify('alice', :'code_now'), false, 'the same code is refused the second time (replay)');
SELECT is(mt.totp_verify('alice', mt.totp_code(:'secret'::bytea, now() - interval '30 seconds')), false,
          'an earlier step than an accepted one is refused');
SELECT is(mt.totp_verify('alice', mt.totp_code(:'secret'::bytea, now() + interval '30 seconds')), true,
          'the next step (+1 window) is accepted once');
SELECT is(mt.current_mfa(), false, 'set_tenant has no subject: no MFA marker');
-- a context with a subject: the marker
SELECT mt.totp_enroll('carol', 'SHA256', 8) AS uri_c \gset
SELECT pg_temp.b32decode(substring(:'uri_c' FROM 'secret=([A-Z2-7]+)')) AS secret_c \gset
SELECT is(length(:'secret_c'::bytea), 32, 'a SHA-256 enrolment has a 256-bit secret');
SELECT set_config('test.tok', mt.tenant_token(:'acme', '1 hour', 'carol'), false) IS NOT NULL AS t \gset
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok'), true) IS NOT NULL AS t \gset
SELECT is(mt.totp_verify('carol', mt.totp_code(:'secret_c'::bytea, now() - interval '30 seconds', 'SHA256', 8)), true,
          'the previous step (-1 window) is accepted, 8 digits SHA-256');
SELECT is(mt.current_mfa(), true, 'the context''s own subject verified: mt.current_mfa() is true');
ROLLBACK;
SELECT is(mt.current_mfa(), false, 'the context ended: no MFA marker');
BEGIN;
SELECT set_config('multitenant.token', current_setting('test.tok'), true) IS NOT NULL AS t \gset
SELECT is(mt.totp_verify('carol', mt.totp_code(:'secret_c'::bytea, now() - interval '30 seconds', 'SHA256', 8)), true,
          'the rolled-back acceptance did not burn the step');
SELECT is(mt.totp_verify('alice', mt.totp_code(:'secret'::bytea, now() + interval '60 seconds')), false,
          'two steps ahead is outside the window');
COMMIT;

-- recovery codes
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
CREATE TEMP TABLE rc AS SELECT c FROM mt.totp_recovery_codes('alice') c;
SELECT is((SELECT count(*) FROM rc WHERE c ~ '^[A-Z2-7]{5}-[A-Z2-7]{5}$'), 10::bigint, '10 recovery codes of the documented form');
SELECT is((SELECT count(*) FROM mt.totp_recovery_codes r JOIN rc ON position(convert_to(rc.c, 'UTF8') IN r.code_hash) > 0
           WHERE r.subject = 'alice'), 0::bigint, 'recovery codes are stored hashed');
SELECT c AS rc1 FROM rc LIMIT 1 \gset
SELECT is(mt.totp_verify('alice', lower(replace(:'rc1', '-', ''))), true, 'a recovery code is accepted (any case, hyphen optional)');
SELECT is(mt.totp_verify('alice', :'rc1'), false, 'a recovery code is single use');
SELECT is(mt.totp_verify('alice', 'AAAAA-AAAAA'), false, 'an unknown recovery code is refused');
SELECT throws_ok($$SELECT mt.totp_verify('alice', 'AAAAA-AAAA1')$$, '22023', NULL, 'a malformed recovery code is refused');

-- failures pause the subject
SELECT is((SELECT bool_or(mt.totp_verify('alice', '000000')) FROM generate_series(1, 6)), false, 'six wrong codes fail');
SELECT is(mt.totp_verify('alice', mt.totp_code(:'secret'::bytea, now() + interval '30 seconds')) OR
          mt.totp_verify('alice', mt.totp_code(:'secret'::bytea, now())), false,
          'after 5 failures even a right code fails for 5 minutes');

-- no tenant role reads secrets; another tenant does not reach this one's subjects
RESET multitenant.token;
GRANT USAGE ON SCHEMA mt TO mt_test_app;
SET ROLE mt_test_app;
SELECT throws_ok('SELECT secret_enc FROM mt.totp_secrets', '42501', NULL, 'an application role cannot read TOTP secrets');
SELECT throws_ok('SELECT code_hash FROM mt.totp_recovery_codes', '42501', NULL, 'nor recovery code hashes');
RESET ROLE;
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered \gset
SELECT throws_ok($$SELECT mt.totp_verify('alice', '123456')$$, '42704', NULL, 'another tenant does not see Acme''s subject');
SELECT is(mt.totp_disable('alice'), false, 'another tenant cannot remove Acme''s enrolment');

SELECT * FROM finish();
