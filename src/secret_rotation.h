/*-------------------------------------------------------------------------
 *
 * secret_rotation.h
 *	  Rotation and retirement of key versions, their fingerprints, and the
 *	  record of the implicit version 1 once something depends on it
 *	  (secret_rotation.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MT_SECRET_ROTATION_H
#define MT_SECRET_ROTATION_H

#include "postgres.h"

#include "secret_versions.h"

/* records the implicit active version of p as a row; SPI connected */
extern void mt_secret_record_in_use(MtSecretPurpose p);

#endif							/* MT_SECRET_ROTATION_H */
