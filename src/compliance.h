/*-------------------------------------------------------------------------
 *
 * compliance.h
 *	  The compliance checks' GUC variables (compliance.c; multitenant.c
 *	  defines the GUCs; the checks read them with current_setting).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_COMPLIANCE_H
#define MT_COMPLIANCE_H

#include "postgres.h"

extern int	mt_audit_digest_max_age;
extern int	mt_api_key_rotation_age;

#endif							/* MT_COMPLIANCE_H */
