/*-------------------------------------------------------------------------
 *
 * gdpr.c
 *	  Data-subject rights per tenant: the subject registry
 *	  (mt.register_subject / mt.unregister_subject), mt.gdpr_export,
 *	  mt.gdpr_erase (delete / anonymize, pseudonymized evidence, PII-free
 *	  receipt), consent (mt.record_consent, mt.has_consent, the append-only
 *	  guard of mt.consents), requests (mt.gdpr_request, mt.gdpr_process,
 *	  mt.is_restricted, mt.lift_restriction), the breach register
 *	  (mt.report_breach, mt.add_breach_subjects,
 *	  mt.record_breach_notification) and the sql_drop trigger that forgets
 *	  registrations of dropped tables.  Retention jobs are in retention.c.
 *
 * Privileges: mt.gdpr_export, mt.gdpr_erase and mt.gdpr_process are
 * SECURITY DEFINER (the extension owner reads and writes the extension's
 * tables).  Every statement on a registered (user) table runs as that
 * table's owner in a security-restricted operation with a safe
 * search_path (mt_owner_execute, spi_util.c), inside the caller's tenant
 * context, so the owner's triggers, casts and domain checks run with the
 * owner's rights and FORCE RLS confines them to the tenant; each statement
 * also names the tenant with an explicit "tenant_column = $1" predicate.
 * The other functions run with the caller's rights and write the
 * extension's tables through mt_catalog_execute() (spi_util.c) as the
 * extension owner.
 *
 * Concurrency: no shared memory and no locks of our own.  Erasure relies on
 * row locks: a DELETE/UPDATE of a row another transaction is changing waits
 * for it and re-checks the row (READ COMMITTED), so an erase is never
 * half-done; everything happens in the caller's transaction.
 *
 * Backend-local flag: gdpr_pseudonymizing is true only around the UPDATE
 * that replaces an erased subject by its pseudonym in mt.consents, the one
 * change the append-only guard lets through.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "audit.h"
#include "audit_keys.h"
#include "citus_node.h"
#include "context.h"
#include "crypto.h"
#include "gdpr.h"
#include "spi_util.h"
#include "util.h"

#define GDPR_MAX_SUBJECT		255
#define GDPR_MAX_PURPOSE		200
#define GDPR_PSEUDONYM_PREFIX	"erased:"
#define GDPR_PSEUDONYM_LABEL	"multitenant gdpr pseudonym v1"
#define GDPR_AUDIT_PAGE			10000

static bool gdpr_pseudonymizing = false;

/* how a subject id (text) is compared with a registered subject column */
typedef enum SubjectKind
{
	SUBJ_UNSUPPORTED,
	SUBJ_TEXT,
	SUBJ_UUID,
	SUBJ_INT2,
	SUBJ_INT4,
	SUBJ_INT8
} SubjectKind;

typedef struct ColInfo
{
	AttrNumber	attnum;
	Oid			typid;
	int32		typmod;
	Oid			basetype;
	bool		notnull;
	char		generated;
	char		identity;
} ColInfo;

/* one row of mt.subject_tables, resolved */
typedef struct SubjectReg
{
	Oid			relid;
	char	   *qname;
	char	   *tenant_col;
	char	   *subject_col;
	bool		anonymize;
	char	   *set_list;		/* "col = expr, ..." for anonymize */
	SubjectKind kind;
	Oid			basetype;
} SubjectReg;

/* ---------------------------------------------------------------------
 * small helpers (shared with retention.c through gdpr.h)
 * --------------------------------------------------------------------- */

void
mt_gdpr_require_owner(Oid relid)
{
	bool		owner;

#if PG_VERSION_NUM >= 160000
	owner = object_ownercheck(RelationRelationId, relid, GetUserId());
#else
	owner = pg_class_ownercheck(relid, GetUserId());
#endif
	if (!owner)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s", mt_relation_name(relid))));
}

char *
mt_gdpr_actor_role(void)
{
	return GetUserNameFromId(GetOuterUserId(), false);
}

static Datum
uuid_datum(const pg_uuid_t *u)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	memcpy(copy, u, sizeof(pg_uuid_t));
	return UUIDPGetDatum(copy);
}

/*
 * A subject id argument: not NULL (22004), not empty, at most 255 bytes
 * (22023).  Writes refuse ids that look like our pseudonyms.
 */
static char *
subject_arg(FunctionCallInfo fcinfo, int argno, bool for_write)
{
	char	   *s;

	mt_require_arg_set(fcinfo, MT_ARG(argno), "subject");
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject must not be empty")));
	if (strlen(s) > GDPR_MAX_SUBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject is longer than %d bytes", GDPR_MAX_SUBJECT)));
	if (for_write && strncmp(s, GDPR_PSEUDONYM_PREFIX, strlen(GDPR_PSEUDONYM_PREFIX)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject ids starting with \"%s\" are reserved for pseudonyms of erased subjects",
						GDPR_PSEUDONYM_PREFIX)));
	return s;
}

