/*-------------------------------------------------------------------------
 *
 * totp.h
 *	  TOTP second factor (totp.c): the end-of-transaction hook of the MFA
 *	  marker of the current context.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_TOTP_H
#define MT_TOTP_H

#include "postgres.h"

/* called from mt_xact_callback at the end of every transaction */
extern void mt_totp_xact_callback(int event);

#endif							/* MT_TOTP_H */
