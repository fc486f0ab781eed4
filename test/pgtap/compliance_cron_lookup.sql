-- Finding 3: check MT-AUD-003 looked for pg_cron's job table by name
-- (to_regclass('cron.job')).  In a database without pg_cron, any role with
-- CREATE on the database creates schema cron and a view cron.job over its
-- own function; mt.run_compliance_checks() (SECURITY DEFINER, run by an
-- auditor or by pg_cron) read it as the extension owner, running that
-- function as a superuser.  pg_cron's table must be found only through
-- pg_extension / pg_depend; without the extension there is no pg_cron.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT current_database() AS db \gset
DROP ROLE IF EXISTS mt_ccl_creator;
CREATE ROLE mt_ccl_creator NOLOGIN NOSUPERUSER;
GRANT CREATE ON DATABASE :"db" TO mt_ccl_creator;
SET ROLE mt_ccl_creator;
CREATE SCHEMA cron;
CREATE TABLE cron.loot (cur text, su boolean);
GRANT INSERT ON cron.loot TO PUBLIC;
CREATE FUNCTION cron.escalate() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cron.loot SELECT current_user, r.rolsuper FROM pg_catalog.pg_roles r
    WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
    BEGIN
        EXECUTE 'ALTER ROLE mt_ccl_creator SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN 'SELECT mt.audit_prune(''400 days'')';
END $$;
CREATE VIEW cron.job AS SELECT true AS active, cron.escalate() AS command;
RESET ROLE;
\set QUIET 0

SELECT plan(5);

SELECT is((SELECT count(*)::int FROM pg_extension WHERE extname = 'pg_cron'), 0, 'pg_cron is not installed here');
SELECT is((SELECT status FROM mt.run_compliance_checks() WHERE check_id = 'MT-AUD-003'), 'warn',
          'AUD-003: a relation named cron.job that pg_cron does not own does not count as a schedule');
SELECT is((SELECT details->>'prune_scheduled_with_pg_cron' FROM mt.compliance_checks
           WHERE check_id = 'MT-AUD-003' ORDER BY id DESC LIMIT 1), 'false', 'AUD-003 reports no pg_cron schedule');
SELECT is((SELECT count(*)::int FROM cron.loot), 0, 'the checks did not read the planted view');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'mt_ccl_creator'), false,
          'the role with CREATE on the database did not become a superuser');

SELECT * FROM finish();
ALTER ROLE mt_ccl_creator NOSUPERUSER;
