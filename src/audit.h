/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  Declarations of the audit capability (audit.c) that other
 *	  capability files may call: appending an event to a chain and
 *	  crypto-shredding a subject's details key.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_AUDIT_H
#define MT_AUDIT_H

#include "postgres.h"

#include "executor/spi.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "seal_floor.h"

/* GUC multitenant.audit_max_details (bytes of details text) */
extern int	mt_audit_max_details;

/* the chain of events recorded without a tenant: the nil uuid */
extern const pg_uuid_t mt_audit_nil_tenant;

/*
 * Append one event to a tenant's chain (NULL tenant: the no-tenant chain)
 * and return its id.  details may be NULL; when subject is given and
 * details are not NULL, the details are stored encrypted with the
 * subject's key.  The event goes in unsealed (no chain position yet, its
 * content hash in hash); the sealer links it once the transaction has
 * committed.  Takes no chain lock (the subject-key lock of the tenant when
 * details are encrypted).
 * Runs with the privileges of the caller's C code: callers must already
 * be running as the extension owner (SECURITY DEFINER).
 */
extern int64 mt_audit_append(const pg_uuid_t *tenant, const char *action,
							 const char *resource_type, const char *resource_id,
							 Jsonb *details, const char *subject);

/*
 * Convenience for C callers: details given as npairs key/value C strings
 * (a value may be NULL), recorded as a flat JSON object of strings.
 */
extern int64 mt_audit_record(const pg_uuid_t *tenant, const char *action,
							 const char *resource_type, const char *resource_id,
							 int npairs, const char *const *pairs);

/*
 * Destroy the details key(s) of subject in tenant's chain (NULL tenant:
 * the no-tenant chain).  Returns the number of keys destroyed (0 or 1).
 * The encrypted details become unreadable; the chains still verify.  The
 * erasure itself is recorded in the chain (action audit.subject_forgotten,
 * without the subject).
 */
extern int64 mt_audit_forget_subject_keys(const pg_uuid_t *tenant, const char *subject);

/*
 * mt.import_tenant: write the chain of tenant src read from portal (an
 * open SPI cursor returning rows with the columns of mt.audit_log, in seq
 * order) as the chain of dst.  The rows must verify as exported, from
 * base_seq / base_hash (the export's last checkpoint, or 0 and 32 zero
 * bytes): XX001 otherwise.  rechain false: inserted unchanged (same ids
 * and hashes: dst must equal src, its chain be empty, the ids free; the id
 * sequence is advanced past them); true: appended to dst's chain with new
 * ids, seq and hashes.  Takes dst's chain lock.  Runs as the extension
 * owner (the caller switches), SPI connected.  Returns the rows written.
 */
extern int64 mt_audit_import_chain(Portal portal, const pg_uuid_t *src, const pg_uuid_t *dst,
								   int64 base_seq, const uint8 *base_hash, bool rechain);

/*
 * mt.import_tenant: are the ids lo..hi free for a verbatim import, also of
 * transactions still open?  Waits for the transactions that took ids and
 * moves mt.audit_log_id_seq past hi first.  SPI connected.
 */
extern bool mt_audit_import_ids_free(int64 lo, int64 hi);

/*
 * The background worker's sealing pass over the current database: links
 * every committed unsealed event into its chain, skipping chains whose lock
 * another transaction holds.  Returns the events sealed; *incomplete: some
 * chain was skipped (or stopped at a tampered row), so that the database
 * is visited again.
 * Needs a transaction with an active snapshot.
 */
extern int64 mt_audit_seal_database(bool *incomplete, MtSealPass *pass);

/*
 * The sealer's backlog in the current database, for mt.metrics(): the
 * committed events not yet linked into their chain (*count, counted up to
 * 100,000 and then one per further tenant) and the append time of the
 * oldest (*oldest, 0 when there is none).  Read under a fresh snapshot,
 * without chain locks; works on a hot standby.  False (nothing read) when
 * a lock on the log, its work list or its sequence is taken (DDL).
 */
extern bool mt_audit_backlog(int64 *count, TimestampTz *oldest);

/*
 * Closes the inserter the transaction's appends share (multitenant.c's
 * ProcessUtility hook, before every utility statement).
 */
extern void mt_audit_release_cache(void);

/* multitenant.c's transaction callback: tells the worker about commits */
extern void mt_audit_xact_callback(int event);

/* mt.import_tenant: one checkpoint of an imported chain, unchanged */
extern void mt_audit_import_checkpoint(const pg_uuid_t *tenant, int64 seq, bytea *hash,
									   int64 rows_pruned, TimestampTz pruned_at,
									   const char *pruned_by);

#endif							/* MT_AUDIT_H */
