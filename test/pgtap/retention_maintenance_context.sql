-- Table owner: mt.run_retention cleans an isolated table tenant by tenant,
-- each inside that tenant's internal maintenance context (which holds for
-- suspended and deleted tenants too), and the owner's triggers and
-- policies run inside it.  That context confines retention's own
-- statement (mt.current_tenant() in the generated policies, the audit row
-- trigger); the owner's triggers see no tenant at all (so they read no
-- tenant's rows, the extension's tables included), and nothing of the
-- owner's code acts as the tenant: mt.audit (into the tenant's chain), mt.track, mt.consume,
-- mt.rate_limit, mt.record_consent, mt.gdpr_request, mt.audit_search would
-- otherwise write into (or read) the chain, usage and consents of every
-- registered tenant, suspended ones included, whether or not they ever
-- touched the owner's table.
\set ON_ERROR_STOP 1
\set QUIET 1
DROP ROLE IF EXISTS mt_rmc_owner;
CREATE ROLE mt_rmc_owner NOLOGIN NOSUPERUSER;
GRANT CREATE ON SCHEMA public TO mt_rmc_owner;
GRANT EXECUTE ON FUNCTION mt.enable_isolation(regclass, name, name, boolean),
    mt.set_retention(regclass, name, interval), mt.audit_table(regclass, name, name) TO mt_rmc_owner;
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset

SET ROLE mt_rmc_owner;
CREATE TABLE public.attempts (what text, tenant uuid, ok boolean, state text);
CREATE FUNCTION public.act_as_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    call text;
BEGIN
    INSERT INTO public.attempts VALUES ('current_tenant', mt.current_tenant(), mt.current_tenant() IS NOT NULL);
    INSERT INTO public.attempts VALUES ('consents_visible', NULL, (SELECT count(*) > 0 FROM mt.consents));
    FOREACH call IN ARRAY ARRAY[
        $q$SELECT mt.track('api_calls', 1000000)$q$,
        $q$SELECT mt.consume('api_calls', 1)$q$,
        $q$SELECT mt.record_consent('victim', 'marketing', true)$q$,
        $q$SELECT mt.gdpr_request('victim', 'erasure')$q$,
        $q$SELECT count(*) FROM mt.audit_search()$q$]
    LOOP
        BEGIN
            EXECUTE call;
            INSERT INTO public.attempts VALUES (call, mt.current_tenant(), true);
        EXCEPTION WHEN OTHERS THEN
            INSERT INTO public.attempts VALUES (call, mt.current_tenant(), false, SQLSTATE);
        END;
    END LOOP;
    -- without an acting tenant, mt.audit writes to the system chain
    PERFORM mt.audit('forged.by.owner');
    RETURN NULL;
END $$;
CREATE TABLE public.events (id int, tenant_id uuid NOT NULL, at timestamptz NOT NULL);
SELECT mt.enable_isolation('public.events');
SELECT mt.audit_table('public.events');
CREATE TRIGGER events_act AFTER DELETE ON public.events FOR EACH STATEMENT EXECUTE FUNCTION public.act_as_tenant();
SELECT mt.set_retention('public.events', 'at', '30 days');
RESET ROLE;

INSERT INTO public.events VALUES (1, :'acme', now() - interval '40 days'), (2, :'acme', now()),
    (3, :'globex', now() - interval '40 days');
BEGIN;
SELECT mt.set_tenant(:'acme');
SELECT mt.record_consent('alice', 'marketing', true);
COMMIT;
SELECT mt.suspend_tenant(:'globex');
CREATE TEMP TABLE chain_before AS SELECT tenant_id, count(*) AS n FROM mt.audit_log GROUP BY tenant_id;
\set QUIET 0

SELECT plan(9);

SELECT results_eq($$SELECT deleted FROM mt.run_retention() WHERE tbl = 'public.events'::regclass$$,
    $$VALUES (2::bigint)$$, 'retention deletes the expired rows of every tenant, the suspended one''s too');
SELECT results_eq($$SELECT id FROM public.events$$, $$VALUES (2)$$, 'recent rows are kept');
SELECT is((SELECT array_agg(DISTINCT coalesce(tenant::text, 'none')) FROM public.attempts WHERE what = 'current_tenant'),
          '{none}', 'the owner''s trigger sees no tenant: the maintenance context confines only retention''s own statement');
SELECT is((SELECT bool_or(ok) FROM public.attempts WHERE what = 'consents_visible'), false,
          'the owner''s trigger cannot read any tenant''s rows of the extension''s tables (mt.consents)');
SELECT is((SELECT count(*)::int FROM public.attempts WHERE what NOT IN ('current_tenant', 'consents_visible') AND ok), 0,
          'no call of the owner''s code acted as the tenant of the maintenance context');
SELECT is((SELECT array_agg(DISTINCT coalesce(state, 'succeeded')) FROM public.attempts WHERE what NOT IN ('current_tenant', 'consents_visible')),
          '{42501}', 'every call was tried and refused with 42501 (no tenant context)');
SELECT is((SELECT array_agg(DISTINCT tenant_id) FROM mt.audit_log WHERE action = 'forged.by.owner'),
          '{00000000-0000-0000-0000-000000000000}', 'mt.audit from the owner''s code wrote into no tenant''s chain');
SELECT is((SELECT count(*)::int FROM mt.audit_log a WHERE a.action = 'DELETE'
           AND a.tenant_id IN (:'acme', :'globex')), 2,
          'the deletes are still recorded in each row''s own tenant chain');
SELECT is(mt.current_tenant(), NULL, 'no context is left behind');

SELECT * FROM finish();
