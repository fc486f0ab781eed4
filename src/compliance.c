/*-------------------------------------------------------------------------
 *
 * compliance.c
 *	  The compliance check catalog, mt.run_compliance_checks() (runs every
 *	  check, stores the results as history in mt.compliance_checks) and
 *	  mt.compliance_report() / mt.compliance_report_text() (per standard:
 *	  controls, status over time, evidence).
 *
 * Each check is a row of the static catalog below: a stable id, a title,
 * the standards and controls it maps to, a severity, and the SQL that
 * finds its offenders (one row per offending object: the check fails or
 * warns when there is any) or, for settings, SQL that returns the status
 * and details directly, or (CHECK_C, for what SQL cannot do: unwrapping
 * keys) a C function that does both.  The runner executes them through SPI as the
 * extension owner (the function is SECURITY DEFINER and admin-only) so
 * that pg_authid and pg_hba_file_rules are readable.  Therefore a check
 * reads only system catalogs, the extension's own objects, and other
 * extensions' objects found through pg_extension/pg_depend (pg_cron's job
 * table), never a relation or function found by name in a schema another
 * role could create; settings (pgaudit) are read with current_setting.
 *
 * No shared state, no locks: concurrent runs each insert their own rows
 * under their own run id.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "audit_keys.h"
#include "compliance.h"
#include "spi_util.h"
#include "util.h"

/* GUC variables (defined in multitenant.c) */
int			mt_audit_digest_max_age = 86400;
int			mt_api_key_rotation_age = 180 * 86400;

typedef enum CheckKind
{
	CHECK_OFFENDERS,			/* sql lists offenders; any row -> on_fail */
	CHECK_STATUS,				/* sql returns (status text, details jsonb) */
	CHECK_C						/* fn computes status and details (needs C) */
} CheckKind;

/* a CHECK_C check: palloc'd status and jsonb details, SPI connected */
typedef void (*CheckFn) (char **status, Datum *details);

static void check_server_secret(char **status, Datum *details);

typedef struct ComplianceCheck
{
	const char *id;
	const char *title;
	const char *standards;		/* text[] literal */
	const char *controls;		/* text[] literal */
	const char *severity;		/* high, medium, low */
	CheckKind	kind;
	const char *on_fail;		/* 'fail' or 'warn' (CHECK_OFFENDERS) */
	const char *sql;
	CheckFn		fn;				/* CHECK_C */
} ComplianceCheck;