static char *
optional_text(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static void
append_hex(StringInfo buf, const uint8 *bytes, size_t len)
{
	for (size_t i = 0; i < len; i++)
		appendStringInfo(buf, "%02x", bytes[i]);
}

/*
 * The pseudonym that replaces an erased subject in evidence rows:
 * "erased:" || hex(HMAC-SHA256(K, tenant || subject)), K derived from the
 * server secret.  Deterministic (the same subject maps to the same
 * pseudonym, so the evidence stays linked), not reversible without K.
 */
static char *
gdpr_pseudonym(const pg_uuid_t *tenant, const char *subject)
{
	uint8		key[MT_SECRET_LEN];
	uint8		mac[MT_SHA256_LEN];
	size_t		slen = strlen(subject);
	uint8	   *msg = palloc(UUID_LEN + slen);
	StringInfoData out;

	memcpy(msg, tenant->data, UUID_LEN);
	memcpy(msg + UUID_LEN, subject, slen);
	mt_derive_key(GDPR_PSEUDONYM_LABEL, key);
	mt_hmac_sha256(key, sizeof(key), msg, UUID_LEN + slen, mac);
	mt_wipe(key, sizeof(key));
	mt_wipe(msg, UUID_LEN + slen);
	pfree(msg);

	initStringInfo(&out);
	appendStringInfoString(&out, GDPR_PSEUDONYM_PREFIX);
	append_hex(&out, mac, sizeof(mac));
	return out.data;
}

/* now() as ISO 8601 UTC text, independent of the session's settings */
static char *
utc_now_text(void)
{
	bool		isnull;

	return mt_spi_text("SELECT pg_catalog.to_char(pg_catalog.now() AT TIME ZONE 'UTC', "
					   "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')", 0, NULL, NULL, &isnull);
}

/* ---------------------------------------------------------------------
 * Column types
 * --------------------------------------------------------------------- */

static bool
col_info(Oid relid, const char *col, ColInfo *ci)
{
	HeapTuple	tup = SearchSysCacheAttName(relid, col);
	Form_pg_attribute att;

	if (!HeapTupleIsValid(tup))
		return false;
	att = (Form_pg_attribute) GETSTRUCT(tup);
	ci->attnum = att->attnum;
	ci->typid = att->atttypid;
	ci->typmod = att->atttypmod;
	ci->notnull = att->attnotnull;
	ci->generated = att->attgenerated;
	ci->identity = att->attidentity;
	ReleaseSysCache(tup);
	ci->basetype = getBaseType(ci->typid);
	if (ci->basetype != ci->typid && !ci->notnull)
	{
		/* a NOT NULL domain refuses NULL as well */
		HeapTuple	t = SearchSysCache1(TYPEOID, ObjectIdGetDatum(ci->typid));

		if (HeapTupleIsValid(t))
		{
			ci->notnull = ((Form_pg_type) GETSTRUCT(t))->typnotnull;
			ReleaseSysCache(t);
		}
	}
	return ci->attnum > 0;
}

static SubjectKind
subject_kind(Oid basetype)
{
	char		cat;
	bool		preferred;

	switch (basetype)
	{
		case UUIDOID:
			return SUBJ_UUID;
		case INT2OID:
			return SUBJ_INT2;
		case INT4OID:
			return SUBJ_INT4;
		case INT8OID:
			return SUBJ_INT8;
		default:
			break;
	}
	get_type_category_preferred(basetype, &cat, &preferred);
	return cat == TYPCATEGORY_STRING ? SUBJ_TEXT : SUBJ_UNSUPPORTED;
}

/* what uuid_in accepts: optional braces, hyphens after groups of 4 digits */
static bool
parse_uuid_text(const char *s, pg_uuid_t *out)
{
	char		hex[33];
	int			n = 0;
	const char *p = s;
	bool		brace = false;
	char		canon[37];

	if (*p == '{')
	{
		brace = true;
		p++;
	}
	for (; *p != '\0' && *p != '}'; p++)
	{
		if (*p == '-')
		{
			if (n == 0 || n % 4 != 0 || n >= 32 || p[-1] == '-')
				return false;
			continue;
		}
		if (!isxdigit((unsigned char) *p) || n >= 32)
			return false;
		hex[n++] = *p;
	}
	if (brace)
	{
		if (*p != '}')
			return false;
		p++;
	}
	if (*p != '\0' || n != 32 || p[-1] == '-')
		return false;
	snprintf(canon, sizeof(canon), "%.8s-%.4s-%.4s-%.4s-%.12s",
			 hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return mt_parse_uuid(canon, out);
}

/* what int2/4/8 input accepts (decimal, surrounding blanks), in range */
static bool
parse_int_text(const char *s, int64 min, int64 max, int64 *out)
{
	const char *p = s;
	bool		neg = false;
	uint64		v = 0;
	int			digits = 0;

	while (isspace((unsigned char) *p))
		p++;
	if (*p == '+' || *p == '-')
		neg = (*p++ == '-');
	for (; isdigit((unsigned char) *p); p++, digits++)
	{
		if (v > (PG_UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	while (isspace((unsigned char) *p))
		p++;
	if (digits == 0 || *p != '\0')
		return false;
	if (neg)
	{
		if (v > (uint64) PG_INT64_MAX + 1)
			return false;
		*out = (v == (uint64) PG_INT64_MAX + 1) ? PG_INT64_MIN : -(int64) v;
	}
	else
	{
		if (v > (uint64) PG_INT64_MAX)
			return false;
		*out = (int64) v;
	}
	return *out >= min && *out <= max;
}

/*
 * The subject id as a value of the subject column's (base) type, so that
 * "column = $2" uses an index on the column.  False when the id cannot be
 * a value of that type: the table then holds no rows for the subject.
 */
static bool
subject_datum(const SubjectReg *reg, const char *subject, Datum *out)
{
	int64		v;

	switch (reg->kind)
	{
		case SUBJ_TEXT:
			{
				Oid			infunc;
				Oid			ioparam;

				getTypeInputInfo(reg->basetype, &infunc, &ioparam);
				*out = OidInputFunctionCall(infunc, (char *) subject, ioparam, -1);
				return true;
			}
		case SUBJ_UUID:
			{
				pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

				if (!parse_uuid_text(subject, u))
					return false;
				*out = UUIDPGetDatum(u);
				return true;
			}
		case SUBJ_INT2:
			if (!parse_int_text(subject, PG_INT16_MIN, PG_INT16_MAX, &v))
				return false;
			*out = Int16GetDatum((int16) v);
			return true;
		case SUBJ_INT4:
			if (!parse_int_text(subject, PG_INT32_MIN, PG_INT32_MAX, &v))
				return false;
			*out = Int32GetDatum((int32) v);
			return true;
		case SUBJ_INT8:
			if (!parse_int_text(subject, PG_INT64_MIN, PG_INT64_MAX, &v))
				return false;
			*out = Int64GetDatum(v);
			return true;
		default:
			return false;
	}
}

/*
 * The value an anonymized column gets (SQL expression, evaluated per row),
 * or NULL when the column's type has no documented value and it is NOT
 * NULL.  See doc/gdpr.md "Anonymization values".
 */
static char *
anon_expr(const ColInfo *ci, bool is_subject)
{
	char	   *type = format_type_with_typemod(ci->typid, ci->typmod);
	char		cat;
	bool		preferred;
	const char *literal = NULL;

	get_type_category_preferred(ci->basetype, &cat, &preferred);
	if (cat == TYPCATEGORY_STRING)
		return psprintf("CAST('erased-' || pg_catalog.substr(pg_catalog.md5(pg_catalog.gen_random_uuid()::pg_catalog.text), 1, 16)"
						" || '@erased.invalid' AS %s)", type);
	if (ci->basetype == UUIDOID)
		return psprintf("CAST(pg_catalog.gen_random_uuid() AS %s)", type);
	if (!ci->notnull)
		return pstrdup("NULL");
	if (is_subject)
	{
		/* a random negative id: a constant would merge erased rows into one "subject" */
		const char *range = ci->basetype == INT2OID ? "32767" :
		ci->basetype == INT4OID ? "2147483647" : "4611686018427387904";

		return psprintf("CAST(-1 - pg_catalog.floor(pg_catalog.random() * %s) AS %s)", range, type);
	}
	if (cat == TYPCATEGORY_NUMERIC)
		literal = "0";
	else if (cat == TYPCATEGORY_BOOLEAN)
		literal = "false";
	else if (cat == TYPCATEGORY_ARRAY)
		literal = "{}";
	else
		switch (ci->basetype)
		{
			case DATEOID:
				literal = "1970-01-01";
				break;
			case TIMESTAMPOID:
				literal = "1970-01-01 00:00:00";
				break;
			case TIMESTAMPTZOID:
				literal = "1970-01-01 00:00:00+00";
				break;
			case TIMEOID:
				literal = "00:00:00";
				break;
			case TIMETZOID:
				literal = "00:00:00+00";
				break;
			case INTERVALOID:
				literal = "0";
				break;
			case JSONOID:
			case JSONBOID:
				literal = "{}";
				break;
			case BYTEAOID:
				literal = "";
				break;
			default:
				return NULL;
		}
	return psprintf("CAST(%s AS %s)", quote_literal_cstr(literal), type);
}

/* tenant column of an isolated table, or NULL */
static char *
isolated_tenant_column(Oid relid)
{
	Datum		arg = ObjectIdGetDatum(relid);
	bool		isnull;

	return mt_spi_text("SELECT tenant_column::pg_catalog.text FROM mt.isolated_tables "
					   "WHERE tbl OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					   1, (Oid[]) {OIDOID}, &arg, &isnull);
}

/*
 * Validate one registration and build its anonymization SET list.  Used by
 * register_subject (errors describe the bad argument) and when loading the
 * registry (a table changed since: 55000).
 */
static void
resolve_registration(SubjectReg *reg, ArrayType *anon_cols, bool registering)
{
	ColInfo		subj;
	StringInfoData set;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems = 0;
	char	   *expr;

	if (!col_info(reg->relid, reg->subject_col, &subj))
		ereport(ERROR,
				(errcode(registering ? ERRCODE_UNDEFINED_COLUMN : ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("subject column \"%s\" of %s does not exist", reg->subject_col, reg->qname),
				 registering ? 0 : errhint("Register the table again with mt.register_subject().")));
	reg->basetype = subj.basetype;
	reg->kind = subject_kind(subj.basetype);
	if (reg->kind == SUBJ_UNSUPPORTED)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("subject column \"%s\" of %s has type %s", reg->subject_col, reg->qname,
						format_type_be(subj.typid)),
				 errdetail("Subject columns must be of a text-like type, uuid, smallint, integer or bigint.")));
	if (strcmp(reg->subject_col, reg->tenant_col) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the tenant column cannot be the subject column")));
	if (!reg->anonymize)
		return;

	initStringInfo(&set);
	if (anon_cols != NULL)
		deconstruct_array(anon_cols, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
						  &elems, &nulls, &nelems);
	for (int i = -1; i < nelems; i++)
	{
		const char *col = i < 0 ? reg->subject_col : NameStr(*DatumGetName(elems[i]));
		ColInfo		ci;

		if (i >= 0 && nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("anonymize_columns must not contain NULL")));
		if (i >= 0 && strcmp(col, reg->subject_col) == 0)
			continue;			/* always anonymized */
		for (int j = 0; j < i; j++)
			if (strcmp(col, NameStr(*DatumGetName(elems[j]))) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" is listed twice in anonymize_columns", col)));
		if (i >= 0 && !col_info(reg->relid, col, &ci))
			ereport(ERROR,
					(errcode(registering ? ERRCODE_UNDEFINED_COLUMN : ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of %s does not exist", col, reg->qname)));
		if (i < 0)
			ci = subj;
		if (strcmp(col, reg->tenant_col) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the tenant column \"%s\" cannot be anonymized", col)));
		if (ci.generated != '\0' || ci.identity == ATTRIBUTE_IDENTITY_ALWAYS)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of %s cannot be anonymized: it is a generated or GENERATED ALWAYS identity column",
							col, reg->qname)));
		expr = anon_expr(&ci, i < 0);
		if (expr == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot anonymize NOT NULL column \"%s\" of %s: no documented value for type %s",
							col, reg->qname, format_type_be(ci.typid)),
					 errhint("Make the column nullable, or use on_erase => 'delete'.")));
		if (set.len > 0)
			appendStringInfoString(&set, ", ");
		appendStringInfo(&set, "%s = %s", quote_identifier(col), expr);
	}
	reg->set_list = set.data;
}

