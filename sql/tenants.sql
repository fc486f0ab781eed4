-- Tenant registry and plans
CREATE EXTENSION multitenant;
\i sql/include/helpers.psql

-- the four seeded plans with their prices and limits
SELECT name, price_monthly_cents, price_yearly_cents FROM mt.plans ORDER BY price_monthly_cents;
SELECT plan, metric, period, hard_limit, soft_limit
FROM mt.plan_limits ORDER BY metric, hard_limit NULLS LAST;

-- create
SELECT mt.create_tenant('Acme Corp', 'acme', 'pro') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT name, slug, plan, status FROM mt.tenants ORDER BY slug;
SELECT id = :'acme'::uuid AS same_id FROM mt.tenants WHERE slug = 'acme';

-- bad input: duplicate slug, unknown plan, NULLs, malformed slug, empty name
SELECT pg_temp.err('SELECT mt.create_tenant(''Acme Again'', ''acme'')');
SELECT pg_temp.err('SELECT mt.create_tenant(''Initech'', ''initech'', ''platinum'')');
SELECT pg_temp.err('SELECT mt.create_tenant(NULL, ''x'')');
SELECT pg_temp.err('SELECT mt.create_tenant(''X'', NULL)');
SELECT pg_temp.err('SELECT mt.create_tenant(''X'', ''x'', NULL)');
SELECT pg_temp.err('SELECT mt.create_tenant(''Bad Slug'', ''Bad Slug'')');
SELECT pg_temp.err('SELECT mt.create_tenant(''Bad Slug'', ''-x'')');
SELECT pg_temp.err('SELECT mt.create_tenant('''', ''empty'')');
SELECT pg_temp.err('SELECT mt.create_tenant(repeat(''n'', 201), ''long'')');
SELECT count(*) AS tenants FROM mt.tenants;

-- lifecycle
SELECT mt.suspend_tenant(:'acme');
SELECT status, status_changed_at IS NOT NULL AS stamped FROM mt.tenants WHERE id = :'acme';
SELECT mt.suspend_tenant(:'acme');          -- idempotent
SELECT mt.resume_tenant(:'acme');
SELECT status FROM mt.tenants WHERE id = :'acme';
SELECT mt.drop_tenant(:'globex');
SELECT status FROM mt.tenants WHERE id = :'globex';
SELECT mt.drop_tenant(:'globex');           -- idempotent
SELECT pg_temp.err('SELECT mt.resume_tenant(' || quote_literal(:'globex') || ')');         -- a dropped tenant stays dropped
SELECT pg_temp.err('SELECT mt.suspend_tenant(' || quote_literal(:'globex') || ')');
SELECT pg_temp.err('SELECT mt.suspend_tenant(''00000000-0000-0000-0000-000000000000'')');
SELECT pg_temp.err('SELECT mt.suspend_tenant(NULL)');
SELECT pg_temp.err('SELECT mt.suspend_tenant(''not-a-uuid'')');

-- tokens can only be minted for active tenants
SELECT pg_temp.err('SELECT mt.tenant_token(' || quote_literal(:'globex') || ') IS NULL');
SELECT length(mt.tenant_token(:'acme')) > 100 AS minted;
\i sql/include/cleanup.psql