static const ComplianceCheck checks[] = {
	/* ---- isolation ---- */
	{"MT-ISO-001", "Every table with a tenant column is isolated",
		"{SOC2,GDPR,HIPAA,PCI}", "{SOC2 CC6.1,GDPR Art. 32,HIPAA 164.312(a)(1),PCI DSS 7.2}",
		"high", CHECK_OFFENDERS, "fail",
	"SELECT tbl::text AS object, issues FROM mt.isolation_status() "
	"WHERE kind IN ('table', 'partitioned table') AND NOT isolated"},
	{"MT-ISO-002", "Isolated tables keep RLS enabled, forced, and the generated policies intact",
		"{SOC2,GDPR,HIPAA,PCI}", "{SOC2 CC6.1,GDPR Art. 32,HIPAA 164.312(a)(1),PCI DSS 7.2}",
		"high", CHECK_OFFENDERS, "fail",
		"SELECT tbl::text AS object, rls_enabled, rls_forced, policies_ok FROM mt.isolation_status() "
	"WHERE isolated AND NOT (rls_enabled AND rls_forced AND policies_ok)"},
	{"MT-ISO-003", "No unique constraint or index spans tenants",
		"{SOC2,GDPR}", "{SOC2 CC6.1,GDPR Art. 25}",
		"medium", CHECK_OFFENDERS, "warn",
		"SELECT tbl::text AS object, issue FROM mt.isolation_status(), "
	"LATERAL pg_catalog.unnest(issues) issue WHERE issue LIKE 'unique index %'"},
	{"MT-ISO-004", "No view or materialized view bypasses isolation",
		"{SOC2,GDPR,HIPAA,PCI}", "{SOC2 CC6.1,GDPR Art. 32,HIPAA 164.312(a)(1),PCI DSS 7.2}",
		"high", CHECK_OFFENDERS, "fail",
		"SELECT tbl::text AS object, kind, issues FROM mt.isolation_status() "
	"WHERE kind IN ('view', 'materialized view') AND pg_catalog.cardinality(issues) > 0"},
	/* ---- privileges ---- */
	{"MT-PRIV-001", "No login role other than the bootstrap superuser has SUPERUSER or BYPASSRLS",
		"{SOC2,HIPAA,PCI}", "{SOC2 CC6.3,HIPAA 164.312(a)(1),PCI DSS 7.2.2}",
		"high", CHECK_OFFENDERS, "fail",
		"SELECT rolname::text AS object, rolsuper AS superuser, rolbypassrls AS bypassrls "
		"FROM pg_catalog.pg_roles WHERE rolcanlogin AND (rolsuper OR rolbypassrls) AND oid <> 10 "
	"ORDER BY 1"},
	{"MT-PRIV-002", "Privileged multitenant functions are not executable by PUBLIC",
		"{SOC2,PCI}", "{SOC2 CC6.1,PCI DSS 7.2.1}",
		"high", CHECK_OFFENDERS, "fail",
	/*
	 * mt.privileged_functions holds signatures as text (pg_upgrade refuses
	 * regprocedure columns), written as regprocedure's output under
	 * search_path = pg_catalog, pg_temp, the path this check runs with: a
	 * row is matched with the extension schema's functions by that output,
	 * nothing is parsed (to_regprocedure raises on an unknown type name),
	 * and a row that matches no function is reported, not skipped
	 */
		"SELECT pf.f AS object, CASE WHEN p.oid IS NULL THEN 'no such function' "
		"  ELSE 'executable by PUBLIC' END AS problem "
		"FROM mt.privileged_functions pf LEFT JOIN pg_catalog.pg_proc p "
		"  ON p.pronamespace = 'mt'::pg_catalog.regnamespace "
		"  AND p.oid::pg_catalog.regprocedure::pg_catalog.text = pf.f "
		"WHERE p.oid IS NULL OR pg_catalog.has_function_privilege('public', p.oid, 'EXECUTE') "
	"ORDER BY 1"},
	{"MT-PRIV-003", "PUBLIC cannot create objects in schema public",
		"{SOC2,PCI}", "{SOC2 CC6.1,PCI DSS 7.2.1}",
		"medium", CHECK_OFFENDERS, "fail",
		"SELECT 'public'::text AS object WHERE pg_catalog.to_regnamespace('public') IS NOT NULL "
	"AND pg_catalog.has_schema_privilege('public', 'public', 'CREATE')"},
	{"MT-PRIV-004", "SECURITY DEFINER functions have a fixed search_path",
		"{SOC2,PCI}", "{SOC2 CC6.1,PCI DSS 6.2.4}",
		"high", CHECK_OFFENDERS, "fail",
		"SELECT p.oid::regprocedure::text AS object, r.rolname::text AS owner "
		"FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_roles r ON r.oid = p.proowner "
		"WHERE p.prosecdef AND p.pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) "
		"AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) c WHERE c LIKE 'search\\_path=%') "
	"ORDER BY 1"},
	/* ---- audit ---- */
	{"MT-AUD-001", "Every audit chain verifies",
		"{SOC2,HIPAA,PCI,GDPR}", "{SOC2 CC7.2,HIPAA 164.312(b),HIPAA 164.312(c)(1),PCI DSS 10.3.2,GDPR Art. 5(2)}",
		"high", CHECK_OFFENDERS, "fail",
		"SELECT tenant_id::text AS object, rows_checked, first_bad_id, problem "
	"FROM mt.audit_verify() WHERE NOT ok ORDER BY 1"},
	{"MT-AUD-002", "A digest of all audit chains was exported recently (multitenant.audit_digest_max_age)",
		"{SOC2,PCI}", "{SOC2 CC7.2,PCI DSS 10.3.4}",
		"medium", CHECK_STATUS, NULL,
		"SELECT CASE WHEN max(taken_at) >= pg_catalog.now() - "
		"  pg_catalog.current_setting('multitenant.audit_digest_max_age')::interval THEN 'pass' ELSE 'fail' END, "
		"pg_catalog.jsonb_build_object('last_digest', max(taken_at), 'max_age', "
		"  pg_catalog.current_setting('multitenant.audit_digest_max_age')) "
	"FROM mt.audit_digests WHERE all_tenants"},
	{"MT-AUD-003", "Audit retention is in place (pruning scheduled or run in the last 31 days)",
		"{SOC2,GDPR,HIPAA,PCI}", "{SOC2 CC7.2,GDPR Art. 5(1)(e),HIPAA 164.316(b)(2),PCI DSS 10.5.1}",
		"low", CHECK_STATUS, NULL,
		"SELECT CASE WHEN scheduled OR recent THEN 'pass' ELSE 'warn' END, "
		"pg_catalog.jsonb_build_object('prune_scheduled_with_pg_cron', scheduled, 'pruned_in_last_31_days', recent) "
		"FROM (SELECT "
		/*
		 * pg_cron's job table only as a member of the pg_cron extension
		 * (pg_depend deptype 'e'; pg_cron's extnamespace is pg_catalog, it
		 * creates schema cron itself): never a relation found by name, which
		 * any role with CREATE on the database could plant (test
		 * compliance_cron_lookup)
		 */
		"  coalesce((SELECT (pg_catalog.xpath('/row/c/text()', pg_catalog.query_to_xml(pg_catalog.format("
		"     'SELECT pg_catalog.count(*) AS c FROM %s WHERE active AND command OPERATOR(pg_catalog.~~*) ''%%mt.audit_prune%%''',"
		"     j.oid::pg_catalog.regclass), false, true, '')))[1]::text::int > 0"
		"   FROM pg_catalog.pg_extension e"
		"   JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass"
		"     AND d.refobjid = e.oid AND d.deptype = 'e' AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
		"   JOIN pg_catalog.pg_class j ON j.oid = d.objid AND j.relname = 'job' AND j.relkind = 'r'"
		"   WHERE e.extname = 'pg_cron'), false) AS scheduled, "
	"  EXISTS (SELECT 1 FROM mt.audit_checkpoints WHERE pruned_at > pg_catalog.now() - interval '31 days') AS recent) s"},
	/* ---- secrets ---- */
	{"MT-SEC-001", "The current server secret opens the data protected by it",
		"{SOC2,GDPR,HIPAA,PCI}", "{SOC2 CC6.1,GDPR Art. 32(1)(c),HIPAA 164.312(a)(2)(iv),PCI DSS 3.6.1}",
		"high", CHECK_C, NULL, NULL, check_server_secret},
	/* ---- GDPR ---- */
	{"MT-GDPR-001", "No data subject request is past its 30-day due date",
		"{GDPR,SOC2}", "{GDPR Art. 12(3),SOC2 P8.1}",
		"high", CHECK_OFFENDERS, "fail",
		"SELECT pg_catalog.format('request %s (%s) of tenant %s, due %s', id, kind, tenant_id, due_at) AS object "
	"FROM mt.gdpr_requests WHERE status = 'pending' AND due_at < pg_catalog.now() ORDER BY due_at"},
	{"MT-GDPR-002", "Every breach was notified within 72 hours",
		"{GDPR,HIPAA}", "{GDPR Art. 33,HIPAA 164.410}",
		"high", CHECK_OFFENDERS, "fail",
		"SELECT pg_catalog.format('breach %s detected %s (deadline %s)', id, detected_at, notify_deadline) AS object, "
	"severity FROM mt.breaches_overdue ORDER BY id"},
	{"MT-GDPR-003", "Tenant tables with personal-data columns are registered for GDPR requests",
		"{GDPR}", "{GDPR Art. 15,GDPR Art. 17,GDPR Art. 30}",
		"medium", CHECK_OFFENDERS, "warn",
		"SELECT pg_catalog.format('%s.%I', i.tbl, a.attname) AS object "
		"FROM mt.isolated_tables i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.tbl AND a.attnum > 0 "
		"  AND NOT a.attisdropped "
		"WHERE a.attname ~* '^(e_?mail|email_address|phone|phone_number|mobile|first_name|last_name|full_name|"
		"birth_?date|date_of_birth|dob|ssn|national_id|passport|address|street|postal_code|zip_?code|ip_address)$' "
		"AND i.parent IS NULL "
		"AND NOT EXISTS (SELECT 1 FROM mt.subject_tables s WHERE s.tbl = i.tbl) "
	"ORDER BY 1"},
	{"MT-GDPR-004", "Registered tables have a retention policy that ran in the last 2 days",
		"{GDPR}", "{GDPR Art. 5(1)(e)}",
		"medium", CHECK_OFFENDERS, "warn",
		"SELECT s.tbl::text AS object, CASE WHEN r.tbl IS NULL THEN 'no retention policy' "
		"  ELSE 'retention last ran ' || coalesce(r.last_run_at::text, 'never') END AS problem "
		"FROM (SELECT DISTINCT tbl FROM mt.subject_tables) s LEFT JOIN mt.retention_policies r ON r.tbl = s.tbl "
		"WHERE r.tbl IS NULL OR r.last_run_at IS NULL OR r.last_run_at < pg_catalog.now() - interval '2 days' "
	"ORDER BY 1"},
	/* ---- API keys ---- */
	{"MT-KEY-001", "Active API keys have an expiry date",
		"{SOC2,PCI}", "{SOC2 CC6.1,PCI DSS 8.3.9}",
		"medium", CHECK_OFFENDERS, "warn",
		"SELECT key_id AS object, tenant_id, name FROM mt.api_key_secrets "
	"WHERE revoked_at IS NULL AND expires_at IS NULL ORDER BY created_at"},
	{"MT-KEY-002", "No active API key has gone unused for more than 90 days",
		"{SOC2,PCI}", "{SOC2 CC6.2,PCI DSS 8.2.6}",
		"medium", CHECK_OFFENDERS, "warn",
		"SELECT key_id AS object, tenant_id, coalesce(last_used_at, created_at) AS idle_since FROM mt.api_key_secrets "
		"WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > pg_catalog.now()) "
		"AND coalesce(last_used_at, created_at) < pg_catalog.now() - interval '90 days' "
	"ORDER BY 3"},
	{"MT-KEY-003", "No active API key is older than the rotation age (multitenant.api_key_rotation_age)",
		"{SOC2,PCI}", "{SOC2 CC6.1,PCI DSS 8.3.9}",
		"low", CHECK_OFFENDERS, "warn",
		"SELECT key_id AS object, tenant_id, created_at FROM mt.api_key_secrets "
		"WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > pg_catalog.now()) "
		"AND created_at < pg_catalog.now() - pg_catalog.current_setting('multitenant.api_key_rotation_age')::interval "
	"ORDER BY created_at"},
	/* ---- secrets ---- */
	{"MT-SEC-002", "This server's secret opens every key version in use (API keys, audit subject keys, the active versions)",
		"{SOC2,PCI}", "{SOC2 CC6.1,SOC2 A1.2,PCI DSS 3.6.1}",
		"high", CHECK_OFFENDERS, "fail",
		"SELECT purpose || ' v' || version AS object, state, master, fingerprint, recorded_fingerprint, in_use "
		"FROM mt.secret_fingerprints() WHERE NOT usable AND (active OR in_use > 0) "
	"ORDER BY purpose, version"},
	/* ---- usage ---- */
	{"MT-USE-001", "No tenant is over a hard limit of its plan or quota",
		"{SOC2}", "{SOC2 A1.1}",
		"medium", CHECK_OFFENDERS, "warn",
		"SELECT pg_catalog.format('%s %s', t.slug, u.metric) AS object, u.used, u.hard_limit, u.limit_period "
		"FROM mt.tenants t CROSS JOIN (VALUES ('day'), ('month')) p(period), "
		"LATERAL mt.usage(t.id, p.period) u "
		"WHERE t.status = 'active' AND u.limit_period = p.period AND u.hard_limit IS NOT NULL "
	"AND u.used > u.hard_limit ORDER BY 1"},
	{"MT-USE-002", "The usage flush worker is running",
		"{SOC2}", "{SOC2 A1.1,SOC2 CC7.1}",
		"medium", CHECK_STATUS, NULL,
		"SELECT CASE WHEN count(*) > 0 THEN 'pass' ELSE 'fail' END, "
		"pg_catalog.jsonb_build_object('launcher_pids', coalesce(pg_catalog.jsonb_agg(pid), '[]'::jsonb)) "
	"FROM pg_catalog.pg_stat_activity WHERE backend_type = 'multitenant launcher'"},
	/* ---- server ---- */
	{"MT-SRV-001", "Connections can be encrypted (ssl = on)",
		"{SOC2,HIPAA,PCI}", "{SOC2 CC6.7,HIPAA 164.312(e)(1),PCI DSS 4.2.1}",
		"high", CHECK_STATUS, NULL,
		"SELECT CASE WHEN pg_catalog.current_setting('ssl') = 'on' THEN 'pass' ELSE 'fail' END, "
	"pg_catalog.jsonb_build_object('ssl', pg_catalog.current_setting('ssl'))"},
	{"MT-SRV-002", "New passwords are hashed with SCRAM-SHA-256",
		"{SOC2,HIPAA,PCI}", "{SOC2 CC6.1,HIPAA 164.312(d),PCI DSS 8.3.2}",
		"high", CHECK_STATUS, NULL,
		"SELECT CASE WHEN pg_catalog.current_setting('password_encryption') = 'scram-sha-256' "
		"THEN 'pass' ELSE 'fail' END, pg_catalog.jsonb_build_object('password_encryption', "
	"pg_catalog.current_setting('password_encryption'))"},
	{"MT-SRV-003", "No role has an MD5 password hash",
		"{SOC2,HIPAA,PCI}", "{SOC2 CC6.1,HIPAA 164.312(d),PCI DSS 8.3.2}",
		"high", CHECK_OFFENDERS, "fail",
	"SELECT rolname::text AS object FROM pg_catalog.pg_authid WHERE rolpassword LIKE 'md5%' ORDER BY 1"},
	{"MT-SRV-004", "pg_hba.conf has no trust/password/md5 rules and no wide-open addresses",
		"{SOC2,HIPAA,PCI}", "{SOC2 CC6.1,HIPAA 164.312(d),PCI DSS 8.3.1}",
		"high", CHECK_OFFENDERS, "fail",
		"SELECT pg_catalog.format('line %s: %s %s %s %s %s', line_number, type, "
		"  pg_catalog.array_to_string(database, ','), pg_catalog.array_to_string(user_name, ','), "
		"  coalesce(address || coalesce('/' || netmask, ''), ''), coalesce(auth_method, error)) AS object "
		"FROM pg_catalog.pg_hba_file_rules "
		"WHERE error IS NOT NULL OR auth_method IN ('trust', 'password', 'md5') OR address = 'all' "
		"   OR (address IN ('0.0.0.0', '::') AND netmask IN ('0.0.0.0', '::')) "
	"ORDER BY line_number"},
	{"MT-SRV-005", "Connections and disconnections are logged",
		"{SOC2,HIPAA,PCI}", "{SOC2 CC7.2,HIPAA 164.312(b),PCI DSS 10.2.1}",
		"medium", CHECK_STATUS, NULL,
		"SELECT CASE WHEN pg_catalog.current_setting('log_connections')::bool "
		"AND pg_catalog.current_setting('log_disconnections')::bool THEN 'pass' ELSE 'warn' END, "
		"pg_catalog.jsonb_build_object('log_connections', pg_catalog.current_setting('log_connections'), "
	"'log_disconnections', pg_catalog.current_setting('log_disconnections'))"},
	{"MT-SRV-006", "Data checksums are enabled",
		"{SOC2,HIPAA}", "{SOC2 CC7.1,HIPAA 164.312(c)(1)}",
		"medium", CHECK_STATUS, NULL,
		"SELECT CASE WHEN pg_catalog.current_setting('data_checksums')::bool THEN 'pass' ELSE 'warn' END, "
	"pg_catalog.jsonb_build_object('data_checksums', pg_catalog.current_setting('data_checksums'))"},
	{"MT-SRV-007", "pgaudit is loaded for statement-level audit logging",
		"{SOC2,HIPAA,PCI}", "{SOC2 CC7.2,HIPAA 164.312(b),PCI DSS 10.2.1}",
		"low", CHECK_STATUS, NULL,
		"SELECT CASE WHEN 'pgaudit' = ANY (pg_catalog.string_to_array(pg_catalog.replace("
		"pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ',')) THEN 'pass' ELSE 'warn' END, "
		"pg_catalog.jsonb_build_object('shared_preload_libraries', "
	"pg_catalog.current_setting('shared_preload_libraries'))"},
	{"MT-SRV-008", "log_line_prefix identifies time, process, database, user and client",
		"{SOC2,PCI}", "{SOC2 CC7.2,PCI DSS 10.2.2}",
		"low", CHECK_STATUS, NULL,
		"SELECT CASE WHEN (p LIKE '%\\%m%' OR p LIKE '%\\%t%' OR p LIKE '%\\%n%') AND (p LIKE '%\\%p%' OR p LIKE '%\\%c%') "
		"AND p LIKE '%\\%d%' AND p LIKE '%\\%u%' AND (p LIKE '%\\%h%' OR p LIKE '%\\%r%') "
		"THEN 'pass' ELSE 'warn' END, pg_catalog.jsonb_build_object('log_line_prefix', p) "
	"FROM (SELECT pg_catalog.current_setting('log_line_prefix') AS p) s"},
};

