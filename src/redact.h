/*-------------------------------------------------------------------------
 *
 * redact.h
 *	  Keeping tenant tokens out of pg_stat_activity and the server log
 *	  (redact.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_REDACT_H
#define MT_REDACT_H

#include "postgres.h"

/*
 * How mt_enter_tenant() (context.c) stores an internal context in the
 * multitenant.token setting; redact.c blanks the body of such values.
 */
#define MT_INTERNAL_PREFIX "mt-internal|"
/* the context a Citus coordinator passes to workers (context.c) */
#define MT_NODE_PREFIX "mt-node|"

extern bool mt_redact_statement(const char *secret);
extern bool mt_redact_signature_fragments(const char *tok, const char *sig);
extern bool mt_redact_tokens(char *s);
extern void mt_redact_init(void);

#endif							/* MT_REDACT_H */
