-- Erasure completeness: every registered table and subject-column type,
-- constraints kept, nothing personal left, the same subject id in another
-- tenant untouched, an erasure in a rolled-back transaction leaves
-- everything as it was.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT '6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e' AS person_uuid \gset

-- text subject, anonymized, many rows under UNIQUE and CHECK constraints
CREATE TABLE public.profiles (id int PRIMARY KEY, tenant_id uuid NOT NULL, email varchar(80) NOT NULL,
    nick char(16) NOT NULL, score numeric(6,2) NOT NULL, seen timestamptz NOT NULL, tags text[] NOT NULL,
    meta json NOT NULL, avatar bytea NOT NULL, note text,
    UNIQUE (nick), CHECK (email LIKE '%@%'), UNIQUE (tenant_id, email, id));
CREATE INDEX ON public.profiles (tenant_id, email);
-- uuid subject, deleted
CREATE TABLE public.devices (id int, tenant_id uuid NOT NULL, owner uuid NOT NULL, model text);
CREATE INDEX ON public.devices (owner);
-- integer subject, anonymized (the subject column gets a random negative id)
CREATE TABLE public.tickets (id int PRIMARY KEY, tenant_id uuid NOT NULL, user_no bigint NOT NULL UNIQUE,
    body text NOT NULL);
-- partitioned, deleted; a child table references the parent rows of another table
CREATE TABLE public.clicks (tenant_id uuid NOT NULL, who text NOT NULL, k int NOT NULL, url text)
    PARTITION BY HASH (k);
CREATE TABLE public.clicks_0 PARTITION OF public.clicks FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE public.clicks_1 PARTITION OF public.clicks FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE public.accounts (id int PRIMARY KEY, tenant_id uuid NOT NULL, login text NOT NULL);
CREATE TABLE public.sessions (id int, tenant_id uuid NOT NULL, account_id int NOT NULL REFERENCES public.accounts (id),
    login text NOT NULL);
SELECT mt.enable_isolation(t)
FROM unnest('{public.profiles, public.devices, public.tickets, public.clicks, public.accounts, public.sessions}'::regclass[]) t;
SELECT mt.register_subject('public.profiles', 'email', 'anonymize', '{nick, score, seen, tags, meta, avatar, note}');
SELECT mt.register_subject('public.devices', 'owner');
SELECT mt.register_subject('public.tickets', 'user_no', 'anonymize', '{body}');
SELECT mt.register_subject('public.clicks', 'who');
-- accounts are referenced by sessions: registered in this order, erased children first
SELECT mt.register_subject('public.accounts', 'login');
SELECT mt.register_subject('public.sessions', 'login');