#define NUM_CHECKS lengthof(checks)

/* a text[] from an array literal (array_in needs a real flinfo) */
static Datum
text_array(const char *literal)
{
	return OidInputFunctionCall(F_ARRAY_IN, (char *) literal, TEXTOID, -1);
}

/* ---------------------------------------------------------------------
 * MT-SEC-001: the current server secret opens what was written under it
 *
 * One condition per kind of data the secret protects.  Each adds its
 * evidence object (details -> <name>) and its offenders ({"object",
 * "condition", ...}) and says whether it holds; the check warns when any
 * does not.  Conditions: audit subject keys.  (API keys, which need the
 * secret versions, are the next one: add a SecretCondition to
 * secret_conditions[].)
 * --------------------------------------------------------------------- */
typedef bool (*SecretCondition) (StringInfo evidence, StringInfo offenders, int *noffenders);

/*
 * Audit subject keys.  Cheap where all is well: per tenant, its oldest and
 * newest key are unwrapped (keys are wrapped under the secret of their
 * creation time, so a restore without the secret file makes the older
 * ones fail, and a secret put back later the newer ones).  Exact where it
 * is not: every key of a tenant whose sample failed is tried, and the
 * events encrypted under the failing ones are counted (the tenant's sealed
 * events and its unsealed tail, each through its partial index: no index
 * of mt.audit_log holds all of a tenant's events since 0.8.0).
 */
