/*-------------------------------------------------------------------------
 *
 * drop_guard.h
 *	  The drop guard's GUC variable and check hook (drop_guard.c;
 *	  multitenant.c defines the GUC multitenant.allow_drop_extension).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_DROP_GUARD_H
#define MT_DROP_GUARD_H

#include "postgres.h"

#include "utils/guc.h"

extern bool mt_allow_drop_extension;

extern bool mt_check_allow_drop_extension(bool *newval, void **extra, GucSource source);

#endif							/* MT_DROP_GUARD_H */