CREATE FUNCTION pg_temp.plant(t uuid, person text, person_uuid uuid, base int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO public.profiles SELECT base + g, t, person, 'n' || (base + g), 1.5, now(), '{a}', '{"k": 1}', '\x01', 'note'
        FROM generate_series(1, 30) g;
    INSERT INTO public.profiles SELECT base + 100 + g, t, 'other' || g || '@x', 'o' || (base + g), 1, now(), '{}', '{}', '\x', NULL
        FROM generate_series(1, 5) g;
    INSERT INTO public.devices SELECT base + g, t, person_uuid, 'phone' FROM generate_series(1, 3) g;
    INSERT INTO public.devices SELECT base + 10 + g, t, gen_random_uuid(), 'tablet' FROM generate_series(1, 2) g;
    INSERT INTO public.tickets VALUES (base + 1, t, 4200 + base, 'my printer'), (base + 2, t, 4300 + base, 'other');
    INSERT INTO public.clicks SELECT t, person, g, '/p' || g FROM generate_series(1, 8) g;
    INSERT INTO public.accounts VALUES (base + 1, t, person), (base + 2, t, 'someone-else');
    INSERT INTO public.sessions VALUES (base + 1, t, base + 1, person), (base + 2, t, base + 1, person),
                                       (base + 3, t, base + 2, 'someone-else');
$$;
SELECT pg_temp.plant(:'acme', 'alice@example.com', :'person_uuid', 0);
SELECT pg_temp.plant(:'globex', 'alice@example.com', :'person_uuid', 1000);
\set QUIET 0

SELECT plan(31);

SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset

-- a rolled-back erasure changes nothing
BEGIN;
SELECT mt.gdpr_erase('alice@example.com') AS receipt \gset
ROLLBACK;
SELECT is((SELECT count(*)::int FROM public.profiles WHERE tenant_id = :'acme' AND email = 'alice@example.com'), 30,
          'rolled-back erasure: profiles untouched');

SELECT mt.gdpr_erase('alice@example.com') AS receipt \gset
SELECT is(:'receipt'::jsonb -> 'tables', $$[
    {"rows": 8, "table": "public.clicks", "action": "delete", "subject_column": "who"},
    {"rows": 0, "table": "public.devices", "action": "delete", "subject_column": "owner"},
    {"rows": 30, "table": "public.profiles", "action": "anonymize", "subject_column": "email"},
    {"rows": 2, "table": "public.sessions", "action": "delete", "subject_column": "login"},
    {"rows": 0, "table": "public.tickets", "action": "anonymize", "subject_column": "user_no"},
    {"rows": 1, "table": "public.accounts", "action": "delete", "subject_column": "login"}]$$::jsonb,
    'receipt: per-table counts, children (sessions) before the table they reference (accounts)');
-- the uuid and integer tables hold the subject under other ids: erase them by those ids
SELECT is((mt.gdpr_erase(:'person_uuid') -> 'tables' -> 1 ->> 'rows')::int, 3, 'uuid subject: 3 devices deleted');
SELECT is((mt.gdpr_erase('4200') -> 'tables' -> 4 ->> 'rows')::int, 1, 'integer subject: 1 ticket anonymized');
SELECT is((mt.gdpr_erase(upper(:'person_uuid')) -> 'tables' -> 1 ->> 'rows')::int, 0,
          'uuid subject in another spelling finds nothing left');

-- nothing personal left in Acme
SELECT is((SELECT count(*)::int FROM public.profiles WHERE tenant_id = :'acme' AND email = 'alice@example.com'), 0, 'no profile keeps the email');
SELECT is((SELECT count(*)::int FROM public.profiles WHERE email ~ '^erased-[0-9a-f]{16}@erased\.invalid$'), 30,
          'the 30 profiles carry erased addresses');
SELECT is((SELECT count(DISTINCT email)::int FROM public.profiles WHERE email LIKE 'erased-%'), 30,
          'the erased addresses are all different');
SELECT is((SELECT count(DISTINCT nick)::int FROM public.profiles WHERE nick LIKE 'erased-%'), 30,
          'char(16) unique column: 30 distinct truncated values (UNIQUE holds)');
SELECT is((SELECT DISTINCT length(nick) FROM public.profiles WHERE nick LIKE 'erased-%'), 16, 'char(16) values fit');
SELECT is((SELECT count(*)::int FROM public.profiles WHERE email LIKE 'erased-%'
           AND score = 0 AND seen = '1970-01-01 00:00:00+00' AND tags = '{}' AND meta::text = '{}'
           AND avatar = '' AND note LIKE 'erased-%'), 30,
          'NOT NULL numeric, timestamptz, array, json, bytea get the documented constants; text the erased form');
SELECT is((SELECT count(*)::int FROM public.profiles WHERE tenant_id = :'acme' AND email LIKE 'other%' AND note IS NULL AND score = 1), 5,
          'other people''s profiles unchanged');
SELECT is((SELECT count(*)::int FROM public.devices WHERE tenant_id = :'acme' AND owner = :'person_uuid'), 0, 'no device of the subject');
SELECT is((SELECT count(*)::int FROM public.devices WHERE tenant_id = :'acme'), 2, 'other devices kept');
SELECT ok((SELECT user_no < 0 AND body LIKE 'erased-%' FROM public.tickets WHERE id = 1), 'integer subject column: negative id, body erased');
SELECT is((SELECT user_no FROM public.tickets WHERE id = 2), 4300::bigint, 'the other ticket unchanged');
SELECT is((SELECT count(*)::int FROM public.clicks WHERE tenant_id = :'acme' AND who = 'alice@example.com'), 0, 'no click in any partition');
SELECT is((SELECT count(*)::int FROM public.accounts WHERE tenant_id = :'acme'), 1, 'the account is deleted, the other kept');
SELECT is((SELECT count(*)::int FROM public.sessions WHERE tenant_id = :'acme'), 1, 'the sessions referencing it are deleted first');
SELECT is(jsonb_path_query_array(mt.gdpr_export('alice@example.com'), '$.tables[*].rows.size()'),
          '[0, 0, 0, 0, 0, 0]'::jsonb, 'Acme export of the subject is empty');
SELECT is(jsonb_path_query_array(mt.gdpr_export(:'person_uuid'), '$.tables[*].rows.size()'),
          '[0, 0, 0, 0, 0, 0]'::jsonb, 'Acme export by the uuid is empty');

-- Globex untouched (the same ids)
SELECT mt.set_tenant(:'globex', false) IS NOT NULL AS entered \gset
SELECT is(jsonb_path_query_array(mt.gdpr_export('alice@example.com'), '$.tables[*].rows.size()'),
          '[8, 0, 30, 2, 0, 1]'::jsonb, 'Globex still has all of the subject''s rows');
SELECT is((mt.gdpr_export(:'person_uuid') -> 'tables' -> 1 -> 'rows' -> 0 ->> 'owner'), :'person_uuid',
          'Globex devices by uuid still there');
SELECT is(jsonb_array_length(mt.gdpr_export('4200') -> 'tables' -> 4 -> 'rows'), 0, 'the integer id is another person in Globex');
SELECT is(jsonb_array_length(mt.gdpr_export('5200') -> 'tables' -> 4 -> 'rows'), 1, 'Globex ticket 5200 found');
RESET multitenant.token;
SELECT is((SELECT count(*)::int FROM public.profiles WHERE tenant_id = :'globex' AND email = 'alice@example.com'), 30,
          'Globex profiles unchanged');

-- ids that cannot be values of the column type match nothing, without an error
SELECT mt.set_tenant(:'acme', false) IS NOT NULL AS entered \gset
SELECT lives_ok($$SELECT mt.gdpr_erase('not-a-uuid-or-number')$$, 'an id of the wrong shape is not an error');
SELECT is((SELECT count(*)::int FROM public.devices WHERE tenant_id = :'acme'), 2, '... and erases nothing from uuid/integer tables');
SELECT is((mt.gdpr_export('99999999999999999999') -> 'tables' -> 4 -> 'rows'), '[]'::jsonb, 'an out-of-range integer matches nothing');

-- every receipt is a completed erasure request with a pseudonym
SELECT is((SELECT count(*)::int FROM mt.gdpr_requests WHERE kind = 'erasure' AND status = 'completed'
           AND subject LIKE 'erased:%' AND result ? 'digest'), 5, 'five erasures recorded, pseudonymized, with receipts');
SELECT is((SELECT count(*)::int FROM mt.gdpr_requests WHERE subject NOT LIKE 'erased:%'), 0, 'no request names a subject');
RESET multitenant.token;

SELECT * FROM finish();
