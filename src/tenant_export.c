/*-------------------------------------------------------------------------
 *
 * tenant_export.c
 *	  Export and import of one tenant (mt.export_tenant, mt.import_tenant;
 *	  bin/mt-tenant wraps both): every isolated table's rows of the tenant
 *	  in foreign-key order, and the tenant's extension state (registry row,
 *	  a custom plan, quotas, workspaces, custom roles, role assignments, API
 *	  key hashes (workspace binding included), consents, GDPR requests and
 *	  restrictions, usage, custom domains, TOTP enrolments and recovery
 *	  codes, SSO providers with their email domains, linked identities,
 *	  audit subject keys, checkpoints and chain).  Sealed secrets (TOTP
 *	  secrets, SSO client secrets) travel sealed: the import opens each one
 *	  and refuses (55000) the whole import when this cluster's audit_kek
 *	  cannot.
 *
 * Format (doc/isolation-levels.md, "Export and import one tenant"): rows
 * (section text, name text, data text); a client reads them with COPY
 * (SELECT (e).* FROM (SELECT mt.export_tenant(...) AS e OFFSET 0) s) TO STDOUT.
 *	  header  multitenant  {"format": 1, "extension_version": ..., "tenant": ...}
 *	  table   <name>       {"order": n, "kind": "extension" | "isolated",
 *						    "tenant_column": ..., "columns": [[name, type], ...]}
 *	  row     <name>       the row's composite text (as record_out writes it)
 *	  end     multitenant  {"rows": {<name>: count, ...}}
 * Streaming: the export is a value-per-call function that reads each
 * table's columns through a cursor, writes each row's composite text itself
 * (row_text: the columns' output functions, looked up once per table, and
 * record_out's quoting, byte for byte) and holds one batch of rows at a
 * time (called in a select list, rows go to the client as they come; in
 * FROM, PostgreSQL collects them in a tuplestore that spills past
 * work_mem); the import
 * reads the staging table the client COPYs the file into through cursors
 * and inserts batches of rows passed as one text[].
 *
 * Who runs what: EXECUTE on both is revoked from PUBLIC (back office).
 * A user table is read and written as its owner in a security-restricted
 * operation inside the tenant's maintenance context (spi_util.c
 * mt_owner_execute / mt_owner_cursor_*: FORCE RLS confines it to the
 * tenant, the owner's casts, defaults and domains never run with the
 * caller's rights; the export's output function calls run there too); the
 * extension's tables as the extension owner
 * (mt_catalog_*); the staging table as the caller.  The import inserts
 * user rows with session_replication_role = replica (user triggers and
 * foreign-key triggers do not fire, as in a data-only pg_restore; parents
 * come first anyway) and checks counts and the audit chain before it
 * returns: any error rolls the whole import back.
 *
 * Locks: only those of the statements run (row and table locks of the
 * inserts), and the audit chain lock of the imported tenant (audit.c).
 * No shared state (quote_byte, the bytes record_out quotes for, is a
 * backend-local table filled once).
 *
 *-------------------------------------------------------------------------
 */
#include "citus_node.h"
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "audit.h"
#include "catalog.h"
#include "crypto.h"
#include "sealed.h"
#include "spi_util.h"
#include "util.h"

#define MT_EXPORT_FORMAT	1
#define MT_EXPORT_BATCH		1000

/* the extension's tables in an export, in import order */
typedef struct ExtTable
{
	const char *name;			/* without the schema */
	const char *tenant_column;	/* NULL: selected by plan, or by select */
	const char *omit;			/* column that takes a new value here (its default) */
	const char *conflict;		/* ON CONFLICT clause, or NULL */
	const char *sequence;		/* sequence advanced past the imported ids */
	const char *request_id;		/* column holding a GDPR request id (renumbered) */
	const char *select;			/* no tenant column: the column naming an SSO
								 * provider; the rows of the tenant's providers */
	const char *split;			/* a column whose NULL and non-NULL rows are
								 * in different partial indexes led by the
								 * tenant column (audit_log.seq, 0.8.0): read
								 * as two parts, each through its index */
} ExtTable;

