/*-------------------------------------------------------------------------
 *
 * api_keys.h
 *	  API keys (api_keys.c): declarations that multitenant.c (shared memory,
 *	  GUCs, transaction callback, _PG_init) and the background worker need.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_API_KEYS_H
#define MT_API_KEYS_H

#include "postgres.h"

#include "utils/uuid.h"

/* GUC variables (defined in api_keys.c, registered in mt_define_gucs) */
extern int	mt_api_key_max_failures;
extern int	mt_api_key_failure_window;
extern int	mt_api_key_lockout;
extern int	mt_api_key_last_use_interval;	/* ms */
extern int	mt_api_key_usage_slots;

/* shared memory: size, LWLock tranche request, creation */
extern Size mt_api_keys_shmem_size(void);
extern void mt_api_keys_shmem_request(void);
extern void mt_api_keys_shmem_startup(void);

/* _PG_init: log redaction hook, subtransaction callback */
extern void mt_api_keys_init(void);

/* called from mt_xact_callback with the XactEvent */
extern void mt_api_keys_xact_callback(int event);

/*
 * Writes the last-use times kept in shared memory for keys of the current
 * database to mt.api_key_secrets in one statement.  Needs a transaction
 * and an active snapshot; connects to SPI itself.  A no-op when the
 * extension is not installed in this database or not preloaded.  The
 * background worker calls this periodically; mt.flush_api_key_usage()
 * calls it on demand.
 */
extern void mt_api_keys_flush_last_used(void);

#endif							/* MT_API_KEYS_H */