static bool
secret_opens_audit_keys(StringInfo evidence, StringInfo offenders, int *noffenders)
{
	List	   *failing = NIL;
	ListCell   *lc;
	int64		tenants = 0,
				sampled = 0,
				keys_bad = 0,
				events_bad = 0;
	pg_uuid_t	last;
	bool		have_last = false;

	mt_spi_execute("SELECT k.tenant_id, k.wrapped_key, k.kek_version FROM mt.audit_subject_keys k WHERE k.id IN ("
				   " SELECT pg_catalog.min(id) FROM mt.audit_subject_keys GROUP BY tenant_id"
				   " UNION SELECT pg_catalog.max(id) FROM mt.audit_subject_keys GROUP BY tenant_id)"
				   " ORDER BY k.tenant_id",
				   0, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		pg_uuid_t  *t = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		bytea	   *w = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		int			ver = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
		bool		new_tenant = !have_last || memcmp(t, &last, sizeof(last)) != 0;

		sampled++;
		if (new_tenant)
		{
			tenants++;
			memcpy(&last, t, sizeof(last));
			have_last = true;
		}
		/* a tenant is listed once, at its first failing sample */
		if (!mt_audit_wrapped_key_opens(w, ver) &&
			(failing == NIL || memcmp(llast(failing), t, sizeof(pg_uuid_t)) != 0))
		{
			pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

			memcpy(copy, t, sizeof(pg_uuid_t));
			failing = lappend(failing, copy);
		}
	}

	foreach(lc, failing)
	{
		pg_uuid_t  *t = lfirst(lc);
		Datum		arg = UUIDPGetDatum(t);
		Portal		portal;
		int64		kb = 0,
					eb = 0;

		portal = SPI_cursor_open_with_args(NULL,
										   "SELECT k.wrapped_key, coalesce(e.n, 0), k.kek_version FROM mt.audit_subject_keys k"
										   " LEFT JOIN (SELECT details_key_id, pg_catalog.count(*) AS n FROM ("
										   "   SELECT details_key_id FROM mt.audit_log WHERE tenant_id OPERATOR(pg_catalog.=) $1"
										   "   AND seq IS NOT NULL AND details_key_id IS NOT NULL"
										   "   UNION ALL SELECT details_key_id FROM mt.audit_log WHERE tenant_id OPERATOR(pg_catalog.=) $1"
										   "   AND seq IS NULL AND details_key_id IS NOT NULL) l"
										   "   GROUP BY details_key_id) e ON e.details_key_id OPERATOR(pg_catalog.=) k.id"
										   " WHERE k.tenant_id OPERATOR(pg_catalog.=) $1",
										   1, (Oid[]) {UUIDOID}, &arg, NULL, true, 0);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 1000);
			if (SPI_processed == 0)
				break;
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				bool		isnull;
				bytea	   *w = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
				int			ver = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));

				if (!mt_audit_wrapped_key_opens(w, ver))
				{
					kb++;
					eb += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
				}
			}
			SPI_freetuptable(SPI_tuptable);
			CHECK_FOR_INTERRUPTS();
		}
		SPI_cursor_close(portal);
		keys_bad += kb;
		events_bad += eb;
		appendStringInfo(offenders, "%s{\"object\": \"tenant %s\", \"condition\": \"audit_subject_keys\", "
						 "\"keys_unreadable\": " INT64_FORMAT ", \"events_unreadable\": " INT64_FORMAT "}",
						 *noffenders > 0 ? ", " : "", mt_uuid_to_cstring(t), kb, eb);
		(*noffenders)++;
	}

	appendStringInfo(evidence, "{\"tenants_checked\": " INT64_FORMAT ", \"keys_sampled\": " INT64_FORMAT
					 ", \"tenants_unreadable\": %d, \"keys_unreadable\": " INT64_FORMAT
					 ", \"events_unreadable\": " INT64_FORMAT "}",
					 tenants, sampled, list_length(failing), keys_bad, events_bad);
	return failing == NIL;
}