static const ExtTable ext_tables[] = {
	{"plans", NULL, NULL, "ON CONFLICT DO NOTHING", NULL, NULL, NULL, NULL},
	{"plan_limits", NULL, NULL, "ON CONFLICT DO NOTHING", NULL, NULL, NULL, NULL},
	{"tenants", "id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"tenant_quotas", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	/* authorization: workspaces keep their ids (keys and rows name them) */
	{"workspaces", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"roles", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"role_assignments", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"api_key_secrets", "tenant_id", NULL, "ON CONFLICT (key_id) DO NOTHING", NULL, NULL, NULL, NULL},
	{"consents", "tenant_id", "id", NULL, NULL, NULL, NULL, NULL},
	{"gdpr_requests", "tenant_id", NULL, NULL, "gdpr_requests_id_seq", "id", NULL, NULL},
	{"gdpr_restrictions", "tenant_id", "id", NULL, NULL, "request_id", NULL, NULL},
	{"usage_rollup", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"usage_alerts", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	/* identity: a host or an email domain belongs to one tenant */
	{"domains", "tenant_id", NULL, "ON CONFLICT (host) DO NOTHING", NULL, NULL, NULL, NULL},
	{"totp_secrets", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"totp_recovery_codes", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"sso_providers", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"sso_email_domains", NULL, NULL, "ON CONFLICT (domain) DO NOTHING", NULL, NULL, "provider_id", NULL},
	{"sso_identities", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"audit_subject_keys", "tenant_id", NULL, NULL, "audit_subject_keys_id_seq", NULL, NULL, NULL},
	{"audit_checkpoints", "tenant_id", NULL, NULL, NULL, NULL, NULL, NULL},
	{"audit_log", "tenant_id", NULL, NULL, NULL, NULL, NULL, "seq"},
};

#define N_EXT_TABLES lengthof(ext_tables)

/* ---------------------------------------------------------------------
 * Small helpers
 * --------------------------------------------------------------------- */

static char *
extension_version(void)
{
	bool		isnull;
	char	   *v = mt_spi_text("SELECT extversion FROM pg_catalog.pg_extension "
								"WHERE extname OPERATOR(pg_catalog.=) 'multitenant'",
								0, NULL, NULL, &isnull);

	if (isnull)
		elog(ERROR, "multitenant: extension row not found");
	return v;
}

/* compare dotted versions numerically: <0, 0, >0 */
static int
version_cmp(const char *a, const char *b)
{
	while (*a || *b)
	{
		long		x = strtol(a, (char **) &a, 10);
		long		y = strtol(b, (char **) &b, 10);

		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		else if (*a)
			return 0;
		if (*b == '.')
			b++;
		else if (*b)
			return 0;
	}
	return 0;
}

static Datum
text_datum(const char *s)
{
	return CStringGetTextDatum(s);
}

/* JSON of a relation's columns: [[name, type], ...] (safe search_path) */
static char *
columns_json(Oid relid)
{
	Oid			t[1] = {OIDOID};
	Datum		v[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;
	char	   *s;
	int			nest = mt_enter_safe_search_path();

	s = mt_spi_text("SELECT pg_catalog.json_agg(pg_catalog.json_build_array(a.attname::pg_catalog.text, "
					"pg_catalog.format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)::pg_catalog.text "
					"FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1 "
					"AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped",
					1, t, v, &isnull);
	mt_leave_safe_search_path(nest);
	return s;
}

/* ---------------------------------------------------------------------
 * Export: a value-per-call set-returning function.  Called in a select
 * list (bin/mt-tenant: SELECT (e).* FROM (SELECT mt.export_tenant(t) e)),
 * each row goes to the client as it is produced: a batch of at most
 * MT_EXPORT_BATCH rows of one table is held at a time, so memory does not
 * grow with the tenant.  In FROM, PostgreSQL's function scan collects the
 * rows in a tuplestore first (spilling to disk past work_mem).  Every
 * cursor is opened with the statement's snapshot: one consistent export.
 * --------------------------------------------------------------------- */
typedef struct ExportCtx
{
	pg_uuid_t	tenant;
	int			phase;			/* EXPORT_* */
	int			table;			/* extension tables, then user tables */
	int			nrels;
	Oid		   *rels;
	char	  **cols;
	char	   *version;
	char	   *database;
	int			order;
	/* the current table */
	bool		open;
	bool		user_table;
	MtOwnerCursor oc;
	Portal		portal;
	char	   *name;
	Datum		name_datum;
	Datum		row_datum;		/* "row" */
	int64		count;
	/* its columns' output functions (NULL until its first batch) */
	int			natts;
	FmgrInfo   *out;
	Datum	   *values;
	bool	   *nulls;
	StringInfoData line;		/* one row's composite text */
	MemoryContext row_cxt;		/* output function results, reset per row */
	/* its current batch (in batch_cxt) */
	Datum	   *rows;
	uint64		nrows;
	uint64		next;
	MemoryContext batch_cxt;
	/* a header, table or end row waiting to be returned */
	char	   *pending_section;
	char	   *pending_name;
	char	   *pending_data;
	StringInfoData counts;		/* "name": n, ... */
	TupleDesc	desc;
	MemoryContext mcxt;			/* the multi-call context: all of the above */
} ExportCtx;

enum
{
	EXPORT_HEADER, EXPORT_TABLES, EXPORT_END, EXPORT_DONE
};

static void
queue(ExportCtx *x, const char *section, const char *name, const char *data)
{
	/* (SPI calls switch to SPI's own context: allocate explicitly) */
	x->pending_section = MemoryContextStrdup(x->mcxt, section);
	x->pending_name = MemoryContextStrdup(x->mcxt, name);
	x->pending_data = MemoryContextStrdup(x->mcxt, data);
}

static char *
table_header(ExportCtx *x, const char *kind, const char *tenant_column, Oid relid)
{
	StringInfoData m;

	initStringInfo(&m);
	appendStringInfo(&m, "{\"order\": %d, \"kind\": ", ++x->order);
	escape_json(&m, kind);
	appendStringInfoString(&m, ", \"tenant_column\": ");
	if (tenant_column)
		escape_json(&m, tenant_column);
	else
		appendStringInfoString(&m, "null");
	appendStringInfo(&m, ", \"columns\": %s}", columns_json(relid));
	return m.data;
}

static void export_open_spi(ExportCtx *x);

/* open table number x->table and queue its "table" row */
static void
export_open(ExportCtx *x)
{
	mt_spi_connect();
	/* SPI_connect switched to its own context; what stays goes to mcxt */
	MemoryContextSwitchTo(x->mcxt);
	export_open_spi(x);
	mt_spi_finish();
}

static void
export_open_spi(ExportCtx *x)
{
	Oid			t[1] = {UUIDOID};
	Datum		v[1] = {UUIDPGetDatum(&x->tenant)};
	char	   *sql;

	x->count = 0;
	x->nrows = x->next = 0;
	x->out = NULL;
	x->user_table = x->table >= (int) N_EXT_TABLES;
	if (!x->user_table)
	{
		const ExtTable *et = &ext_tables[x->table];
		MtCatalogCtx c;

		/* a table of a later version than this database's extension */
		if (!OidIsValid(mt_catalog_relid(et->name)))
		{
			x->table++;
			return;
		}
		x->name = MemoryContextStrdup(x->mcxt, psprintf("mt.%s", et->name));
		if (et->select)
			sql = psprintf("SELECT mt_row.* FROM mt.%s mt_row WHERE mt_row.%s IN "
						   "(SELECT p.id FROM mt.sso_providers p WHERE p.tenant_id OPERATOR(pg_catalog.=) $1)",
						   et->name, et->select);
		else if (et->tenant_column && et->split)
			sql = psprintf("SELECT mt_row.* FROM mt.%s mt_row "
						   "WHERE mt_row.%s OPERATOR(pg_catalog.=) $1 AND mt_row.%s IS NOT NULL "
						   "UNION ALL SELECT mt_row.* FROM mt.%s mt_row "
						   "WHERE mt_row.%s OPERATOR(pg_catalog.=) $1 AND mt_row.%s IS NULL",
						   et->name, et->tenant_column, et->split,
						   et->name, et->tenant_column, et->split);
		else if (et->tenant_column)
			sql = psprintf("SELECT mt_row.* FROM mt.%s mt_row "
						   "WHERE mt_row.%s OPERATOR(pg_catalog.=) $1",
						   et->name, et->tenant_column);
		else
			sql = psprintf("SELECT mt_row.* FROM mt.%s mt_row "
						   "WHERE NOT mt_row.builtin AND mt_row.%s OPERATOR(pg_catalog.=) "
						   "(SELECT plan FROM mt.tenants WHERE id OPERATOR(pg_catalog.=) $1)",
						   et->name, strcmp(et->name, "plans") == 0 ? "name" : "plan");
		queue(x, "table", x->name, table_header(x, "extension", et->tenant_column,
												  mt_catalog_relid(et->name)));
		mt_catalog_begin(&c);
		x->portal = SPI_cursor_open_with_args(NULL, sql, 1, t, v, NULL, true, 0);
		if (x->portal == NULL)
			mt_spi_failed("cursor open", SPI_result);
		mt_catalog_end(&c);
	}
	else
	{
		int			i = x->table - (int) N_EXT_TABLES;

		x->name = MemoryContextStrdup(x->mcxt, mt_relation_name(x->rels[i]));
		queue(x, "table", x->name, table_header(x, "isolated", x->cols[i], x->rels[i]));
		sql = psprintf("SELECT mt_row.* FROM ONLY %s mt_row "
					   "WHERE mt_row.%s OPERATOR(pg_catalog.=) $1",
					   x->name, quote_identifier(x->cols[i]));
		mt_owner_cursor_open(&x->oc, x->rels[i], &x->tenant, sql, 1, t, v, NULL);
	}
	MemoryContextSwitchTo(x->mcxt);
	x->name_datum = CStringGetTextDatum(x->name);
	x->open = true;
}

/*
 * The bytes that make record_out quote a value: a quote, backslash,
 * parenthesis, comma, or what isspace() says is white space (the
 * database's LC_CTYPE, fixed for the backend's life), as record_out tests
 * them.  Filled once per backend.
 */
static bool quote_byte[256];
static bool quote_byte_ready = false;

static void
prepare_quote_bytes(void)
{
	for (int c = 1; c < 256; c++)
		quote_byte[c] = c == '"' || c == '\\' || c == '(' || c == ')' || c == ',' ||
			isspace((unsigned char) c);
	quote_byte_ready = true;
}

/*
 * The output functions of the current table's columns, from the cursor's
 * first batch (in mcxt, freed when the table is closed).
 */
static void
prepare_columns(ExportCtx *x, TupleDesc desc)
{
	MemoryContext old = MemoryContextSwitchTo(x->mcxt);

	if (!quote_byte_ready)
		prepare_quote_bytes();
	x->natts = desc->natts;
	x->out = palloc(sizeof(FmgrInfo) * Max(x->natts, 1));
	x->values = palloc(sizeof(Datum) * Max(x->natts, 1));
	x->nulls = palloc(sizeof(bool) * Max(x->natts, 1));
	for (int i = 0; i < x->natts; i++)
	{
		Oid			fn;
		bool		varlena;

		getTypeOutputInfo(TupleDescAttr(desc, i)->atttypid, &fn, &varlena);
		fmgr_info_cxt(fn, &x->out[i], x->mcxt);
	}
	MemoryContextSwitchTo(old);
}

/*
 * A row's composite text into x->line, exactly as record_out writes the
 * ROW() of its columns: "(" values ")" separated by commas, nothing for
 * NULL, a value in double quotes when it is empty or has a byte of
 * quote_byte, quotes and backslashes doubled in it.  Output function
 * results go to row_cxt (reset per row).
 */
static void
row_text(ExportCtx *x, HeapTuple tup, TupleDesc desc)
{
	StringInfo	buf = &x->line;
	MemoryContext old = MemoryContextSwitchTo(x->row_cxt);

	heap_deform_tuple(tup, desc, x->values, x->nulls);
	resetStringInfo(buf);
	appendStringInfoCharMacro(buf, '(');
	for (int i = 0; i < x->natts; i++)
	{
		const char *value;
		const char *p;
		size_t		len;
		size_t		extra;
		char	   *d;

		if (i > 0)
			appendStringInfoCharMacro(buf, ',');
		if (x->nulls[i])
			continue;
		value = OutputFunctionCall(&x->out[i], x->values[i]);
		for (p = value; *p && !quote_byte[(unsigned char) *p]; p++)
			;
		if (*p == '\0' && p != value)
		{
			appendBinaryStringInfo(buf, value, p - value);
			continue;
		}
		/* quoted (an empty value too): the exact size, then the bytes */
		len = p - value;
		extra = 2;
		for (; *p; p++, len++)
			if (*p == '"' || *p == '\\')
				extra++;
		enlargeStringInfo(buf, len + extra);
		d = buf->data + buf->len;
		*d++ = '"';
		for (p = value; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				*d++ = *p;
			*d++ = *p;
		}
		*d++ = '"';
		buf->len = d - buf->data;
		buf->data[buf->len] = '\0';
	}
	appendStringInfoCharMacro(buf, ')');
	MemoryContextSwitchTo(old);
	MemoryContextReset(x->row_cxt);
}

/*
 * The rows of SPI_tuptable as composite text into x->rows (batch_cxt).
 * For a user table it runs as the table's owner, like the fetch
 * (mt_owner_cursor_fetch_then).
 */
static void
copy_batch(void *arg)
{
	ExportCtx  *x = (ExportCtx *) arg;
	TupleDesc	desc = SPI_tuptable->tupdesc;
	uint64		got = SPI_processed;
	MemoryContext old;

	if (x->out == NULL && got > 0)
		prepare_columns(x, desc);
	MemoryContextReset(x->batch_cxt);
	old = MemoryContextSwitchTo(x->batch_cxt);
	x->rows = palloc(sizeof(Datum) * Max(got, 1));
	for (uint64 i = 0; i < got; i++)
	{
		row_text(x, SPI_tuptable->vals[i], desc);
		x->rows[i] = PointerGetDatum(cstring_to_text_with_len(x->line.data, x->line.len));
	}
	x->nrows = got;
	MemoryContextSwitchTo(old);
	x->next = 0;
}

/* the next batch of the current table into x->rows */
static void
export_fetch(ExportCtx *x)
{
	if (x->user_table)
	{
		mt_spi_connect();
		(void) mt_owner_cursor_fetch_then(&x->oc, MT_EXPORT_BATCH, copy_batch, x);
		mt_spi_finish();
	}
	else
	{
		MtCatalogCtx c;

		mt_catalog_begin(&c);
		SPI_cursor_fetch(x->portal, true, MT_EXPORT_BATCH);
		copy_batch(x);
		mt_catalog_end(&c);
	}
}

static void
export_close(ExportCtx *x)
{
	if (x->user_table)
		mt_owner_cursor_close(&x->oc);
	else
		SPI_cursor_close(x->portal);
	x->open = false;
	if (x->out != NULL)
	{
		pfree(x->out);
		pfree(x->values);
		pfree(x->nulls);
		x->out = NULL;
	}
	if (x->counts.len > 0)
		appendStringInfoString(&x->counts, ", ");
	escape_json(&x->counts, x->name);
	appendStringInfo(&x->counts, ": " INT64_FORMAT, x->count);
	x->table++;
}

/* the first call: the tenant, the isolated tables in foreign-key order */
static void
export_start(ExportCtx *x)
{
	Oid			t[1] = {UUIDOID};
	Datum		v[1] = {UUIDPGetDatum(&x->tenant)};
	int			nest;
	int			rc;

	if (mt_catalog_execute("SELECT 1 FROM mt.tenants WHERE id OPERATOR(pg_catalog.=) $1",
						   1, t, v, NULL) != SPI_OK_SELECT || SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("tenant %s does not exist", mt_uuid_to_cstring(&x->tenant))));
	x->version = MemoryContextStrdup(x->mcxt, extension_version());
	x->database = MemoryContextStrdup(x->mcxt, get_database_name(MyDatabaseId));

	/* the isolated tables with storage, parents before children */
	nest = mt_enter_safe_search_path();
	rc = SPI_execute("WITH RECURSIVE t AS ("
					 " SELECT i.tbl::pg_catalog.oid AS relid, i.tenant_column::pg_catalog.text AS tc,"
					 "  COALESCE(pg_catalog.pg_partition_root(i.tbl), i.tbl)::pg_catalog.oid AS root"
					 " FROM mt.isolated_tables i JOIN pg_catalog.pg_class c"
					 "  ON c.oid OPERATOR(pg_catalog.=) i.tbl::pg_catalog.oid"
					 " WHERE c.relkind OPERATOR(pg_catalog.=) 'r'),"
					 " e AS (SELECT DISTINCT"
					 "  COALESCE(pg_catalog.pg_partition_root(k.conrelid), k.conrelid::pg_catalog.regclass)::pg_catalog.oid AS child,"
					 "  COALESCE(pg_catalog.pg_partition_root(k.confrelid), k.confrelid::pg_catalog.regclass)::pg_catalog.oid AS parent"
					 " FROM pg_catalog.pg_constraint k WHERE k.contype OPERATOR(pg_catalog.=) 'f'),"
					 " d AS (SELECT root AS rel, 0 AS depth FROM t"
					 "  UNION SELECT e.child, d.depth OPERATOR(pg_catalog.+) 1 FROM d JOIN e"
					 "   ON e.parent OPERATOR(pg_catalog.=) d.rel AND e.child OPERATOR(pg_catalog.<>) e.parent"
					 "  WHERE d.depth OPERATOR(pg_catalog.<) 64)"
					 " SELECT t.relid, t.tc FROM t JOIN d ON d.rel OPERATOR(pg_catalog.=) t.root"
					 " GROUP BY t.relid, t.tc"
					 " ORDER BY max(d.depth), t.relid::pg_catalog.regclass::pg_catalog.text",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		mt_spi_failed("isolated tables", rc);
	mt_leave_safe_search_path(nest);
	MemoryContextSwitchTo(x->mcxt);
	x->nrels = (int) SPI_processed;
	x->rels = palloc(sizeof(Oid) * Max(x->nrels, 1));
	x->cols = palloc(sizeof(char *) * Max(x->nrels, 1));
	for (int i = 0; i < x->nrels; i++)
	{
		bool		isnull;

		x->rels[i] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		x->cols[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
}

/* the next output row into v[3]; false when the export is complete */
static bool
export_next(ExportCtx *x, Datum *v)
{
	for (;;)
	{
		if (x->pending_section)
		{
			v[0] = CStringGetTextDatum(x->pending_section);
			v[1] = CStringGetTextDatum(x->pending_name);
			v[2] = CStringGetTextDatum(x->pending_data);
			x->pending_section = NULL;
			return true;
		}
		switch (x->phase)
		{
			case EXPORT_HEADER:
				{
					StringInfoData h;

					initStringInfo(&h);
					appendStringInfo(&h, "{\"format\": %d, \"extension\": \"multitenant\", \"extension_version\": ",
									 MT_EXPORT_FORMAT);
					escape_json(&h, x->version);
					appendStringInfoString(&h, ", \"tenant\": ");
					escape_json(&h, mt_uuid_to_cstring(&x->tenant));
					appendStringInfoString(&h, ", \"database\": ");
					escape_json(&h, x->database);
					appendStringInfoString(&h, ", \"exported_at\": ");
					escape_json(&h, timestamptz_to_str(GetCurrentTransactionStartTimestamp()));
					appendStringInfoString(&h, "}");
					queue(x, "header", "multitenant", h.data);
					x->phase = EXPORT_TABLES;
					break;
				}
			case EXPORT_TABLES:
				if (!x->open)
				{
					if (x->table >= (int) N_EXT_TABLES + x->nrels)
						x->phase = EXPORT_END;
					else
						export_open(x);
					break;
				}
				if (x->next < x->nrows)
				{
					v[0] = x->row_datum;
					v[1] = x->name_datum;
					v[2] = x->rows[x->next++];
					x->count++;
					return true;
				}
				CHECK_FOR_INTERRUPTS();
				export_fetch(x);
				if (x->nrows == 0)
				{
					mt_spi_connect();
					export_close(x);
					mt_spi_finish();
				}
				break;
			case EXPORT_END:
				queue(x, "end", "multitenant", psprintf("{\"rows\": {%s}}", x->counts.data));
				x->phase = EXPORT_DONE;
				break;
			default:
				return false;
		}
	}
}

PG_FUNCTION_INFO_V1(mt_export_tenant);
Datum
mt_export_tenant(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	ExportCtx  *x;
	Datum		v[3];
	bool		n[3] = {false, false, false};
	bool		more;
	MemoryContext old;

	mt_require_coordinator("mt.export_tenant()");
	if (SRF_IS_FIRSTCALL())
	{
		TupleDesc	desc;

		mt_require_args(fcinfo, 1, "tenant");
		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		x = palloc0(sizeof(ExportCtx));
		x->tenant = *PG_GETARG_UUID_P(0);
		x->batch_cxt = AllocSetContextCreate(funcctx->multi_call_memory_ctx, "mt export batch",
											 ALLOCSET_DEFAULT_SIZES);
		x->row_cxt = AllocSetContextCreate(funcctx->multi_call_memory_ctx, "mt export row",
										   ALLOCSET_DEFAULT_SIZES);
		initStringInfo(&x->line);
		initStringInfo(&x->counts);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "multitenant: mt.export_tenant must return a row type");
		x->desc = BlessTupleDesc(desc);
		x->row_datum = CStringGetTextDatum("row");
		x->mcxt = funcctx->multi_call_memory_ctx;
		mt_spi_connect();
		MemoryContextSwitchTo(x->mcxt);
		export_start(x);
		mt_spi_finish();
		funcctx->user_fctx = x;
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	x = funcctx->user_fctx;

	/*
	 * State that outlives this call goes to the multi-call context; a data
	 * row allocates nothing there (its values are the batch's and the
	 * prepared name), so nothing grows with the tenant.
	 */
	old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
	more = export_next(x, v);
	MemoryContextSwitchTo(old);
	if (!more)
		SRF_RETURN_DONE(funcctx);
	SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(heap_form_tuple(x->desc, v, n)));
}

/* ---------------------------------------------------------------------
 * Import
 * --------------------------------------------------------------------- */
typedef struct ImportState
{
	char	   *source;			/* quoted name of the staging table */
	char	   *meta;			/* its rows but those of user tables (temporary) */
	int			ncounts;		/* rows per table, from the end row's check */
	char	  **count_names;
	int64	   *counts;
	pg_uuid_t	src;
	pg_uuid_t	dst;
	text	   *new_slug;		/* NULL: keep */
	Tuplestorestate *ts;
	TupleDesc	desc;
	int			ntemp;
	char	   *request_map;	/* temporary table (old_id, new_id) of GDPR requests */
	bool		requests_renumbered;
	MemoryContext batch;
} ImportState;

static void
report(ImportState *st, const char *item, int64 expected, int64 imported, bool ok,
	   const char *detail)
{
	Datum		v[5];
	bool		n[5] = {false, false, false, false, detail == NULL};

	v[0] = text_datum(item);
	v[1] = Int64GetDatum(expected);
	v[2] = Int64GetDatum(imported);
	v[3] = BoolGetDatum(ok);
	v[4] = detail ? text_datum(detail) : (Datum) 0;
	tuplestore_putvalues(st->ts, st->desc, v, n);
}

static void
bad_export(const char *msg, const char *detail) pg_attribute_noreturn();

static void
bad_export(const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("%s", msg),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("Load the whole file written by mt.export_tenant (bin/mt-tenant export); nothing was imported.")));
}

/* one value of the staging table's section: the single "data" of section */
static char *
single_section(ImportState *st, const char *section)
{
	Oid			t[1] = {TEXTOID};
	Datum		v[1] = {text_datum(section)};
	char	   *sql = psprintf("SELECT data FROM %s WHERE section OPERATOR(pg_catalog.=) $1 LIMIT 2",
							   st->meta);
	int			nest = mt_enter_safe_search_path();

	mt_spi_execute(sql, 1, t, v, SPI_OK_SELECT);
	mt_leave_safe_search_path(nest);
	if (SPI_processed != 1)
		bad_export(SPI_processed == 0 ?
				   psprintf("the export has no %s row", section) :
				   psprintf("the export has more than one %s row", section),
				   strcmp(section, "end") == 0 ? "The export is truncated: its last row is missing." : NULL);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* a scalar of a JSON document (->> path), NULL when absent */
static char *
json_field(const char *doc, const char *path)
{
	Oid			t[2] = {TEXTOID, TEXTOID};
	Datum		v[2] = {text_datum(doc), text_datum(path)};
	bool		isnull;
	int			nest = mt_enter_safe_search_path();
	char	   *s;

	s = mt_spi_text("SELECT $1::pg_catalog.jsonb OPERATOR(pg_catalog.#>>) pg_catalog.string_to_array($2, ',')",
					2, t, v, &isnull);
	mt_leave_safe_search_path(nest);
	return s;
}

/*
 * A temporary table (dropped at commit) with the exported columns of a
 * table, whose row type parses the exported rows.  Types are parsed by
 * parseTypeString and printed again: nothing of the file reaches the SQL
 * text unchecked.  Returns its name; *colnames gets the column names.
 */
static char *
staging_type(ImportState *st, const char *meta, List **colnames)
{
	StringInfoData ddl;
	char	   *name = psprintf("pg_temp.mt_import_%d_%d", MyProcPid, ++st->ntemp);
	int			nest = mt_enter_safe_search_path();
	Oid			t[1] = {TEXTOID};
	Datum		v[1] = {text_datum(meta)};
	uint64		n;

	*colnames = NIL;
	mt_spi_execute("SELECT c OPERATOR(pg_catalog.->>) 0, c OPERATOR(pg_catalog.->>) 1 "
				   "FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'columns') c",
				   1, t, v, SPI_OK_SELECT);
	n = SPI_processed;
	if (n == 0)
		bad_export("a table of the export lists no columns", NULL);
	initStringInfo(&ddl);
	appendStringInfo(&ddl, "CREATE TEMPORARY TABLE %s (", name);
	for (uint64 i = 0; i < n; i++)
	{
		char	   *col = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *typ = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		Oid			typid;
		int32		typmod;

		if (col == NULL || typ == NULL)
			bad_export("a column of a table of the export has no name or type", NULL);
		parseTypeString(typ, &typid, &typmod, false);
		appendStringInfo(&ddl, "%s%s %s", i > 0 ? ", " : "", quote_identifier(col),
						 format_type_with_typemod(typid, typmod));
		*colnames = lappend(*colnames, pstrdup(col));
	}
	appendStringInfoString(&ddl, ") ON COMMIT DROP");
	mt_spi_execute(ddl.data, 0, NULL, NULL, SPI_OK_UTILITY);
	mt_leave_safe_search_path(nest);
	return name;
}

static char
attidentity(Oid relid, AttrNumber att)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(att));
	char		r = '\0';

	if (HeapTupleIsValid(tup))
	{
		r = ((Form_pg_attribute) GETSTRUCT(tup))->attidentity;
		ReleaseSysCache(tup);
	}
	return r;
}

static bool
list_has(List *l, const char *s)
{
	ListCell   *lc;

	foreach(lc, l)
		if (strcmp((char *) lfirst(lc), s) == 0)
		return true;
	return false;
}

/*
 * The INSERT of one table: columns of the export that the table has
 * (every exported column must exist here; generated columns are computed
 * again), the tenant column set to $1, rows parsed from the text[] $2 and
 * kept only when their tenant column is the exported tenant ($3); $4 the
 * new slug (mt.tenants).
 */
static char *
insert_sql(Oid relid, const char *target, const char *rowtype, List *cols,
		   const char *tenant_column, const char *omit, const char *conflict,
		   const char *request_id, const char *request_map, const char *select)
{
	StringInfoData ins;
	StringInfoData sel;
	ListCell   *lc;
	bool		overriding = false;
	bool		is_tenants = strcmp(target, "mt.tenants") == 0;

	initStringInfo(&ins);
	initStringInfo(&sel);
	foreach(lc, cols)
	{
		char	   *col = lfirst(lc);
		AttrNumber att = get_attnum(relid, col);
		const char *q = quote_identifier(col);

		if (att == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column %s of table %s in the export does not exist in this database", q, target),
					 errhint("Create the same tables (pg_dump --schema-only) before importing; nothing was imported.")));
		if (get_attgenerated(relid, att) != '\0')
			continue;
		if (omit && strcmp(col, omit) == 0)
			continue;
		if (attidentity(relid, att) == ATTRIBUTE_IDENTITY_ALWAYS)
			overriding = true;
		appendStringInfo(&ins, "%s%s", ins.len ? ", " : "", q);
		if (sel.len)
			appendStringInfoString(&sel, ", ");
		if (tenant_column && strcmp(col, tenant_column) == 0)
			appendStringInfoString(&sel, "$1");
		else if (request_id && strcmp(col, request_id) == 0)
			appendStringInfo(&sel, "(SELECT m.new_id FROM %s m WHERE m.old_id OPERATOR(pg_catalog.=) (mt_r).%s)",
							 request_map, q);
		else if (is_tenants && strcmp(col, "slug") == 0)
			appendStringInfo(&sel, "COALESCE($4, (mt_r).%s)", q);
		else
			appendStringInfo(&sel, "(mt_r).%s", q);
	}
	if (tenant_column && !list_has(cols, tenant_column))
		bad_export(psprintf("table %s of the export has no tenant column %s", target,
							quote_identifier(tenant_column)), NULL);
	return psprintf("INSERT INTO %s (%s)%s SELECT %s FROM (SELECT pg_catalog.unnest($2)::%s AS mt_r) s%s%s%s",
					target, ins.data, overriding ? " OVERRIDING SYSTEM VALUE" : "", sel.data, rowtype,
					tenant_column ? psprintf(" WHERE (mt_r).%s OPERATOR(pg_catalog.=) $3",
											 quote_identifier(tenant_column)) :
					select ? psprintf(" WHERE (mt_r).%s IN (SELECT p.id FROM mt.sso_providers p "
									  "WHERE p.tenant_id OPERATOR(pg_catalog.=) $1)", quote_identifier(select)) : "",
					conflict ? " " : "", conflict ? conflict : "");
}

