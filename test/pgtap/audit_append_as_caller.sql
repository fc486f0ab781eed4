-- mt.audit() and mt.audit_many() run as the caller (no SECURITY DEFINER,
-- no per-call search_path: the hot path) and append as the extension owner
-- in C.  The caller's search_path must not reach the SQL they run as the
-- owner (subject keys): an operator the caller planted ahead of pg_catalog
-- is never called, and the caller gets no privilege on the audit tables.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT set_config('test.tok_acme', mt.tenant_token(:'acme', '1 hour', 'alice'), false) IS NOT NULL AS t \gset
DROP SCHEMA IF EXISTS planted CASCADE;
DROP ROLE IF EXISTS mt_caller_app;
CREATE ROLE mt_caller_app NOLOGIN;
CREATE SCHEMA planted AUTHORIZATION mt_caller_app;
SET ROLE mt_caller_app;
-- what the caller controls: a log and "=" operators for the key lookup's types
CREATE TABLE planted.calls (who text, op text);
CREATE FUNCTION planted.uuid_eq(a uuid, b uuid) RETURNS boolean LANGUAGE sql VOLATILE AS
$$ INSERT INTO planted.calls VALUES (current_user, 'uuid'); SELECT a::text = b::text $$;
CREATE FUNCTION planted.bytea_eq(a bytea, b bytea) RETURNS boolean LANGUAGE sql VOLATILE AS
$$ INSERT INTO planted.calls VALUES (current_user, 'bytea'); SELECT encode(a, 'hex') = encode(b, 'hex') $$;
CREATE OPERATOR planted.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = planted.uuid_eq);
CREATE OPERATOR planted.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = planted.bytea_eq);
RESET ROLE;
\set QUIET 0

SELECT plan(12);

SELECT is((SELECT count(*)::int FROM pg_proc
           WHERE oid IN ('mt.audit(text, text, text, jsonb, text)'::regprocedure,
                         'mt.audit_many(text[], text[], text[], jsonb[])'::regprocedure)
             AND NOT prosecdef AND proconfig IS NULL), 2,
          'mt.audit() and mt.audit_many() are not SECURITY DEFINER and set no search_path per call');
SELECT is((SELECT relreplident::text FROM pg_class WHERE oid = 'mt.audit_log'::regclass), 'f',
          'the audit log''s replica identity is FULL (sealing updates rows; there is no primary key)');

SET ROLE mt_caller_app;
SELECT set_config('multitenant.token', current_setting('test.tok_acme'), false) IS NOT NULL AS entered \gset
SET search_path = planted, pg_catalog, public;
SELECT (gen_random_uuid() = gen_random_uuid()) IS NOT NULL AS compared \gset
SELECT is((SELECT count(*)::int FROM planted.calls), 1,
          'control: under this search_path "=" on uuid is the planted operator');
DELETE FROM planted.calls;
SELECT ok(mt.audit('doc.share', 'doc', '1', '{"with": "eve@example.com"}', 'eve') > 0,
          'the caller appends an event with encrypted details (a subject key is created)');
SELECT ok(mt.audit('doc.share', 'doc', '2', '{"with": "eve@example.com"}', 'eve') > 0,
          'and another one (the subject key is looked up)');
SELECT is(mt.audit_many(ARRAY['doc.view', 'doc.edit'], ARRAY['doc', 'doc'], ARRAY['1', '2']), 2::bigint,
          'mt.audit_many() appends as the caller too');
SELECT is((SELECT count(*)::int FROM planted.calls), 0,
          'the caller''s operators ahead of pg_catalog were never called by the appends');
SELECT is(current_user::text, 'mt_caller_app', 'the caller''s role is back after the appends');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE actor = 'alice' AND db_user = session_user), 4,
          'the events carry the token subject and the session user, not the extension owner');
RESET search_path;
SELECT throws_ok($$INSERT INTO mt.audit_log (id, tenant_id, at, actor, action, db_user, hash)
                   VALUES (1, mt.current_tenant(), now(), 'x', 'x', 'x', '\x00')$$, '42501', NULL,
                 'the caller still has no INSERT on mt.audit_log');
SELECT throws_ok($$SELECT count(*) FROM mt.audit_subject_keys$$, '42501', NULL,
                 'nor any access to the subject keys');
RESET multitenant.token;
RESET ROLE;
SELECT mt.audit_seal() >= 4 AS sealed \gset
SELECT ok((SELECT bool_and(ok) FROM mt.audit_verify(:'acme')), 'the caller''s events seal and verify');

SELECT * FROM finish();
DROP SCHEMA planted CASCADE;
DROP ROLE mt_caller_app;