/*
 * The registry, children first along foreign keys between registered
 * tables (so that a DELETE of a referenced row comes after the rows that
 * reference it), then by name.  Registrations of dropped tables are
 * skipped (the sql_drop trigger removes them).
 */
static List *
load_registry(void)
{
	List	   *regs = NIL;
	uint64		n;
	SPITupleTable *tt;

	mt_spi_execute("WITH RECURSIVE reg AS (SELECT DISTINCT s.tbl::pg_catalog.oid AS rel FROM mt.subject_tables s),"
				   " edges AS (SELECT DISTINCT c.conrelid AS child, c.confrelid AS parent"
				   "   FROM pg_catalog.pg_constraint c"
				   "   WHERE c.contype = 'f' AND c.conrelid IN (SELECT rel FROM reg)"
				   "     AND c.confrelid IN (SELECT rel FROM reg) AND c.conrelid <> c.confrelid),"
				   " h(rel, d) AS (SELECT rel, 0 FROM reg"
				   "   UNION ALL SELECT e.parent, h.d + 1 FROM h JOIN edges e ON e.child = h.rel WHERE h.d < 32),"
				   " lvl AS (SELECT rel, pg_catalog.max(d) AS d FROM h GROUP BY rel)"
				   "SELECT s.tbl::pg_catalog.oid, s.subject_column::pg_catalog.text, s.on_erase,"
				   "       s.anonymize_columns, i.tenant_column::pg_catalog.text"
				   " FROM mt.subject_tables s"
				   " JOIN lvl ON lvl.rel = s.tbl::pg_catalog.oid"
				   " JOIN pg_catalog.pg_class c ON c.oid = s.tbl::pg_catalog.oid"
				   " LEFT JOIN mt.isolated_tables i ON i.tbl = s.tbl"
				   " ORDER BY lvl.d, s.tbl::pg_catalog.text, s.subject_column",
				   0, NULL, NULL, SPI_OK_SELECT);
	n = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	row = tt->vals[i];
		TupleDesc	desc = tt->tupdesc;
		SubjectReg *reg = palloc0(sizeof(SubjectReg));
		bool		isnull;
		Datum		anon;

		reg->relid = DatumGetObjectId(SPI_getbinval(row, desc, 1, &isnull));
		reg->qname = mt_relation_name(reg->relid);
		reg->subject_col = SPI_getvalue(row, desc, 2);
		reg->anonymize = strcmp(SPI_getvalue(row, desc, 3), "anonymize") == 0;
		anon = SPI_getbinval(row, desc, 4, &isnull);
		reg->tenant_col = SPI_getvalue(row, desc, 5);
		if (reg->tenant_col == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table %s holds subject data but is no longer isolated", reg->qname),
					 errhint("Call mt.enable_isolation('%s') again, or mt.unregister_subject('%s').",
							 reg->qname, reg->qname)));
		resolve_registration(reg, isnull ? NULL : DatumGetArrayTypeP(anon), false);
		regs = lappend(regs, reg);
	}
	return regs;
}

/* the WHERE clause every statement on a registered table uses */
static char *
subject_where(const SubjectReg *reg)
{
	return psprintf("t.%s OPERATOR(pg_catalog.=) $1 AND t.%s OPERATOR(pg_catalog.=) $2",
					quote_identifier(reg->tenant_col), quote_identifier(reg->subject_col));
}

/* ---------------------------------------------------------------------
 * Audit integration: the subject's events (details decrypted) for the
 * export, appended to out as a JSON array, in pages.
 * --------------------------------------------------------------------- */
static void
append_audit_events(StringInfo out, const char *subject)
{
	int64		after = 0;
	bool		first = true;
	bool		isnull;

	appendStringInfoChar(out, '[');
	for (;;)
	{
		Datum		args[3] = {CStringGetTextDatum(subject), Int64GetDatum(after),
		Int32GetDatum(GDPR_AUDIT_PAGE)};
		uint64		n;

		mt_spi_execute("SELECT pg_catalog.to_jsonb(a)::pg_catalog.text, a.id"
					   " FROM mt.audit_search(subject => $1, after_id => $2, max_rows => $3) a"
					   " ORDER BY a.id",
					   3, (Oid[]) {TEXTOID, INT8OID, INT4OID}, args, SPI_OK_SELECT);
		n = SPI_processed;
		for (uint64 i = 0; i < n; i++)
		{
			if (!first)
				appendStringInfoString(out, ", ");
			first = false;
			appendStringInfoString(out, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			after = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}
		if (n < GDPR_AUDIT_PAGE)
			break;
	}
	appendStringInfoChar(out, ']');
}

/* ---------------------------------------------------------------------
 * Registry functions
 * --------------------------------------------------------------------- */

/*
 * mt.register_subject(tbl regclass, subject_column name,
 *					   on_erase text DEFAULT 'delete',
 *					   anonymize_columns name[] DEFAULT NULL)
 */
PG_FUNCTION_INFO_V1(mt_register_subject);
Datum
mt_register_subject(PG_FUNCTION_ARGS)
{
	SubjectReg	reg;
	const char *on_erase;
	ArrayType  *anon = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	char		relkind;
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	char	   *dup;
	int			nest;

	mt_require_writable("mt.register_subject()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 3, "table, subject column and on_erase");
	memset(&reg, 0, sizeof(reg));
	reg.relid = PG_GETARG_OID(0);
	reg.qname = mt_relation_name(reg.relid);
	reg.subject_col = pstrdup(NameStr(*PG_GETARG_NAME(1)));
	on_erase = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(on_erase, "delete") != 0 && strcmp(on_erase, "anonymize") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("on_erase must be 'delete' or 'anonymize', not \"%s\"", on_erase)));
	reg.anonymize = strcmp(on_erase, "anonymize") == 0;
	if (anon != NULL && ARR_NDIM(anon) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("anonymize_columns must be a one-dimensional array")));
	if (!reg.anonymize && anon != NULL && ArrayGetNItems(ARR_NDIM(anon), ARR_DIMS(anon)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("anonymize_columns apply only to on_erase => 'anonymize'")));
	relkind = get_rel_relkind(reg.relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table", reg.qname)));
	mt_gdpr_require_owner(reg.relid);

	mt_spi_connect();
	/* runs with the caller's rights: the caller's search_path must not choose operators */
	nest = mt_enter_safe_search_path();
	reg.tenant_col = isolated_tenant_column(reg.relid);
	if (reg.tenant_col == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is not isolated", reg.qname),
				 errdetail("Subject data is exported and erased per tenant: the table needs a tenant column."),
				 errhint("Call mt.enable_isolation('%s') first.", reg.qname)));
	resolve_registration(&reg, anon, true);

	/* a parent and its partition/child registered for the same column would count rows twice */
	args[0] = ObjectIdGetDatum(reg.relid);
	args[1] = CStringGetTextDatum(reg.subject_col);
	dup = mt_spi_text("WITH RECURSIVE up(rel) AS ("
					  "  SELECT inhparent FROM pg_catalog.pg_inherits WHERE inhrelid = $1"
					  "  UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid = up.rel),"
					  " down(rel) AS ("
					  "  SELECT inhrelid FROM pg_catalog.pg_inherits WHERE inhparent = $1"
					  "  UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN down ON i.inhparent = down.rel)"
					  "SELECT s.tbl::pg_catalog.text FROM mt.subject_tables s"
					  " WHERE s.subject_column OPERATOR(pg_catalog.=) $2::pg_catalog.name"
					  "   AND s.tbl::pg_catalog.oid IN (SELECT rel FROM up UNION ALL SELECT rel FROM down)"
					  " LIMIT 1",
					  2, (Oid[]) {OIDOID, TEXTOID}, args, &isnull);
	if (dup != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("column \"%s\" of %s is already covered by the registration of %s",
						reg.subject_col, reg.qname, dup),
				 errdetail("Queries on a parent include its partitions and children.")));

	args[2] = CStringGetTextDatum(on_erase);
	args[3] = anon != NULL ? PointerGetDatum(anon) : (Datum) 0;
	nulls[3] = anon != NULL ? ' ' : 'n';
	args[4] = CStringGetTextDatum(mt_gdpr_actor_role());
	mt_catalog_execute("INSERT INTO mt.subject_tables (tbl, subject_column, on_erase, anonymize_columns, registered_by) "
					   "VALUES ($1::pg_catalog.regclass, $2, $3, COALESCE($4, '{}'), $5) "
					   "ON CONFLICT (tbl, subject_column) DO UPDATE SET on_erase = EXCLUDED.on_erase, "
					   "anonymize_columns = EXCLUDED.anonymize_columns, registered_at = EXCLUDED.registered_at, "
					   "registered_by = EXCLUDED.registered_by",
					   5, (Oid[]) {OIDOID, TEXTOID, TEXTOID, NAMEARRAYOID, TEXTOID}, args, nulls);
	mt_leave_safe_search_path(nest);
	mt_spi_finish();
	PG_RETURN_VOID();
}