/*
 * Insert the staged rows of one table in batches: as the table's owner in
 * the new tenant's maintenance context (user tables, relid valid) or as
 * the extension owner.  Returns the rows inserted.
 */
static int64 import_rows_from(ImportState *st, const char *from, const char *name, Oid relid,
								bool user_table, const char *sql);

static int64
import_rows(ImportState *st, const char *name, Oid relid, bool user_table, const char *sql)
{
	return import_rows_from(st, user_table ? st->source : st->meta, name, relid, user_table, sql);
}

static int64
import_rows_from(ImportState *st, const char *from, const char *name, Oid relid, bool user_table,
				 const char *sql)
{
	Oid			ct[1] = {TEXTOID};
	Datum		cv[1] = {text_datum(name)};
	Oid			it[4] = {UUIDOID, TEXTARRAYOID, UUIDOID, TEXTOID};
	Datum		iv[4];
	char		in[4] = {' ', ' ', ' ', st->new_slug ? ' ' : 'n'};
	Portal		p;
	int64		n = 0;
	int			nest = mt_enter_safe_search_path();

	p = SPI_cursor_open_with_args(NULL,
								  psprintf("SELECT data FROM %s WHERE section OPERATOR(pg_catalog.=) 'row' "
										   "AND name OPERATOR(pg_catalog.=) $1", from),
								  1, ct, cv, NULL, false, 0);
	if (p == NULL)
		mt_spi_failed("cursor open", SPI_result);
	mt_leave_safe_search_path(nest);
	iv[0] = UUIDPGetDatum(&st->dst);
	iv[2] = UUIDPGetDatum(&st->src);
	iv[3] = st->new_slug ? PointerGetDatum(st->new_slug) : (Datum) 0;
	for (;;)
	{
		uint64		got;
		Datum	   *elems;
		bool	   *nulls;
		int			dims[1];
		int			lbs[1] = {1};
		ArrayType  *arr;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(p, true, MT_EXPORT_BATCH);
		got = SPI_processed;
		if (got == 0)
			break;
		old = MemoryContextSwitchTo(st->batch);
		elems = palloc(sizeof(Datum) * got);
		nulls = palloc(sizeof(bool) * got);
		for (uint64 i = 0; i < got; i++)
			elems[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &nulls[i]);
		dims[0] = (int) got;
		arr = construct_md_array(elems, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT);
		MemoryContextSwitchTo(old);
		SPI_freetuptable(SPI_tuptable);
		iv[1] = PointerGetDatum(arr);
		if (user_table)
			mt_owner_execute(relid, &st->dst, sql, 4, it, iv, in, false, 0);
		else
			mt_catalog_execute(sql, 4, it, iv, in);
		n += SPI_processed;
		MemoryContextReset(st->batch);
	}
	SPI_cursor_close(p);
	return n;
}

