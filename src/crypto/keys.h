/*-------------------------------------------------------------------------
 *
 * keys.h
 *		The crypto layer: root key, data-key ring, audit keys and the
 *		cluster's destroyed keys.  Calls core/ and base/ only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_KEYS_H
#define BIOCRYPT_KEYS_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#include "core/core.h"

#define BIOCRYPT_KEY_BYTES		32

/* A data key destroyed, for the caller's audit record. */
typedef struct DestroyedKey
{
	uint32		key_id;
	char	   *epoch;			/* its retention epoch, as date text */
} DestroyedKey;

/* keys.c: the data-key ring */
extern void KeysInit(void);
extern const uint8 *KeysGetDek(uint32 key_id, uint8 cipher);
extern const void *KeysGetAesState(uint32 key_id);
extern const uint8 *KeysActiveDek(TimestampTz expires, uint8 cipher,
								  uint32 *key_id);
extern uint8 KeysNewTemplateCipher(void);

extern int32 KeysRetireActive(void);

/* destroyed.c: the WAL record that carries destroyed keys to standbys */
typedef void (*DestroyedRedoHook) (Oid dbid);
extern void DestroyedRegisterRmgr(void);
extern void DestroyedSetRedoHook(DestroyedRedoHook hook);

/* ringadmin.c: destroying keys, and the ring under a new root key */
extern bool KeysDestroy(uint32 key_id, DestroyedKey *out);
extern int32 KeysRewrap(List **destroyed);

/* chainkey.c: the audit's keys */
extern const uint8 *KeysAuditKey(void);
extern const uint8 *KeysAuditProbeKey(void);
extern void KeysSubjectHash(uint8 *out, const char *subject, size_t len);
extern bool KeysCheckRing(void);
extern void KeysStoreChainKey(void);

/* sealkey.c: the sealed-input key pair */
#define BIOCRYPT_SEAL_KEY_BYTES	32
extern void KeysSealPublicKey(uint8 *pk);
extern SecBuf *KeysOpenSealed(const uint8 *box, size_t len, size_t *msglen);

#endif							/* BIOCRYPT_KEYS_H */
