-- mt.provision_schema / mt.apply_template run the template's expressions
-- (CHECK constraints validated on rows, column DEFAULTs and generated
-- columns evaluated when a column is added, index expressions) with the
-- caller's rights.  A template whose owner, or the owner of a function its
-- expressions call, does not have the caller's privileges would run that
-- role's code as the back office: such a template is refused (42501)
-- before anything is created or applied.  SECURITY DEFINER functions run as
-- their owner whoever calls them: they are allowed (and run as their owner).
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
CREATE ROLE tmpl_owner NOLOGIN;
CREATE SCHEMA evil AUTHORIZATION tmpl_owner;
CREATE TABLE evil.log (who text, what text);
ALTER TABLE evil.log OWNER TO tmpl_owner;
GRANT INSERT, SELECT ON evil.log TO PUBLIC;
SET ROLE tmpl_owner;
-- records whoever evaluates it, and tries something only the back office may
CREATE FUNCTION evil.rec(n int) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    INSERT INTO evil.log VALUES (current_user, 'check');
    BEGIN
        EXECUTE 'ALTER ROLE tmpl_owner SUPERUSER';
        INSERT INTO evil.log VALUES (current_user, 'made superuser');
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    RETURN true;
END $f$;
CREATE FUNCTION evil.def() RETURNS int LANGUAGE plpgsql VOLATILE AS $f$
BEGIN INSERT INTO evil.log VALUES (current_user, 'default'); RETURN 1; END $f$;
CREATE FUNCTION evil.imm(n int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + 1';
CREATE FUNCTION evil.sd(n int) RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog AS $f$
BEGIN INSERT INTO evil.log VALUES (current_user, 'definer'); RETURN true; END $f$;
CREATE DOMAIN evil.posint AS int CHECK (VALUE > 0);
RESET ROLE;
GRANT USAGE ON SCHEMA evil TO PUBLIC;

SELECT mt.create_tenant('Acme', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex', 'pro') AS globex \gset
SELECT mt.create_tenant('Initech', 'initech', 'pro') AS initech \gset

-- a template the back office owns, provisioned for Acme, with a row
CREATE SCHEMA tmpl;
CREATE TABLE tmpl.items (id int PRIMARY KEY, n int);
SELECT mt.provision_schema(:'acme', 'tmpl') IS NOT NULL AS ok \gset
SELECT mt.set_tenant(:'acme') IS NOT NULL AS ok \gset
INSERT INTO tenant_acme.items VALUES (1, 5);
RESET multitenant.token;
\set QUIET 0

SELECT plan(12);

-- the template is handed to an unprivileged migration role, which plants its code
ALTER SCHEMA tmpl OWNER TO tmpl_owner;
ALTER TABLE tmpl.items OWNER TO tmpl_owner;
SET ROLE tmpl_owner;
ALTER TABLE tmpl.items ADD CONSTRAINT items_n_check CHECK (evil.rec(n)), ADD COLUMN z int DEFAULT evil.def();
RESET ROLE;
SELECT throws_ok($$SELECT * FROM mt.apply_template('tmpl')$$, '42501', NULL,
                 'apply_template refuses a template owned by a role without the caller''s privileges');
SELECT is((SELECT count(*)::int FROM evil.log), 0, 'the template owner''s code did not run as the caller');
SELECT is((SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'tenant_acme.items'::regclass AND contype = 'c'), 0,
          'nothing was applied');
SELECT ok(NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'tmpl_owner'), 'the template owner did not become superuser');
SELECT throws_ok($$SELECT mt.provision_schema('$$ || :'globex' || $$', 'tmpl')$$, '42501', NULL,
                 'provision_schema refuses a template owned by a role without the caller''s privileges');
SELECT ok(to_regnamespace('tenant_globex') IS NULL, 'no schema was created');

-- a template the caller owns, but its expressions call another role's code
CREATE SCHEMA tmpl_chk;
CREATE TABLE tmpl_chk.items (id int PRIMARY KEY, n int CHECK (evil.rec(n)));
CREATE SCHEMA tmpl_idx;
CREATE TABLE tmpl_idx.items (id int PRIMARY KEY, n int);
CREATE INDEX items_imm ON tmpl_idx.items (evil.imm(n));
CREATE SCHEMA tmpl_dom;
CREATE TABLE tmpl_dom.items (id int PRIMARY KEY, n evil.posint);
SELECT throws_like($$SELECT mt.provision_schema('$$ || :'globex' || $$', 'tmpl_chk')$$,
                   '%function evil.rec(integer)%', 'a CHECK calling a function of an untrusted role is refused, and named');
SELECT throws_like($$SELECT mt.provision_schema('$$ || :'globex' || $$', 'tmpl_idx')$$,
                   '%function evil.imm(integer)%', 'an index expression calling a function of an untrusted role is refused');
SELECT throws_like($$SELECT mt.provision_schema('$$ || :'globex' || $$', 'tmpl_dom')$$,
                   '%type evil.posint%', 'a column of a domain of an untrusted role is refused');

-- a SECURITY DEFINER function runs as its owner: allowed, and runs as tmpl_owner
CREATE SCHEMA tmpl_sd;
CREATE TABLE tmpl_sd.items (id int PRIMARY KEY, n int);
SELECT isnt(mt.provision_schema(:'initech', 'tmpl_sd'), NULL, 'a trusted template is provisioned');
SELECT mt.set_tenant(:'initech') IS NOT NULL AS ok \gset
INSERT INTO tenant_initech.items VALUES (1, 5);
RESET multitenant.token;
ALTER TABLE tmpl_sd.items ADD CONSTRAINT items_sd CHECK (evil.sd(n));
SELECT results_eq($$SELECT status FROM mt.apply_template('tmpl_sd')$$, $$VALUES ('applied')$$,
                  'a CHECK calling a SECURITY DEFINER function of another role is applied');
SELECT results_eq($$SELECT DISTINCT who FROM evil.log$$, $$VALUES ('tmpl_owner'::text)$$,
                  'and the function ran as its owner, not as the caller');

SELECT * FROM finish();
