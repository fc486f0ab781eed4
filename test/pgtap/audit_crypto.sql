-- Personal data in details: per-subject keys, wrapped, tenant-scoped,
-- crypto-shredding keeps chains verifiable.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
CREATE FUNCTION pg_temp.log(t uuid, subject text, details jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mt.set_tenant(t);
    RETURN mt.audit('profile.update', 'user', subject, details, subject);
END $$;
CREATE FUNCTION pg_temp.read(t uuid, i bigint) RETURNS TABLE (details jsonb, state text) LANGUAGE sql AS
$$ SELECT details, details_state FROM mt.audit_search_tenant(t, max_rows => 1000) WHERE id = i $$;
SELECT pg_temp.log(:'acme', 'frank@example.com', '{"email": "frank@example.com", "n": 1}') AS a1 \gset
SELECT pg_temp.log(:'globex', 'frank@example.com', '{"email": "frank@example.com", "n": 2}') AS g1 \gset
SELECT pg_temp.log(:'acme', 'grace@example.com', '{"email": "grace@example.com"}') AS a2 \gset
\set QUIET 0

SELECT plan(23);

SELECT is((SELECT count(*)::int FROM mt.audit_subject_keys), 3, 'one key per (tenant, subject)');
SELECT is((SELECT count(DISTINCT details_key_id)::int FROM mt.audit_log WHERE id IN (:a1, :g1)), 2,
          'the same subject has different keys in different tenants');
SELECT is((SELECT min(length(wrapped_key)) || '/' || max(length(wrapped_key)) FROM mt.audit_subject_keys), '72/72',
          'keys are stored wrapped (nonce + secretbox of 32 bytes)');
SELECT is((SELECT count(*)::int FROM mt.audit_subject_keys
           WHERE subject_hash IN (sha256(convert_to('frank@example.com', 'UTF8')), convert_to('frank@example.com', 'UTF8'))),
          0, 'subject_hash is keyed: neither the subject nor its plain SHA-256');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE details::text LIKE '%example.com%'
           OR position(convert_to('example.com', 'UTF8') IN coalesce(details_enc, '')) > 0), 0,
          'no plaintext personal data in the log');
SELECT is((SELECT details FROM pg_temp.read(:'acme', :a1)), '{"email": "frank@example.com", "n": 1}'::jsonb, 'readable with the key');

SELECT is(mt.audit_forget_subject('frank@example.com', :'acme'), 1::bigint, 'forget frank in acme');
SELECT is((SELECT state FROM pg_temp.read(:'acme', :a1)), 'shredded', 'acme''s frank details are gone');
SELECT is((SELECT details FROM pg_temp.read(:'acme', :a1)), NULL, 'no details returned');
SELECT is((SELECT details FROM pg_temp.read(:'globex', :g1)), '{"email": "frank@example.com", "n": 2}'::jsonb,
          'globex''s frank is untouched');
SELECT is((SELECT details FROM pg_temp.read(:'acme', :a2)), '{"email": "grace@example.com"}'::jsonb, 'acme''s grace is untouched');
SELECT is((SELECT bool_and(ok) FROM mt.audit_verify()), true, 'every chain still verifies after shredding');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE action = 'audit.subject_forgotten' AND tenant_id = :'acme'
           AND details = '{"keys_destroyed": 1}' AND details::text NOT LIKE '%frank%'), 1,
          'the erasure is recorded in the chain, without the subject');

-- a new event for the same subject gets a new key; old rows stay shredded
SELECT pg_temp.log(:'acme', 'frank@example.com', '{"email": "frank@new.example.com"}') AS a3 \gset
SELECT isnt((SELECT details_key_id FROM mt.audit_log WHERE id = :a3), (SELECT details_key_id FROM mt.audit_log WHERE id = :a1),
            'a fresh key after erasure');
SELECT is((SELECT state FROM pg_temp.read(:'acme', :a3)), 'decrypted', 'new details readable');
SELECT is((SELECT state FROM pg_temp.read(:'acme', :a1)), 'shredded', 'old details stay shredded');

-- forgetting through the context's tenant
SELECT mt.set_tenant(:'globex', false);
SELECT is(mt.audit_forget_subject('frank@example.com'), 1::bigint, 'tenant defaults to the context');
RESET multitenant.token;
SELECT is((SELECT state FROM pg_temp.read(:'globex', :g1)), 'shredded', 'globex''s frank shredded');

-- a damaged wrapped key: its rows are marked undecryptable (not silent
-- garbage, not the end of the statement); appends under it are refused
UPDATE mt.audit_subject_keys SET wrapped_key = set_byte(wrapped_key, 30, get_byte(wrapped_key, 30) # 1)
WHERE id = (SELECT details_key_id FROM mt.audit_log WHERE id = :a2);
SELECT is((SELECT state || '/' || coalesce(details::text, 'null') FROM pg_temp.read(:'acme', :a2)), 'undecryptable/null',
          'tampered wrapped key is detected: the row is undecryptable, without details');
SELECT is((SELECT string_agg(coalesce(details_state, 'none'), ',' ORDER BY seq) FROM mt.audit_search_tenant(:'acme', max_rows => 1000)
           WHERE action = 'profile.update'), 'shredded,undecryptable,decrypted',
          'the search returns every row: each keeps its own state');
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT is((SELECT string_agg(a ->> 'details_state', ',') FROM jsonb_array_elements(mt.gdpr_export('grace@example.com') -> 'audit_events') a),
          'undecryptable', 'gdpr_export returns the subject''s event marked undecryptable');
SELECT throws_ok($$SELECT mt.audit('profile.update', 'user', 'grace', '{"n": 2}', 'grace@example.com')$$, 'XX001', NULL,
                 'an append under a key that does not unwrap is refused');
RESET multitenant.token;
SELECT is((SELECT bool_and(ok) FROM mt.audit_verify()), true, 'chains do not depend on keys');

SELECT * FROM finish();