/* mt.unregister_subject(tbl regclass, subject_column name DEFAULT NULL) → integer */
PG_FUNCTION_INFO_V1(mt_unregister_subject);
Datum
mt_unregister_subject(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	uint64		n;

	mt_require_writable("mt.unregister_subject()", MT_WRITES_TABLES);
	mt_require_args(fcinfo, 1, "table");
	relid = PG_GETARG_OID(0);
	(void) mt_relation_name(relid);
	mt_gdpr_require_owner(relid);
	args[0] = ObjectIdGetDatum(relid);
	if (PG_ARGISNULL(1))
		nulls[1] = 'n';
	else
		args[1] = CStringGetTextDatum(NameStr(*PG_GETARG_NAME(1)));
	mt_spi_connect();
	mt_catalog_execute("DELETE FROM mt.subject_tables WHERE tbl = $1::pg_catalog.regclass "
					   "AND ($2::pg_catalog.name IS NULL OR subject_column = $2::pg_catalog.name)",
					   2, (Oid[]) {OIDOID, TEXTOID}, args, nulls);
	n = SPI_processed;
	mt_spi_finish();
	PG_RETURN_INT32((int32) n);
}

/* sql_drop: forget registrations and retention policies of dropped tables */
PG_FUNCTION_INFO_V1(mt_gdpr_forget_dropped);
Datum
mt_gdpr_forget_dropped(PG_FUNCTION_ARGS)
{
	Oid			nsp;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.gdpr_forget_dropped() must be called as an event trigger")));
	nsp = get_namespace_oid("mt", true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("subject_tables", nsp)) ||
		!OidIsValid(get_relname_relid("retention_policies", nsp)) ||
		!OidIsValid(get_relname_relid("isolated_tables", nsp)))
		PG_RETURN_VOID();		/* DROP EXTENSION */
	mt_spi_connect();
	mt_catalog_execute("WITH dropped AS (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() "
					   "  WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND objsubid = 0),"
					   " s AS (DELETE FROM mt.subject_tables WHERE tbl::pg_catalog.oid IN (SELECT objid FROM dropped))"
					   "DELETE FROM mt.retention_policies WHERE tbl::pg_catalog.oid IN (SELECT objid FROM dropped)",
					   0, NULL, NULL, NULL);
	mt_spi_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Export
 * --------------------------------------------------------------------- */

/* appends the result of a query returning one jsonb (as text) */
static void
append_json_query(StringInfo out, const char *sql, int nargs, Oid *types, Datum *values)
{
	bool		isnull;
	char	   *s = mt_spi_text(sql, nargs, types, values, &isnull);

	appendStringInfoString(out, isnull ? "[]" : s);
}

/*
 * Everything held about a subject in a tenant, as JSON text appended to
 * out; SPI connected; runs as the extension owner (the registered tables
 * are read as their owners).  *rows counts the rows of registered tables.
 */
static void
export_into(StringInfo out, const pg_uuid_t *tenant, const char *subject, int64 *rows, int *tables)
{
	List	   *regs = load_registry();
	ListCell   *lc;
	Datum		args[2] = {uuid_datum(tenant), CStringGetTextDatum(subject)};
	Oid			types[2] = {UUIDOID, TEXTOID};
	bool		first = true;

	*rows = 0;
	*tables = 0;
	appendStringInfoString(out, "{\"format\": \"multitenant.gdpr_export.v1\", \"tenant\": ");
	escape_json(out, mt_uuid_to_cstring(tenant));
	appendStringInfoString(out, ", \"subject\": ");
	escape_json(out, subject);
	appendStringInfoString(out, ", \"exported_at\": ");
	escape_json(out, utc_now_text());
	appendStringInfoString(out, ", \"tables\": [");
	foreach(lc, regs)
	{
		SubjectReg *reg = lfirst(lc);
		Datum		targs[2] = {args[0], (Datum) 0};
		Oid			ttypes[2] = {UUIDOID, reg->basetype};
		char	   *sql;
		bool		isnull;
		Datum		d;

		if (!first)
			appendStringInfoString(out, ", ");
		first = false;
		(*tables)++;
		appendStringInfoString(out, "{\"table\": ");
		escape_json(out, reg->qname);
		appendStringInfoString(out, ", \"subject_column\": ");
		escape_json(out, reg->subject_col);
		appendStringInfoString(out, ", \"rows\": ");
		if (!subject_datum(reg, subject, &targs[1]))
		{
			appendStringInfoString(out, "[]}");
			continue;
		}
		sql = psprintf("SELECT pg_catalog.jsonb_agg(r ORDER BY r::pg_catalog.text)::pg_catalog.text,"
					   " pg_catalog.count(*)"
					   " FROM (SELECT pg_catalog.to_jsonb(t.*) AS r FROM %s t WHERE %s) s",
					   reg->qname, subject_where(reg));
		/* as the table's owner: its casts to json run with its rights */
		mt_owner_execute(reg->relid, NULL, sql, 2, ttypes, targs, NULL, true, 0);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		*rows += DatumGetInt64(d);
		if (DatumGetInt64(d) == 0)
			appendStringInfoString(out, "[]");
		else
			appendStringInfoString(out, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		appendStringInfoChar(out, '}');
	}

	appendStringInfoString(out, "], \"consents\": ");
	append_json_query(out, "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
					  "'id', id, 'purpose', purpose, 'granted', granted, 'version', version, 'source', source,"
					  " 'recorded_at', recorded_at, 'recorded_by', recorded_by, 'actor', actor) ORDER BY id)::pg_catalog.text"
					  " FROM mt.consents WHERE tenant_id = $1 AND subject = $2",
					  2, types, args);
	appendStringInfoString(out, ", \"requests\": ");
	append_json_query(out, "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
					  "'id', id, 'kind', kind, 'reason', reason, 'status', status, 'submitted_at', submitted_at,"
					  " 'due_at', due_at, 'processed_at', processed_at) ORDER BY id)::pg_catalog.text"
					  " FROM mt.gdpr_requests WHERE tenant_id = $1 AND subject = $2",
					  2, types, args);
	appendStringInfoString(out, ", \"restrictions\": ");
	append_json_query(out, "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
					  "'request_id', request_id, 'restricted_at', restricted_at, 'lifted_at', lifted_at)"
					  " ORDER BY id)::pg_catalog.text"
					  " FROM mt.gdpr_restrictions WHERE tenant_id = $1 AND subject = $2",
					  2, types, args);
	appendStringInfoString(out, ", \"restricted\": ");
	appendStringInfoString(out,
						   mt_spi_exists("SELECT 1 FROM mt.gdpr_restrictions WHERE tenant_id = $1 "
										 "AND subject = $2 AND lifted_at IS NULL", 2, types, args)
						   ? "true" : "false");
	appendStringInfoString(out, ", \"breaches\": ");
	append_json_query(out, "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
					  "'id', b.id, 'description', b.description, 'detected_at', b.detected_at,"
					  " 'notified_at', b.notified_at) ORDER BY b.id)::pg_catalog.text"
					  " FROM mt.breach_subjects s JOIN mt.breaches b ON b.id = s.breach_id"
					  " WHERE s.tenant_id = $1 AND s.subject = $2",
					  2, types, args);
	appendStringInfoString(out, ", \"audit_events\": ");
	append_audit_events(out, subject);
	/* false: events under keys of another server secret cannot be identified */
	appendStringInfo(out, ", \"audit_events_complete\": %s",
					 mt_audit_tenant_keys_sealed(tenant) ? "false" : "true");
	appendStringInfoChar(out, '}');
}

static Datum
jsonb_from_cstring(const char *s)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s));
}