static const struct
{
	const char *name;
	SecretCondition holds;
}			secret_conditions[] = {
	{"audit_subject_keys", secret_opens_audit_keys},
};

static void
check_server_secret(char **status, Datum *details)
{
	StringInfoData doc;
	StringInfoData offenders;
	int			noffenders = 0;
	bool		ok = true;

	initStringInfo(&doc);
	initStringInfo(&offenders);
	for (int i = 0; i < lengthof(secret_conditions); i++)
	{
		appendStringInfo(&doc, "\"%s\": ", secret_conditions[i].name);
		ok &= secret_conditions[i].holds(&doc, &offenders, &noffenders);
		appendStringInfoString(&doc, ", ");
	}
	appendStringInfo(&doc, "\"count\": %d, \"offenders\": [%s]", noffenders, offenders.data);
	*status = pstrdup(ok ? "pass" : "warn");
	*details = DirectFunctionCall1(jsonb_in, CStringGetDatum(psprintf("{%s}", doc.data)));
}

/* Runs one check; returns status and details (palloc'd in the caller's context). */
static void
run_check(const ComplianceCheck *check, char **status, Datum *details)
{
	StringInfoData sql;
	bool		isnull;
	HeapTuple	tup;
	MemoryContext callercxt = CurrentMemoryContext;	/* survives SPI calls */

	if (check->kind == CHECK_C)
	{
		check->fn(status, details);
		return;
	}
	initStringInfo(&sql);
	if (check->kind == CHECK_OFFENDERS)
		appendStringInfo(&sql,
						 "SELECT CASE WHEN count(*) = 0 THEN 'pass' ELSE '%s' END, "
						 "pg_catalog.jsonb_build_object('offenders', "
						 "coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(o)), '[]'::jsonb), "
						 "'count', count(*)) FROM (%s) o",
						 check->on_fail, check->sql);
	else
		appendStringInfoString(&sql, check->sql);

	mt_spi_execute(sql.data, 0, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "compliance check %s returned " UINT64_FORMAT " rows", check->id, SPI_processed);
	tup = SPI_tuptable->vals[0];
	{
		MemoryContext spicxt = MemoryContextSwitchTo(callercxt);
		Datum		s = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);

		*status = isnull ? pstrdup("warn") : TextDatumGetCString(s);
		*details = SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull);
		*details = isnull ? DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"))
			: PointerGetDatum(PG_DETOAST_DATUM_COPY(*details));
		MemoryContextSwitchTo(spicxt);
	}
}

