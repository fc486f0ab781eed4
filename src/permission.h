/*-------------------------------------------------------------------------
 *
 * permission.h
 *	  The permission grammar (permission.c): "*" or "<resource>:<action>",
 *	  each part "*" or 1..63 of [A-Za-z0-9_.-]; whether a pattern grants a
 *	  permission, whether two patterns overlap.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_PERMISSION_H
#define MT_PERMISSION_H

#include "postgres.h"

#define MT_MAX_PERM_LEN		127
#define MT_MAX_SEGMENT_LEN	63

/* whether a string is a permission (pattern) of the documented grammar */
extern bool mt_permission_valid(const char *perm);

/* whether the pattern p grants q (both valid) */
extern bool mt_permission_covers(const char *p, const char *q);

/* whether some permission without wildcards matches both p and q (both valid) */
extern bool mt_permission_overlaps(const char *p, const char *q);

#endif							/* MT_PERMISSION_H */