/* mt.gdpr_export(subject text) → jsonb (SECURITY DEFINER) */
PG_FUNCTION_INFO_V1(mt_gdpr_export);
Datum
mt_gdpr_export(PG_FUNCTION_ARGS)
{
	char	   *subject;
	const pg_uuid_t *tenant;
	StringInfoData out;
	int64		rows;
	int			tables;

	mt_require_coordinator("mt.gdpr_export()");
	subject = subject_arg(fcinfo, 0, false);
	tenant = mt_require_context_tenant();
	initStringInfo(&out);
	mt_spi_connect();
	export_into(&out, tenant, subject, &rows, &tables);
	mt_spi_finish();
	PG_RETURN_DATUM(jsonb_from_cstring(out.data));
}

/* ---------------------------------------------------------------------
 * Erasure
 * --------------------------------------------------------------------- */

/* UPDATE ... SET subject = pseudonym on an evidence table; row count */
static uint64
pseudonymize(const char *sql, Datum *args)
{
	mt_spi_execute(sql, 3, (Oid[]) {UUIDOID, TEXTOID, TEXTOID}, args, 0);
	return SPI_processed;
}

/* the one change the append-only guard of mt.consents lets through */
static uint64
pseudonymize_consents(Datum *args)
{
	volatile uint64 n = 0;

	gdpr_pseudonymizing = true;
	PG_TRY();
	{
		n = pseudonymize("UPDATE mt.consents SET subject = $3 WHERE tenant_id = $1 AND subject = $2", args);
	}
	PG_FINALLY();
	{
		gdpr_pseudonymizing = false;
	}
	PG_END_TRY();
	return n;
}

/*
 * Erase a subject in a tenant (SPI connected, as the extension owner; the
 * registered tables are changed as their owners) and append the PII-free
 * receipt to out.  request_id 0: record a completed
 * erasure request for a direct call.
 */
static void
erase_into(StringInfo out, const pg_uuid_t *tenant, const char *subject, int64 request_id)
{
	List	   *regs = load_registry();
	ListCell   *lc;
	char	   *pseudonym = gdpr_pseudonym(tenant, subject);
	Datum		pargs[3] = {uuid_datum(tenant), CStringGetTextDatum(subject), CStringGetTextDatum(pseudonym)};
	StringInfoData receipt;
	StringInfoData canon;
	uint64		consents,
				requests,
				restrictions,
				breaches;
	int64		keys;
	uint8		digest[crypto_hash_sha256_BYTES];
	bool		first = true;
	char	   *canonical;

	if (request_id == 0)
	{
		Datum		args[3] = {pargs[0], pargs[2], CStringGetTextDatum(mt_gdpr_actor_role())};

		request_id = DatumGetInt64(mt_spi_value(
												"INSERT INTO mt.gdpr_requests (tenant_id, subject, kind, reason, submitted_by, submitted_at, due_at)"
												" VALUES ($1, $2, 'erasure', 'mt.gdpr_erase() called directly', $3,"
												" pg_catalog.now(), pg_catalog.now() + interval '30 days') RETURNING id",
												3, (Oid[]) {UUIDOID, TEXTOID, TEXTOID}, args, false, NULL));
	}

	initStringInfo(&receipt);
	appendStringInfo(&receipt, "{\"receipt\": \"multitenant.gdpr_erase.v1\", \"request_id\": " INT64_FORMAT
					 ", \"tenant\": ", request_id);
	escape_json(&receipt, mt_uuid_to_cstring(tenant));
	appendStringInfoString(&receipt, ", \"erased_at\": ");
	escape_json(&receipt, utc_now_text());
	appendStringInfoString(&receipt, ", \"tables\": [");

	foreach(lc, regs)
	{
		SubjectReg *reg = lfirst(lc);
		Datum		targs[2] = {pargs[0], (Datum) 0};
		uint64		n = 0;

		if (subject_datum(reg, subject, &targs[1]))
		{
			char	   *sql;

			if (reg->anonymize)
				sql = psprintf("UPDATE %s t SET %s WHERE %s", reg->qname, reg->set_list, subject_where(reg));
			else
				sql = psprintf("DELETE FROM %s t WHERE %s", reg->qname, subject_where(reg));
			/* as the table's owner: its triggers, domains, defaults run with its rights */
			mt_owner_execute(reg->relid, NULL, sql, 2, (Oid[]) {UUIDOID, reg->basetype}, targs,
							 NULL, false, 0);
			n = SPI_processed;
		}
		if (!first)
			appendStringInfoString(&receipt, ", ");
		first = false;
		appendStringInfoString(&receipt, "{\"table\": ");
		escape_json(&receipt, reg->qname);
		appendStringInfoString(&receipt, ", \"subject_column\": ");
		escape_json(&receipt, reg->subject_col);
		appendStringInfo(&receipt, ", \"action\": \"%s\", \"rows\": " UINT64_FORMAT "}",
						 reg->anonymize ? "anonymize" : "delete", n);
	}

	/* evidence keeps its value under a pseudonym */
	consents = pseudonymize_consents(pargs);
	requests = pseudonymize("UPDATE mt.gdpr_requests SET subject = $3 WHERE tenant_id = $1 AND subject = $2", pargs);
	/* nothing is left to restrict: lift, then pseudonymize */
	mt_spi_execute("UPDATE mt.gdpr_restrictions SET lifted_at = pg_catalog.now(), lifted_by = 'erasure'"
				   " WHERE tenant_id = $1 AND subject = $2 AND lifted_at IS NULL",
				   2, (Oid[]) {UUIDOID, TEXTOID}, pargs, 0);
	restrictions = pseudonymize("UPDATE mt.gdpr_restrictions SET subject = $3 WHERE tenant_id = $1 AND subject = $2", pargs);
	mt_spi_execute("DELETE FROM mt.breach_subjects b WHERE b.tenant_id = $1 AND b.subject = $2"
				   " AND EXISTS (SELECT 1 FROM mt.breach_subjects p WHERE p.breach_id = b.breach_id"
				   "             AND p.tenant_id = $1 AND p.subject = $3)",
				   3, (Oid[]) {UUIDOID, TEXTOID, TEXTOID}, pargs, 0);
	breaches = SPI_processed;
	breaches += pseudonymize("UPDATE mt.breach_subjects SET subject = $3 WHERE tenant_id = $1 AND subject = $2", pargs);

	/* crypto-shredding: the subject's encrypted audit details become unreadable */
	keys = mt_audit_forget_subject_keys(tenant, subject);

	appendStringInfo(&receipt, "], \"consents_pseudonymized\": " UINT64_FORMAT
					 ", \"requests_pseudonymized\": " UINT64_FORMAT
					 ", \"restrictions_pseudonymized\": " UINT64_FORMAT
					 ", \"breach_records_pseudonymized\": " UINT64_FORMAT
					 ", \"audit_keys_destroyed\": " INT64_FORMAT "}",
					 consents, requests, restrictions, breaches, keys);

	/* canonical form = jsonb's text output; the digest covers everything else */
	canonical = JsonbToCString(NULL, &DatumGetJsonbP(jsonb_from_cstring(receipt.data))->root, receipt.len);
	crypto_hash_sha256(digest, (const unsigned char *) canonical, strlen(canonical));
	initStringInfo(&canon);
	appendBinaryStringInfo(&canon, canonical, strlen(canonical) - 1);	/* drop the closing brace */
	appendStringInfoString(&canon, ", \"digest\": \"");
	append_hex(&canon, digest, sizeof(digest));
	appendStringInfoString(&canon, "\"}");

	/* a PII-free event in the tenant's chain: the receipt itself */
	(void) mt_audit_append(tenant, "gdpr.erase", "gdpr_request",
						   psprintf(INT64_FORMAT, request_id),
						   DatumGetJsonbP(jsonb_from_cstring(canon.data)), NULL);

	{
		Datum		args[3] = {Int64GetDatum(request_id), CStringGetTextDatum(canon.data),
		CStringGetTextDatum(mt_gdpr_actor_role())};

		mt_spi_execute("UPDATE mt.gdpr_requests SET status = 'completed', processed_at = pg_catalog.now(),"
					   " processed_by = $3, result = $2::pg_catalog.jsonb WHERE id = $1",
					   3, (Oid[]) {INT8OID, TEXTOID, TEXTOID}, args, SPI_OK_UPDATE);
	}
	appendStringInfoString(out, canon.data);
}