/* staged rows of a table (the end row's count was checked against them) */
static int64
staged_count(ImportState *st, const char *name)
{
	for (int i = 0; i < st->ncounts; i++)
		if (strcmp(st->count_names[i], name) == 0)
			return st->counts[i];
	return 0;
}

/* sequences of a table's columns advanced past the imported values */
static void
advance_sequences(Oid relid, const char *target, const char *tenant_column,
				  const pg_uuid_t *tenant, bool user_table)
{
	Oid			t[2] = {TEXTOID, UUIDOID};
	Datum		v[2] = {text_datum(target), UUIDPGetDatum((pg_uuid_t *) tenant)};
	uint64		n;
	char	  **cols;
	char	  **seqs;
	int			nest = mt_enter_safe_search_path();

	mt_spi_execute("SELECT a.attname::pg_catalog.text, pg_catalog.pg_get_serial_sequence($1, a.attname::pg_catalog.text) "
				   "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
				   "AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped "
				   "AND pg_catalog.pg_get_serial_sequence($1, a.attname::pg_catalog.text) IS NOT NULL",
				   1, t, v, SPI_OK_SELECT);
	mt_leave_safe_search_path(nest);
	n = SPI_processed;
	cols = palloc(sizeof(char *) * Max(n, 1));
	seqs = palloc(sizeof(char *) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		cols[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		seqs[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	for (uint64 i = 0; i < n; i++)
	{
		Oid			st[2] = {TEXTOID, UUIDOID};
		Datum		sv[2] = {text_datum(seqs[i]), UUIDPGetDatum((pg_uuid_t *) tenant)};
		char	   *sql = psprintf("SELECT pg_catalog.setval($1::pg_catalog.regclass, m.v) FROM "
								   "(SELECT pg_catalog.max(%s)::pg_catalog.int8 AS v FROM %s WHERE %s OPERATOR(pg_catalog.=) $2) m "
								   "WHERE m.v OPERATOR(pg_catalog.>) COALESCE("
								   "pg_catalog.pg_sequence_last_value($1::pg_catalog.regclass), 0)",
								   quote_identifier(cols[i]), target, quote_identifier(tenant_column));

		if (user_table)
			mt_owner_execute(relid, tenant, sql, 2, st, sv, NULL, false, 0);
		else
			mt_catalog_execute(sql, 2, st, sv, NULL);
	}
}

/*
 * GDPR requests keep their ids when every one is free here, else all get
 * new ones; restrictions follow through the map (old_id, new_id), a
 * temporary table dropped at commit.
 */
static void
request_map(ImportState *st, const char *rowtype)
{
	int			nest = mt_enter_safe_search_path();
	Datum		ids;
	bool		isnull;
	Oid			t[1] = {INT8ARRAYOID};
	Datum		v[1];

	ids = mt_spi_value(psprintf("SELECT pg_catalog.array_agg((data::%s).id) FROM %s "
								"WHERE section OPERATOR(pg_catalog.=) 'row' "
								"AND name OPERATOR(pg_catalog.=) 'mt.gdpr_requests'", rowtype, st->meta),
					   0, NULL, NULL, false, &isnull);
	mt_leave_safe_search_path(nest);
	v[0] = isnull ? PointerGetDatum(construct_empty_array(INT8OID)) : ids;
	st->request_map = psprintf("pg_temp.mt_import_%d_%d", MyProcPid, ++st->ntemp);
	mt_catalog_execute("SELECT 1 FROM mt.gdpr_requests WHERE id OPERATOR(pg_catalog.=) ANY ($1) LIMIT 1",
					   1, t, v, NULL);
	st->requests_renumbered = SPI_processed > 0;
	mt_catalog_execute(psprintf("CREATE TEMPORARY TABLE %s ON COMMIT DROP AS "
								"SELECT old_id, %s AS new_id FROM pg_catalog.unnest($1) AS old_id",
								st->request_map,
								st->requests_renumbered ?
								"pg_catalog.nextval('mt.gdpr_requests_id_seq'::pg_catalog.regclass)" : "old_id"),
					   1, t, v, NULL);
}

static const ExtTable *
ext_table(const char *name)
{
	if (strncmp(name, "mt.", 3) != 0)
		return NULL;
	for (int i = 0; i < (int) N_EXT_TABLES; i++)
		if (strcmp(name + 3, ext_tables[i].name) == 0)
			return &ext_tables[i];
	return NULL;
}

/*
 * 55000 unless every sealed secret of column col of the imported tenant's
 * rows of mt.<table> opens here: a secret sealed under an audit_kek
 * version this cluster lacks (another secret file) or has retired would
 * be imported undecryptable.  The rows are read as the extension owner;
 * the plaintext is wiped at once.
 */
static void
check_sealed(ImportState *st, const char *table, const char *col, const char *label,
			 const char *what)
{
	Oid			t[1] = {UUIDOID};
	Datum		v[1] = {UUIDPGetDatum(&st->dst)};
	uint8		buf[MT_SEALED_MAX];

	if (!OidIsValid(mt_catalog_relid(table)))
		return;
	mt_catalog_execute(psprintf("SELECT kek_version, %s FROM mt.%s WHERE tenant_id OPERATOR(pg_catalog.=) $1 "
								"AND %s IS NOT NULL", col, table, col),
					   1, t, v, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		ver = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		int			version = isnull ? 0 : DatumGetInt32(ver);
		bytea	   *enc = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		int			len = mt_unseal(label, enc, version, buf);

		mt_wipe(buf, sizeof(buf));
		if (len < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the export's %s cannot be opened in this cluster", what),
					 errdetail("They are sealed under version %d of the audit_kek key, which this cluster's secret file does not have (another secret file) or which is retired here.",
							   version),
					 errhint("Import into a cluster started with the source's multitenant.secret (mt.secret_fingerprints() shows the same audit_kek fingerprints); nothing was imported.")));
	}
}

/*
 * The audit chain: checkpoints and rows, verbatim or re-chained.  The
 * staging table is read as the caller (the cursor is opened before the
 * switch to the extension owner, which writes).
 */
static void
import_audit(ImportState *st, const char *log_meta, char **mode)
{
	MtCatalogCtx c;
	Oid			t[3] = {UUIDOID, INT8OID, INT8OID};
	Datum		v[3];
	int64		base_seq = 0;
	uint8		base_hash[32];
	bool		verbatim;
	bool		same = memcmp(&st->src, &st->dst, sizeof(pg_uuid_t)) == 0;
	Portal		p;
	int64		n;
	uint64		nck;
	int			nest;
	char	   *ours;
	SPITupleTable *ck;
	bool		isnull;
	Datum		lo;
	Datum		hi;

	memset(base_hash, 0, sizeof(base_hash));
	/* the exported audit_log must have exactly our columns */
	ours = columns_json(mt_catalog_relid("audit_log"));
	if (json_field(log_meta, "columns") == NULL ||
		strcmp(json_field(psprintf("{\"c\": %s}", ours), "c"), json_field(log_meta, "columns")) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the audit log of the export does not have the columns of this version's mt.audit_log"),
				 errhint("Nothing was imported.")));

	nest = mt_enter_safe_search_path();
	/* the range of exported ids */
	mt_spi_execute(psprintf("SELECT pg_catalog.min((data::mt.audit_log).id), pg_catalog.max((data::mt.audit_log).id) "
							"FROM %s WHERE section OPERATOR(pg_catalog.=) 'row' "
							"AND name OPERATOR(pg_catalog.=) 'mt.audit_log'", st->meta),
				   0, NULL, NULL, SPI_OK_SELECT);
	lo = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	hi = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (isnull)
		lo = hi = Int64GetDatum(0);
	/* the checkpoints of the export (the last one is the chain's base) */
	mt_spi_execute(psprintf("SELECT (r).seq, (r).hash, (r).rows_pruned, (r).pruned_at, (r).pruned_by, (r).tenant_id "
							"FROM (SELECT data::mt.audit_checkpoints AS r FROM %s "
							"WHERE section OPERATOR(pg_catalog.=) 'row' AND name OPERATOR(pg_catalog.=) 'mt.audit_checkpoints' OFFSET 0) s "
							"ORDER BY 1", st->meta),
				   0, NULL, NULL, SPI_OK_SELECT);
	nck = SPI_processed;
	ck = SPI_tuptable;
	p = SPI_cursor_open_with_args(NULL,
								  psprintf("SELECT (r).* FROM (SELECT data::mt.audit_log AS r FROM %s "
										   "WHERE section OPERATOR(pg_catalog.=) 'row' "
										   "AND name OPERATOR(pg_catalog.=) 'mt.audit_log' OFFSET 0) s "
										   "ORDER BY (r).seq, (r).id", st->meta),
								  0, NULL, NULL, NULL, false, 0);
	if (p == NULL)
		mt_spi_failed("cursor open", SPI_result);
	mt_leave_safe_search_path(nest);

	mt_catalog_begin(&c);

	/*
	 * verbatim when the tenant id is the same, its chain is empty here and
	 * no audit id of the exported range is taken; otherwise re-chained
	 */
	v[0] = UUIDPGetDatum(&st->dst);
	v[1] = lo;
	v[2] = hi;
	verbatim = same &&
		!mt_spi_exists("SELECT 1 FROM mt.audit_log WHERE tenant_id OPERATOR(pg_catalog.=) $1 "
					   "UNION ALL SELECT 1 FROM mt.audit_checkpoints WHERE tenant_id OPERATOR(pg_catalog.=) $1",
					   1, t, v) &&
		(DatumGetInt64(hi) == 0 || mt_audit_import_ids_free(DatumGetInt64(lo), DatumGetInt64(hi)));
	for (uint64 i = 0; i < nck; i++)
	{
		bytea	   *hb = DatumGetByteaPP(SPI_getbinval(ck->vals[i], ck->tupdesc, 2, &isnull));
		pg_uuid_t  *tid = DatumGetUUIDP(SPI_getbinval(ck->vals[i], ck->tupdesc, 6, &isnull));

		if (memcmp(tid, &st->src, sizeof(pg_uuid_t)) != 0 || VARSIZE_ANY_EXHDR(hb) != 32)
			bad_export("an audit checkpoint of the export belongs to another tenant or is malformed", NULL);
		base_seq = DatumGetInt64(SPI_getbinval(ck->vals[i], ck->tupdesc, 1, &isnull));
		memcpy(base_hash, VARDATA_ANY(hb), 32);
		if (verbatim)
			mt_audit_import_checkpoint(&st->dst, base_seq, hb,
									   DatumGetInt64(SPI_getbinval(ck->vals[i], ck->tupdesc, 3, &isnull)),
									   DatumGetTimestampTz(SPI_getbinval(ck->vals[i], ck->tupdesc, 4, &isnull)),
									   SPI_getvalue(ck->vals[i], ck->tupdesc, 5));
	}
	n = mt_audit_import_chain(p, &st->src, &st->dst, base_seq, base_hash, !verbatim);
	mt_catalog_end(&c);
	SPI_cursor_close(p);
	*mode = psprintf("%s; " INT64_FORMAT " events%s", verbatim ? "verbatim (same ids and hashes: saved digests still verify)" :
					 "re-chained under new ids (the export's chain verified first)", n,
					 nck > 0 ? (verbatim ? ", checkpoint kept" : ", from the export's checkpoint") : "");
}

PG_FUNCTION_INFO_V1(mt_import_tenant);
Datum
mt_import_tenant(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ImportState st;
	char	   *header;
	char	   *trailer;
	char	   *s;
	char	   *ours;
	Oid			t[2] = {TEXTOID, UUIDOID};
	Datum		v[2];
	uint64		ntables;
	char	  **names;
	char	  **metas;
	char	   *audit_mode = NULL;
	char	   *log_meta = NULL;
	int64		log_rows = 0;
	int			nest;
	int			rnest;

	mt_require_coordinator("mt.import_tenant()");
	mt_require_writable("mt.import_tenant()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "source");
	memset(&st, 0, sizeof(st));
	st.source = mt_relation_name(PG_GETARG_OID(0));
	st.new_slug = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	if (st.new_slug != NULL)
		mt_refuse_uuid_slug(text_to_cstring(st.new_slug));
	InitMaterializedSRF(fcinfo, 0);
	st.ts = rsinfo->setResult;
	st.desc = rsinfo->setDesc;
	st.batch = AllocSetContextCreate(CurrentMemoryContext, "mt import batch", ALLOCSET_DEFAULT_SIZES);

	mt_spi_connect();

	/*
	 * Everything but the rows of user tables, in a small temporary table:
	 * the staging table is then read once for it, once for the counts and
	 * once per user table.
	 */
	st.meta = psprintf("pg_temp.mt_import_%d_%d", MyProcPid, ++st.ntemp);
	nest = mt_enter_safe_search_path();
	mt_spi_execute(psprintf("CREATE TEMPORARY TABLE %s ON COMMIT DROP AS SELECT section, name, data FROM %s "
							"WHERE section OPERATOR(pg_catalog.<>) 'row' OR name OPERATOR(pg_catalog.~~) 'mt.%%'",
							st.meta, st.source),
				   0, NULL, NULL, 0);
	mt_leave_safe_search_path(nest);

	/* header: format, version, tenant */
	header = single_section(&st, "header");
	s = json_field(header, "format");
	if (s == NULL || json_field(header, "extension_version") == NULL ||
		json_field(header, "tenant") == NULL)
		bad_export("the header of the export is malformed", "It needs format, extension_version and tenant.");
	if (atoi(s) != MT_EXPORT_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("export format %s is not supported", s),
				 errdetail("This version of multitenant reads format %d.", MT_EXPORT_FORMAT),
				 errhint("Update the extension (ALTER EXTENSION multitenant UPDATE) to the version that wrote the export.")));
	ours = extension_version();
	s = json_field(header, "extension_version");
	if (version_cmp(s, ours) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the export was written by multitenant %s, this database has %s", s, ours),
				 errhint("Update the extension here (ALTER EXTENSION multitenant UPDATE) before importing; nothing was imported.")));
	if (!mt_parse_uuid(json_field(header, "tenant"), &st.src))
		bad_export("the header of the export is malformed", "The tenant is not a uuid.");
	if (PG_ARGISNULL(1))
		st.dst = st.src;
	else
		st.dst = *PG_GETARG_UUID_P(1);

	/* the end row: the export is whole and every table has its count */
	trailer = single_section(&st, "end");
	v[0] = text_datum(trailer);
	nest = mt_enter_safe_search_path();
	mt_spi_execute(psprintf("SELECT COALESCE(e.key, r.name), e.value, COALESCE(r.n, 0) "
							"FROM pg_catalog.jsonb_each_text($1::pg_catalog.jsonb OPERATOR(pg_catalog.->) 'rows') e "
							"FULL JOIN (SELECT name, pg_catalog.count(*) AS n FROM %s "
							"WHERE section OPERATOR(pg_catalog.=) 'row' GROUP BY name) r "
							"ON r.name OPERATOR(pg_catalog.=) e.key", st.source),
				   1, t, v, SPI_OK_SELECT);
	mt_leave_safe_search_path(nest);
	st.ncounts = (int) SPI_processed;
	st.count_names = palloc(sizeof(char *) * Max(st.ncounts, 1));
	st.counts = palloc(sizeof(int64) * Max(st.ncounts, 1));
	for (int i = 0; i < st.ncounts; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *said = SPI_getvalue(tup, desc, 2);
		char	   *has = SPI_getvalue(tup, desc, 3);

		st.count_names[i] = SPI_getvalue(tup, desc, 1);
		st.counts[i] = pg_strtoint64(has);
		if (said == NULL || strcmp(said, has) != 0)
			bad_export("the export is truncated or altered",
					   psprintf("Table %s has %s rows in the file; its end row says %s.",
								st.count_names[i], has, said ? said : "nothing"));
	}

	/* the tenant must not exist here */
	v[1] = UUIDPGetDatum(&st.dst);
	if (mt_catalog_execute("SELECT 1 FROM mt.tenants WHERE id OPERATOR(pg_catalog.=) $2", 2, t, v, NULL)
		!= SPI_OK_SELECT || SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("tenant %s already exists in this database", mt_uuid_to_cstring(&st.dst)),
				 errhint("Import under a new tenant id (mt.import_tenant(source, new_tenant, new_slug)), or drop and purge the tenant first; nothing was imported.")));

	/* the tables, in the export's order */
	nest = mt_enter_safe_search_path();
	mt_spi_execute(psprintf("SELECT name, data FROM %s WHERE section OPERATOR(pg_catalog.=) 'table' "
							"ORDER BY (data::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'order')::pg_catalog.int4",
							st.meta),
				   0, NULL, NULL, SPI_OK_SELECT);
	mt_leave_safe_search_path(nest);
	ntables = SPI_processed;
	names = palloc(sizeof(char *) * Max(ntables, 1));
	metas = palloc(sizeof(char *) * Max(ntables, 1));
	for (uint64 i = 0; i < ntables; i++)
	{
		names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		metas[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	if (ntables == 0 || strcmp(names[0], "mt.plans") != 0)
		bad_export("the export has no table sections", NULL);

	/* user triggers and foreign-key triggers stay quiet, as in pg_restore */
	rnest = NewGUCNestLevel();
	(void) set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	for (uint64 i = 0; i < ntables; i++)
	{
		const char *kind = json_field(metas[i], "kind");
		const ExtTable *et = ext_table(names[i]);
		int64		expected = staged_count(&st, names[i]);
		int64		n = 0;
		List	   *cols;
		char	   *rowtype;
		char	   *detail = NULL;
		Oid			relid;

		if (kind == NULL)
			bad_export(psprintf("table %s of the export has no kind", names[i]), NULL);
		if (strcmp(kind, "extension") == 0)
		{
			if (et == NULL)
				bad_export(psprintf("the export has an unknown extension table %s", names[i]), NULL);
			if (strcmp(et->name, "audit_log") == 0)
			{
				log_meta = metas[i];
				log_rows = expected;
				continue;
			}
			if (strcmp(et->name, "audit_checkpoints") == 0)
				continue;		/* with the chain */
			if (strcmp(et->name, "audit_subject_keys") == 0 && expected > 0 &&
				memcmp(&st.src, &st.dst, sizeof(pg_uuid_t)) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot import audit subject keys under a new tenant id"),
						 errdetail("A subject key is found by a keyed hash over the tenant id and the subject."),
						 errhint("Import under the original tenant id; nothing was imported.")));
			if (strcmp(et->name, "totp_recovery_codes") == 0 && expected > 0 &&
				memcmp(&st.src, &st.dst, sizeof(pg_uuid_t)) != 0)
			{
				report(&st, names[i], expected, 0, true,
					   "not imported under a new tenant id: a recovery code's hash binds the tenant id; "
					   "issue new ones (mt.totp_recovery_codes)");
				continue;
			}
			/* (GDPR requests always: restrictions use their id map) */
			if (expected == 0 && strcmp(et->name, "gdpr_requests") != 0)
			{
				report(&st, names[i], 0, 0, true, NULL);
				continue;
			}
			relid = mt_catalog_relid(et->name);
			rowtype = staging_type(&st, metas[i], &cols);
			if (strcmp(et->name, "gdpr_requests") == 0)
				request_map(&st, rowtype);
			n = import_rows(&st, names[i], relid, false,
							insert_sql(relid, mt_relation_name(relid), rowtype, cols, et->tenant_column, et->omit, et->conflict,
									   et->request_id, st.request_map, et->select));
			if (et->sequence)
				mt_catalog_execute(psprintf("SELECT pg_catalog.setval('mt.%s'::pg_catalog.regclass, m.v) FROM "
											"(SELECT pg_catalog.max(id) AS v FROM mt.%s) m WHERE m.v OPERATOR(pg_catalog.>) "
											"COALESCE(pg_catalog.pg_sequence_last_value('mt.%s'::pg_catalog.regclass), 0)",
											et->sequence, et->name, et->sequence), 0, NULL, NULL, NULL);
			if (strcmp(et->name, "gdpr_requests") == 0 && st.requests_renumbered)
				detail = "new request ids: ids of the export are taken in this database";
			else if (strcmp(et->name, "api_key_secrets") == 0 && n != expected)
				detail = psprintf(INT64_FORMAT " keys not imported: their key ids exist in this database (a key belongs to one tenant)",
								  expected - n);
			else if ((strcmp(et->name, "domains") == 0 || strcmp(et->name, "sso_email_domains") == 0) &&
					 n != expected)
				detail = psprintf(INT64_FORMAT " not imported: the %s exists in this database (it belongs to one tenant)",
								  expected - n, strcmp(et->name, "domains") == 0 ? "host" : "email domain");
			else if (strcmp(et->name, "plans") == 0 || strcmp(et->name, "plan_limits") == 0)
			{
				if (n != expected)
					detail = "the plan exists here: its definition here is kept";
			}
			else if (n != expected)
				bad_export(psprintf("table %s: " INT64_FORMAT " of " INT64_FORMAT " rows imported",
									names[i], n, expected),
						   "Rows of another tenant are not imported.");
			report(&st, names[i], expected, n, true, detail);
		}
		else if (strcmp(kind, "isolated") == 0)
		{
			char	   *tc = json_field(metas[i], "tenant_column");
			Oid			tt[1] = {TEXTOID};
			Datum		tv[1] = {text_datum(names[i])};
			bool		isnull;
			char	   *here_tc;

			nest = mt_enter_safe_search_path();
			relid = DatumGetObjectId(mt_spi_value("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid",
												  1, tt, tv, false, &isnull));
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_TABLE),
						 errmsg("table %s of the export does not exist in this database", names[i]),
						 errhint("Create the same tables (pg_dump --schema-only) before importing; nothing was imported.")));
			tv[0] = ObjectIdGetDatum(relid);
			tt[0] = OIDOID;
			here_tc = mt_spi_text("SELECT tenant_column::pg_catalog.text FROM mt.isolated_tables "
								  "WHERE tbl::pg_catalog.oid OPERATOR(pg_catalog.=) $1", 1, tt, tv, &isnull);
			mt_leave_safe_search_path(nest);
			if (tc == NULL || here_tc == NULL || strcmp(tc, here_tc) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("table %s is not isolated by column %s in this database", names[i],
								tc ? quote_identifier(tc) : "?"),
						 errhint("Run mt.enable_isolation on it first; nothing was imported.")));
			rowtype = staging_type(&st, metas[i], &cols);
			n = import_rows(&st, names[i], relid, true,
							insert_sql(relid, mt_relation_name(relid), rowtype, cols, tc, NULL, NULL, NULL, NULL, NULL));
			if (n != expected)
				bad_export(psprintf("table %s: " INT64_FORMAT " of " INT64_FORMAT " rows imported",
									names[i], n, expected),
						   "Rows of another tenant are not imported.");
			advance_sequences(relid, mt_relation_name(relid), tc, &st.dst, true);
			report(&st, names[i], expected, n, true, NULL);
		}
		else
			bad_export(psprintf("table %s of the export has an unknown kind", names[i]), NULL);
	}
	AtEOXact_GUC(true, rnest);

	/* sealed secrets that this cluster cannot open are refused, not imported */
	check_sealed(&st, "totp_secrets", "secret_enc", MT_SEAL_LABEL_TOTP, "TOTP secrets");
	check_sealed(&st, "sso_providers", "client_secret_enc", MT_SEAL_LABEL_SSO, "SSO client secrets");

	if (log_meta == NULL)
		bad_export("the export has no audit log section", NULL);
	import_audit(&st, log_meta, &audit_mode);

	/* the import is recorded in the tenant's chain, then the chain verified */
	{
		MtCatalogCtx c;
		const char *pairs[6];
		bool		ok;
		bool		isnull;
		int64		checked;

		pairs[0] = "source_tenant";
		pairs[1] = mt_uuid_to_cstring(&st.src);
		pairs[2] = "source_database";
		pairs[3] = json_field(header, "database");
		pairs[4] = "exported_at";
		pairs[5] = json_field(header, "exported_at");
		mt_catalog_begin(&c);
		mt_audit_record(&st.dst, "tenant.imported", "tenant", mt_uuid_to_cstring(&st.dst), 3, pairs);
		v[1] = UUIDPGetDatum(&st.dst);
		mt_spi_execute("SELECT ok, rows_checked FROM mt.audit_verify($2)", 2, t, v, SPI_OK_SELECT);
		if (SPI_processed != 1)
			elog(ERROR, "multitenant: mt.audit_verify returned no row for the imported tenant");
		ok = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		checked = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		mt_catalog_end(&c);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("the imported audit chain of tenant %s does not verify", mt_uuid_to_cstring(&st.dst)),
					 errhint("Nothing was imported.")));
		report(&st, "audit chain", log_rows + 1, checked, true,
			   psprintf("%s; verified with mt.audit_verify, including the tenant.imported event", audit_mode));
	}
	mt_spi_finish();
	return (Datum) 0;
}