typedef struct CheckRun
{
	const ComplianceCheck *check;
	char	   *status;
	Datum		details;
} CheckRun;

static void
run_check_cb(void *arg)
{
	CheckRun   *run = (CheckRun *) arg;

	run_check(run->check, &run->status, &run->details);
}

/*
 * mt.run_compliance_checks(): every check, stored under one run id and
 * returned.  A check whose SQL fails (for example a catalog it reads is not
 * readable) is recorded as 'warn' with the error message, so that one
 * broken check never hides the others.  A cancel or statement timeout
 * ends the whole run (57014).
 */
PG_FUNCTION_INFO_V1(mt_run_compliance_checks);
Datum
mt_run_compliance_checks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		run_id;
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	mt_require_writable("mt.run_compliance_checks()", MT_WRITES_TABLES);
	InitMaterializedSRF(fcinfo, 0);
	mt_spi_connect();
	run_id = mt_spi_value("SELECT pg_catalog.nextval('mt.compliance_run_seq')", 0, NULL, NULL,
						  false, NULL);

	for (int i = 0; i < NUM_CHECKS; i++)
	{
		const ComplianceCheck *c = &checks[i];
		char	   *status;
		Datum		details;
		Datum		args[9];
		Datum		values[7];
		bool		nulls[7] = {false};
		CheckRun	run = {c, NULL, (Datum) 0};
		ErrorData  *edata;

		/* a failing check becomes a 'warn' row; a cancel ends the run */
		edata = mt_try_in_subxact(run_check_cb, &run);
		if (edata == NULL)
		{
			status = run.status;
			details = run.details;
		}
		else
		{
			StringInfoData msg;

			status = pstrdup("warn");
			initStringInfo(&msg);
			appendStringInfoString(&msg, "{\"error\": ");
			escape_json(&msg, edata->message);
			appendStringInfoChar(&msg, '}');
			details = DirectFunctionCall1(jsonb_in, CStringGetDatum(msg.data));
			FreeErrorData(edata);
		}

		args[0] = run_id;
		args[1] = CStringGetTextDatum(c->id);
		args[2] = CStringGetTextDatum(c->title);
		args[3] = CStringGetTextDatum(c->standards);
		args[4] = CStringGetTextDatum(c->controls);
		args[5] = CStringGetTextDatum(c->severity);
		args[6] = CStringGetTextDatum(status);
		args[7] = details;
		args[8] = TimestampTzGetDatum(now);
		mt_spi_execute("INSERT INTO mt.compliance_checks (run_id, check_id, title, standards, controls, "
					   "severity, status, details, checked_at) "
					   "VALUES ($1, $2, $3, $4::text[], $5::text[], $6, $7, $8, $9)",
					   9, (Oid[]) {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TIMESTAMPTZOID},
					   args, SPI_OK_INSERT);

		values[0] = CStringGetTextDatum(c->id);
		values[1] = CStringGetTextDatum(c->title);
		values[2] = text_array(c->standards);
		values[3] = CStringGetTextDatum(c->severity);
		values[4] = CStringGetTextDatum(status);
		values[5] = details;
		values[6] = TimestampTzGetDatum(now);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	mt_spi_finish();
	return (Datum) 0;
}