/* mt.gdpr_erase(subject text) → jsonb receipt (SECURITY DEFINER) */
PG_FUNCTION_INFO_V1(mt_gdpr_erase);
Datum
mt_gdpr_erase(PG_FUNCTION_ARGS)
{
	char	   *subject;
	const pg_uuid_t *tenant;
	StringInfoData out;

	mt_require_writable("mt.gdpr_erase()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.gdpr_erase()");
	subject = subject_arg(fcinfo, 0, true);
	tenant = mt_require_context_tenant();
	initStringInfo(&out);
	mt_spi_connect();
	erase_into(&out, tenant, subject, 0);
	mt_spi_finish();
	PG_RETURN_DATUM(jsonb_from_cstring(out.data));
}

/* ---------------------------------------------------------------------
 * Consent
 * --------------------------------------------------------------------- */

/* consent guard: mt.consents is append-only except for erasure */
PG_FUNCTION_INFO_V1(mt_consents_guard);
Datum
mt_consents_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("mt.consents_guard() must be called as a trigger")));
	if (gdpr_pseudonymizing && TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		return PointerGetDatum(NULL);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("mt.consents is append-only: %s is not allowed",
					TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? "UPDATE" :
					TRIGGER_FIRED_BY_DELETE(td->tg_event) ? "DELETE" : "TRUNCATE"),
			 errdetail("Consent history is kept as evidence; mt.gdpr_erase() alone replaces an erased subject by a pseudonym."),
			 errhint("Record a withdrawal with mt.record_consent(subject, purpose, false).")));
	return PointerGetDatum(NULL);
}

static char *
purpose_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *p;

	mt_require_arg_set(fcinfo, MT_ARG(argno), "purpose");
	p = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (p[0] == '\0' || strlen(p) > GDPR_MAX_PURPOSE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("purpose must be 1 to %d bytes long", GDPR_MAX_PURPOSE)));
	return p;
}

/* inserts a consent event as the extension owner; returns its id */
static int64
insert_consent(const pg_uuid_t *tenant, const char *subject, const char *purpose, bool granted,
			   const char *version, const char *source)
{
	Datum		args[7] = {uuid_datum(tenant), CStringGetTextDatum(subject), CStringGetTextDatum(purpose),
		BoolGetDatum(granted), version ? CStringGetTextDatum(version) : (Datum) 0,
	source ? CStringGetTextDatum(source) : (Datum) 0, CStringGetTextDatum(mt_gdpr_actor_role())};
	char		nulls[7] = {' ', ' ', ' ', ' ', version ? ' ' : 'n', source ? ' ' : 'n', ' '};
	bool		isnull;

	mt_catalog_execute("INSERT INTO mt.consents (tenant_id, subject, purpose, granted, version, source, recorded_by, actor)"
					   " VALUES ($1, $2, $3, $4, $5, $6, $7, mt.current_subject()) RETURNING id",
					   7, (Oid[]) {UUIDOID, TEXTOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID, TEXTOID}, args, nulls);
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * mt.record_consent(subject text, purpose text, granted boolean,
 *					 version text DEFAULT NULL, source text DEFAULT NULL) → bigint
 */
PG_FUNCTION_INFO_V1(mt_record_consent);
Datum
mt_record_consent(PG_FUNCTION_ARGS)
{
	char	   *subject;
	char	   *purpose;
	const pg_uuid_t *tenant;
	int64		id;

	mt_require_writable("mt.record_consent()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.record_consent()");
	subject = subject_arg(fcinfo, 0, true);
	purpose = purpose_arg(fcinfo, 1);
	mt_require_arg_set(fcinfo, MT_ARG(2), "granted");
	tenant = mt_require_context_tenant();
	mt_spi_connect();
	id = insert_consent(tenant, subject, purpose, PG_GETARG_BOOL(2),
						optional_text(fcinfo, 3), optional_text(fcinfo, 4));
	mt_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * mt.has_consent(subject text, purpose text) → boolean: the latest event
 * wins; false when none; NULL without a tenant context.  Runs with the
 * caller's rights (mt.consents is readable under its tenant policy).
 */
PG_FUNCTION_INFO_V1(mt_has_consent);
Datum
mt_has_consent(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	char	   *subject;
	char	   *purpose;
	const pg_uuid_t *tenant;
	Datum		args[3];
	bool		result = false;

	mt_require_coordinator("mt.has_consent()");
	subject = subject_arg(fcinfo, 0, false);
	purpose = purpose_arg(fcinfo, 1);
	tenant = mt_context_tenant();
	if (tenant == NULL)
		PG_RETURN_NULL();
	args[0] = uuid_datum(tenant);
	args[1] = CStringGetTextDatum(subject);
	args[2] = CStringGetTextDatum(purpose);
	mt_spi_connect();
	if (plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT granted FROM mt.consents "
									"WHERE tenant_id OPERATOR(pg_catalog.=) $1 AND subject OPERATOR(pg_catalog.=) $2"
									" AND purpose OPERATOR(pg_catalog.=) $3 ORDER BY id DESC LIMIT 1",
									3, (Oid[]) {UUIDOID, TEXTOID, TEXTOID});

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "multitenant: could not prepare the consent lookup");
		plan = p;
	}
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "multitenant: consent lookup failed");
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		result = !isnull && DatumGetBool(d);
	}
	mt_spi_finish();
	PG_RETURN_BOOL(result);
}

/* ---------------------------------------------------------------------
 * Requests and restriction
 * --------------------------------------------------------------------- */

static const char *const request_kinds[] = {
	"access", "erasure", "portability", "rectification", "restriction", "objection", NULL
};