/* mt.compliance_catalog(): the checks, their mappings and severities. */
PG_FUNCTION_INFO_V1(mt_compliance_catalog);
Datum
mt_compliance_catalog(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < NUM_CHECKS; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false};

		values[0] = CStringGetTextDatum(checks[i].id);
		values[1] = CStringGetTextDatum(checks[i].title);
		values[2] = text_array(checks[i].standards);
		values[3] = text_array(checks[i].controls);
		values[4] = CStringGetTextDatum(checks[i].severity);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * The report for one standard (or all): for each control, the checks that
 * map to it with their latest status and evidence in the window, and the
 * status of every run in the window.
 */
static const char *const report_sql =
"WITH w AS ("
"  SELECT * FROM mt.compliance_checks"
"  WHERE checked_at >= $2 AND checked_at <= $3"
"    AND ($1::text IS NULL OR upper($1) = ANY (standards))),"
" stds AS (SELECT DISTINCT s FROM w, LATERAL pg_catalog.unnest(standards) s"
"          WHERE $1::text IS NULL OR s = upper($1)),"
" latest AS (SELECT DISTINCT ON (check_id) * FROM w ORDER BY check_id, checked_at DESC, run_id DESC),"
" per_check AS ("
"  SELECT l.check_id, l.title, l.severity, l.standards, l.controls,"
"    pg_catalog.jsonb_build_object('check_id', l.check_id, 'title', l.title, 'severity', l.severity,"
"      'status', l.status, 'checked_at', l.checked_at, 'evidence', l.details,"
"      'history', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('checked_at', h.checked_at,"
"                          'status', h.status) ORDER BY h.checked_at, h.run_id)"
"                  FROM w h WHERE h.check_id = l.check_id)) AS doc,"
"    l.status"
"  FROM latest l)"
"SELECT pg_catalog.jsonb_build_object("
"  'generated_at', pg_catalog.now(), 'from', $2, 'to', $3,"
"  'standards', coalesce(pg_catalog.jsonb_agg(std_doc ORDER BY s), '[]'::jsonb))"
"FROM ("
"  SELECT st.s, pg_catalog.jsonb_build_object('standard', st.s,"
"    'summary', (SELECT pg_catalog.jsonb_build_object("
"        'pass', count(*) FILTER (WHERE status = 'pass'),"
"        'warn', count(*) FILTER (WHERE status = 'warn'),"
"        'fail', count(*) FILTER (WHERE status = 'fail'))"
"      FROM per_check pc WHERE st.s = ANY (pc.standards)),"
"    'controls', (SELECT pg_catalog.jsonb_agg(ctl ORDER BY c) FROM ("
"        SELECT c, pg_catalog.jsonb_build_object('control', c,"
"          'status', CASE WHEN bool_or(pc.status = 'fail') THEN 'fail'"
"                         WHEN bool_or(pc.status = 'warn') THEN 'warn' ELSE 'pass' END,"
"          'checks', pg_catalog.jsonb_agg(pc.doc ORDER BY pc.check_id)) AS ctl"
"        FROM per_check pc, LATERAL pg_catalog.unnest(pc.controls) c"
"        WHERE st.s = ANY (pc.standards) AND c LIKE"
"          CASE st.s WHEN 'SOC2' THEN 'SOC2 %' WHEN 'GDPR' THEN 'GDPR %' WHEN 'HIPAA' THEN 'HIPAA %'"
"                    WHEN 'PCI' THEN 'PCI %' ELSE st.s || ' %' END"
"        GROUP BY c) x)) AS std_doc"
"  FROM stds st) y";

static Datum
compliance_report_jsonb(FunctionCallInfo fcinfo)
{
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	Datum		result;
	static const char *const known[] = {"SOC2", "GDPR", "HIPAA", "PCI"};

	if (PG_ARGISNULL(0))
		nulls[0] = 'n';
	else
	{
		char	   *std = text_to_cstring(PG_GETARG_TEXT_PP(0));
		bool		ok = false;

		for (int i = 0; i < lengthof(known); i++)
			ok |= (pg_strcasecmp(std, known[i]) == 0);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown compliance standard \"%s\"", std),
					 errhint("Use SOC2, GDPR, HIPAA or PCI, or NULL for all.")));
	}
	mt_require_arg_set(fcinfo, MT_ARG(1) | MT_ARG(2), "report window bounds");
	args[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	args[2] = PG_GETARG_DATUM(2);
	if (DatumGetTimestampTz(args[1]) > DatumGetTimestampTz(args[2]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("report window starts after it ends")));

	mt_spi_connect();
	mt_spi_execute_nulls(report_sql, 3, (Oid[]) {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID},
						 args, nulls, SPI_OK_SELECT);
	{
		bool		isnull;
		Form_pg_attribute att = TupleDescAttr(SPI_tuptable->tupdesc, 0);

		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		result = SPI_datumTransfer(result, att->attbyval, att->attlen);
	}
	mt_spi_finish();
	return result;
}

PG_FUNCTION_INFO_V1(mt_compliance_report);
Datum
mt_compliance_report(PG_FUNCTION_ARGS)
{
	PG_RETURN_DATUM(compliance_report_jsonb(fcinfo));
}

/* A readable rendering of the same report, for people. */
PG_FUNCTION_INFO_V1(mt_compliance_report_text);
Datum
mt_compliance_report_text(PG_FUNCTION_ARGS)
{
	Datum		report = compliance_report_jsonb(fcinfo);
	StringInfoData out;
	Datum		arg = report;

	initStringInfo(&out);
	mt_spi_connect();
	mt_spi_execute("SELECT pg_catalog.format(E'%s  %-7s pass %s  warn %s  fail %s', "
				   "  s->>'standard', '', s->'summary'->>'pass', s->'summary'->>'warn', s->'summary'->>'fail'), "
				   "  (SELECT pg_catalog.string_agg(pg_catalog.format(E'  [%s] %s\\n%s', upper(c->>'status'), c->>'control', "
				   "     (SELECT pg_catalog.string_agg(pg_catalog.format(E'      %-11s %-4s %s%s', k->>'check_id', k->>'status', k->>'title', "
				   "        CASE WHEN (k->'evidence'->>'count')::int > 0 THEN pg_catalog.format(' (%s: %s)', k->'evidence'->>'count', "
				   "          (SELECT pg_catalog.string_agg(coalesce(o->>'object', o::text), ', ') FROM "
				   "           pg_catalog.jsonb_array_elements(k->'evidence'->'offenders') WITH ORDINALITY e(o, n) WHERE n <= 5)) "
				   "        ELSE '' END), E'\\n') FROM pg_catalog.jsonb_array_elements(c->'checks') k)), E'\\n') "
				   "   FROM pg_catalog.jsonb_array_elements(s->'controls') c) "
				   "FROM pg_catalog.jsonb_array_elements($1->'standards') s",
				   1, (Oid[]) {JSONBOID}, &arg, SPI_OK_SELECT);
	appendStringInfo(&out, "Compliance report (%s)\n", "multitenant");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *head = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *body = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		appendStringInfo(&out, "\n%s\n%s\n", head ? head : "", body ? body : "");
	}
	mt_spi_finish();
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}