/* mt.gdpr_request(subject text, kind text, reason text DEFAULT NULL) → bigint */
PG_FUNCTION_INFO_V1(mt_gdpr_request);
Datum
mt_gdpr_request(PG_FUNCTION_ARGS)
{
	char	   *subject;
	char	   *kind;
	char	   *reason;
	const pg_uuid_t *tenant;
	bool		known = false;
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		id;

	mt_require_writable("mt.gdpr_request()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.gdpr_request()");
	subject = subject_arg(fcinfo, 0, true);
	reason = optional_text(fcinfo, 2);
	nulls[3] = reason ? ' ' : 'n';
	mt_require_arg_set(fcinfo, MT_ARG(1), "request kind");
	kind = text_to_cstring(PG_GETARG_TEXT_PP(1));
	for (int i = 0; request_kinds[i] != NULL; i++)
		known |= strcmp(kind, request_kinds[i]) == 0;
	if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown GDPR request kind \"%s\"", kind),
				 errhint("Use access, erasure, portability, rectification, restriction or objection.")));
	tenant = mt_require_context_tenant();

	args[0] = uuid_datum(tenant);
	args[1] = CStringGetTextDatum(subject);
	args[2] = CStringGetTextDatum(kind);
	args[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	args[4] = CStringGetTextDatum(mt_gdpr_actor_role());
	mt_spi_connect();
	mt_catalog_execute("INSERT INTO mt.gdpr_requests (tenant_id, subject, kind, reason, submitted_by, submitted_at, due_at)"
					   " VALUES ($1, $2, $3, $4, $5, pg_catalog.now(), pg_catalog.now() + interval '30 days')"
					   " RETURNING id",
					   5, (Oid[]) {UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID}, args, nulls);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	mt_spi_finish();
	PG_RETURN_INT64(id);
}

/* mark a subject restricted (idempotent); SPI connected, as the owner */
static bool
restrict_subject(const pg_uuid_t *tenant, const char *subject, int64 request_id)
{
	Datum		args[4] = {uuid_datum(tenant), CStringGetTextDatum(subject), Int64GetDatum(request_id),
	CStringGetTextDatum(mt_gdpr_actor_role())};

	mt_spi_execute("INSERT INTO mt.gdpr_restrictions (tenant_id, subject, request_id, restricted_by)"
				   " VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, subject) WHERE lifted_at IS NULL DO NOTHING",
				   4, (Oid[]) {UUIDOID, TEXTOID, INT8OID, TEXTOID}, args, SPI_OK_INSERT);
	return SPI_processed > 0;
}

/*
 * objection: withdraw every purpose whose latest event is a grant;
 * appends the purposes (a JSON array) to out.
 */
static int
object_subject(StringInfo out, const pg_uuid_t *tenant, const char *subject, int64 request_id)
{
	Datum		args[2] = {uuid_datum(tenant), CStringGetTextDatum(subject)};
	List	   *purposes = NIL;
	ListCell   *lc;
	char	   *source = psprintf("gdpr objection request " INT64_FORMAT, request_id);
	bool		first = true;

	mt_spi_execute("SELECT purpose FROM (SELECT DISTINCT ON (purpose) purpose, granted FROM mt.consents"
				   " WHERE tenant_id = $1 AND subject = $2 ORDER BY purpose, id DESC) s WHERE granted"
				   " ORDER BY purpose",
				   2, (Oid[]) {UUIDOID, TEXTOID}, args, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		purposes = lappend(purposes, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	appendStringInfoChar(out, '[');
	foreach(lc, purposes)
	{
		(void) insert_consent(tenant, subject, lfirst(lc), false, NULL, source);
		if (!first)
			appendStringInfoString(out, ", ");
		first = false;
		escape_json(out, lfirst(lc));
	}
	appendStringInfoChar(out, ']');
	return list_length(purposes);
}

/*
 * mt.gdpr_process(request_id bigint) → jsonb (SECURITY DEFINER): runs a
 * pending request of the current tenant and records who processed it.
 */
PG_FUNCTION_INFO_V1(mt_gdpr_process);
Datum
mt_gdpr_process(PG_FUNCTION_ARGS)
{
	int64		id;
	const pg_uuid_t *tenant;
	Datum		args[2];
	char	   *subject;
	char	   *kind;
	char	   *status;
	StringInfoData out;
	StringInfoData summary;

	mt_require_writable("mt.gdpr_process()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.gdpr_process()");
	mt_require_args(fcinfo, 1, "request id");
	id = PG_GETARG_INT64(0);
	tenant = mt_require_context_tenant();
	args[0] = Int64GetDatum(id);
	args[1] = uuid_datum(tenant);

	initStringInfo(&out);
	initStringInfo(&summary);
	mt_spi_connect();
	mt_spi_execute("SELECT subject, kind, status FROM mt.gdpr_requests WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
				   2, (Oid[]) {INT8OID, UUIDOID}, args, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("GDPR request " INT64_FORMAT " does not exist in the current tenant", id)));
	subject = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	kind = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (strcmp(status, "pending") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("GDPR request " INT64_FORMAT " was already processed", id)));

	if (strcmp(kind, "erasure") == 0)
	{
		/* erase_into completes the request and stores the receipt */
		erase_into(&out, tenant, subject, id);
		mt_spi_finish();
		PG_RETURN_DATUM(jsonb_from_cstring(out.data));
	}

	if (strcmp(kind, "restriction") == 0)
	{
		bool		added = restrict_subject(tenant, subject, id);

		appendStringInfo(&out, "{\"request_id\": " INT64_FORMAT ", \"kind\": \"restriction\", "
						 "\"restricted\": true, \"already_restricted\": %s}", id, added ? "false" : "true");
		appendStringInfoString(&summary, out.data);
	}
	else if (strcmp(kind, "objection") == 0)
	{
		int			n;

		appendStringInfo(&out, "{\"request_id\": " INT64_FORMAT ", \"kind\": \"objection\", "
						 "\"consents_withdrawn\": ", id);
		n = object_subject(&out, tenant, subject, id);
		appendStringInfoChar(&out, '}');
		appendStringInfo(&summary, "{\"consents_withdrawn\": %d}", n);
	}
	else
	{
		/* access, portability, rectification: the export */
		int64		rows;
		int			tables;

		export_into(&out, tenant, subject, &rows, &tables);
		appendStringInfo(&summary, "{\"kind\": \"%s\", \"tables\": %d, \"rows\": " INT64_FORMAT "}",
						 kind, tables, rows);
	}

	{
		Datum		uargs[3] = {Int64GetDatum(id), CStringGetTextDatum(summary.data),
		CStringGetTextDatum(mt_gdpr_actor_role())};

		mt_spi_execute("UPDATE mt.gdpr_requests SET status = 'completed', processed_at = pg_catalog.now(),"
					   " processed_by = $3, result = $2::pg_catalog.jsonb WHERE id = $1",
					   3, (Oid[]) {INT8OID, TEXTOID, TEXTOID}, uargs, SPI_OK_UPDATE);
	}
	mt_spi_finish();
	PG_RETURN_DATUM(jsonb_from_cstring(out.data));
}

/*
 * mt.is_restricted(subject text) → boolean: an active restriction exists;
 * NULL without a tenant context.  Caller's rights, cached plan: cheap
 * enough for application policies.
 */
PG_FUNCTION_INFO_V1(mt_is_restricted);
Datum
mt_is_restricted(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	char	   *subject;
	const pg_uuid_t *tenant;
	Datum		args[2];
	bool		result;

	mt_require_coordinator("mt.is_restricted()");
	subject = subject_arg(fcinfo, 0, false);
	tenant = mt_context_tenant();
	if (tenant == NULL)
		PG_RETURN_NULL();
	args[0] = uuid_datum(tenant);
	args[1] = CStringGetTextDatum(subject);
	mt_spi_connect();
	if (plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT 1 FROM mt.gdpr_restrictions WHERE tenant_id OPERATOR(pg_catalog.=) $1"
									" AND subject OPERATOR(pg_catalog.=) $2 AND lifted_at IS NULL",
									2, (Oid[]) {UUIDOID, TEXTOID});

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "multitenant: could not prepare the restriction lookup");
		plan = p;
	}
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "multitenant: restriction lookup failed");
	result = SPI_processed > 0;
	mt_spi_finish();
	PG_RETURN_BOOL(result);
}

/* mt.lift_restriction(subject text) → boolean (privileged) */
PG_FUNCTION_INFO_V1(mt_lift_restriction);
Datum
mt_lift_restriction(PG_FUNCTION_ARGS)
{
	char	   *subject;
	const pg_uuid_t *tenant;
	Datum		args[3];
	bool		lifted;

	mt_require_writable("mt.lift_restriction()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.lift_restriction()");
	subject = subject_arg(fcinfo, 0, true);
	tenant = mt_require_context_tenant();
	args[0] = uuid_datum(tenant);
	args[1] = CStringGetTextDatum(subject);
	args[2] = CStringGetTextDatum(mt_gdpr_actor_role());
	mt_spi_connect();
	mt_catalog_execute("UPDATE mt.gdpr_restrictions SET lifted_at = pg_catalog.now(), lifted_by = $3"
					   " WHERE tenant_id = $1 AND subject = $2 AND lifted_at IS NULL",
					   3, (Oid[]) {UUIDOID, TEXTOID, TEXTOID}, args, NULL);
	lifted = SPI_processed > 0;
	mt_spi_finish();
	PG_RETURN_BOOL(lifted);
}

/* ---------------------------------------------------------------------
 * Breach register
 * --------------------------------------------------------------------- */

static int
add_breach_subjects(int64 breach_id, const pg_uuid_t *tenant, ArrayType *subjects)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			added = 0;

	if (ARR_NDIM(subjects) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subjects must be a one-dimensional array")));
	deconstruct_array(subjects, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *s;
		Datum		args[3];

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("affected subjects must not contain NULL")));
		s = TextDatumGetCString(elems[i]);
		if (s[0] == '\0' || strlen(s) > GDPR_MAX_SUBJECT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("subject must be 1 to %d bytes long", GDPR_MAX_SUBJECT)));
		args[0] = Int64GetDatum(breach_id);
		args[1] = uuid_datum(tenant);
		args[2] = elems[i];
		mt_catalog_execute("INSERT INTO mt.breach_subjects (breach_id, tenant_id, subject) VALUES ($1, $2, $3)"
						   " ON CONFLICT DO NOTHING",
						   3, (Oid[]) {INT8OID, UUIDOID, TEXTOID}, args, NULL);
		added += SPI_processed;
	}
	return added;
}

/*
 * mt.report_breach(description text, detected_at timestamptz DEFAULT now(),
 *					affected_tenants uuid[] DEFAULT NULL,
 *					affected_subjects text[] DEFAULT NULL,
 *					severity text DEFAULT 'high') → bigint (privileged)
 *
 * affected_tenants defaults to the current tenant; affected_subjects are
 * subjects of the current tenant (more tenants: mt.add_breach_subjects in
 * each tenant's context).  notify_deadline = detected_at + 72 hours.
 */
PG_FUNCTION_INFO_V1(mt_report_breach);
Datum
mt_report_breach(PG_FUNCTION_ARGS)
{
	char	   *description;
	const pg_uuid_t *tenant;
	char	   *severity;
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		id;

	mt_require_writable("mt.report_breach()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.report_breach()");
	tenant = mt_context_tenant();
	severity = PG_ARGISNULL(4) ? "high" : text_to_cstring(PG_GETARG_TEXT_PP(4));
	mt_require_args(fcinfo, 2, "description and detected_at");
	description = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (description[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("breach description must not be empty")));
	if (strcmp(severity, "low") != 0 && strcmp(severity, "medium") != 0 &&
		strcmp(severity, "high") != 0 && strcmp(severity, "critical") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("severity must be low, medium, high or critical, not \"%s\"", severity)));
	if (!PG_ARGISNULL(3) && tenant == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("affected subjects need a tenant context"),
				 errdetail("Subject ids are per tenant."),
				 errhint("Enter the tenant with mt.set_tenant(), or add them later with mt.add_breach_subjects().")));

	args[0] = CStringGetTextDatum(description);
	args[1] = PG_GETARG_DATUM(1);
	args[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	args[3] = CStringGetTextDatum(severity);
	args[4] = CStringGetTextDatum(mt_gdpr_actor_role());
	if (PG_ARGISNULL(2) && tenant != NULL)
	{
		Datum		t = uuid_datum(tenant);

		args[2] = PointerGetDatum(construct_array(&t, 1, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
		nulls[2] = ' ';
	}

	mt_spi_connect();
	mt_catalog_execute("INSERT INTO mt.breaches (description, detected_at, notify_deadline, affected_tenants,"
					   " severity, reported_by)"
					   " VALUES ($1, $2, $2 + interval '72 hours', COALESCE($3, '{}'), $4, $5) RETURNING id",
					   5, (Oid[]) {TEXTOID, TIMESTAMPTZOID, UUIDARRAYOID, TEXTOID, TEXTOID}, args, nulls);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (!PG_ARGISNULL(3))
		(void) add_breach_subjects(id, tenant, PG_GETARG_ARRAYTYPE_P(3));
	mt_spi_finish();
	PG_RETURN_INT64(id);
}

static void
require_breach(int64 id)
{
	Datum		arg = Int64GetDatum(id);

	/* runs with the caller's rights and search_path: qualified operator */
	if (!mt_spi_exists("SELECT 1 FROM mt.breaches WHERE id OPERATOR(pg_catalog.=) $1",
					   1, (Oid[]) {INT8OID}, &arg))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("breach " INT64_FORMAT " does not exist", id)));
}

/* mt.add_breach_subjects(breach_id bigint, subjects text[]) → integer (privileged) */
PG_FUNCTION_INFO_V1(mt_add_breach_subjects);
Datum
mt_add_breach_subjects(PG_FUNCTION_ARGS)
{
	const pg_uuid_t *tenant;
	int64		id;
	int			n;
	Datum		args[2];

	mt_require_writable("mt.add_breach_subjects()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.add_breach_subjects()");
	mt_require_args(fcinfo, 2, "breach id and subjects");
	id = PG_GETARG_INT64(0);
	tenant = mt_require_context_tenant();
	mt_spi_connect();
	args[0] = Int64GetDatum(id);
	require_breach(id);
	n = add_breach_subjects(id, tenant, PG_GETARG_ARRAYTYPE_P(1));
	args[1] = uuid_datum(tenant);
	mt_catalog_execute("UPDATE mt.breaches SET affected_tenants = affected_tenants || $2"
					   " WHERE id = $1 AND NOT ($2 = ANY (affected_tenants))",
					   2, (Oid[]) {INT8OID, UUIDOID}, args, NULL);
	mt_spi_finish();
	PG_RETURN_INT32(n);
}

/*
 * mt.record_breach_notification(breach_id bigint, authority text,
 *		reference text DEFAULT NULL, notified_at timestamptz DEFAULT now())
 */
PG_FUNCTION_INFO_V1(mt_record_breach_notification);
Datum
mt_record_breach_notification(PG_FUNCTION_ARGS)
{
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	mt_require_writable("mt.record_breach_notification()", MT_WRITES_TABLES);
	mt_require_coordinator("mt.record_breach_notification()");
	mt_require_arg_set(fcinfo, MT_ARG(0) | MT_ARG(1) | MT_ARG(3), "breach id, authority and notified_at");
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	args[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	args[3] = PG_GETARG_DATUM(3);
	args[4] = CStringGetTextDatum(mt_gdpr_actor_role());
	mt_spi_connect();
	require_breach(PG_GETARG_INT64(0));
	mt_catalog_execute("UPDATE mt.breaches SET notified_at = $4, authority = $2, notification_ref = $3,"
					   " notified_by = $5 WHERE id = $1 AND notified_at IS NULL",
					   5, (Oid[]) {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID}, args, nulls);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("breach " INT64_FORMAT " was already notified", PG_GETARG_INT64(0))));
	mt_spi_finish();
	PG_RETURN_VOID();
}
