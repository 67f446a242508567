/*-------------------------------------------------------------------------
 *
 * keys_internal.h
 *		Shared between the files of src/crypto/ only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef BIOCRYPT_KEYS_INTERNAL_H
#define BIOCRYPT_KEYS_INTERNAL_H

#include "access/xact.h"

#include "base/envelope.h"
#include "crypto/keys.h"

#define KCV_BYTES			16

/* Keys derived from the root key; one sodium_malloc block (rootkey.c). */
typedef struct DerivedKeys
{
	uint8		wrap[BIOCRYPT_KEY_BYTES];
	uint8		audit[BIOCRYPT_KEY_BYTES];
	uint8		audit_probe[BIOCRYPT_KEY_BYTES];	/* keyed hashes of probes */
	uint8		sealed_seed[BIOCRYPT_KEY_BYTES];
	uint8		kcv[KCV_BYTES]; /* key-check value of wrap */
} DerivedKeys;

/* rootkey.c */
extern DerivedKeys *derived_keys;
extern DerivedKeys *new_keys;
extern void RootKeyInit(void);
extern void RootKeyAttach(void);

/* keys.c: the ring's own tools, for chainkey.c and ringadmin.c */
extern void KeysAttach(void);
extern const DerivedKeys *WrappingKeysFor(bytea *kcv);
extern void RootKeyMismatch(uint32 key_id) pg_attribute_noreturn();
extern void UnwrapRaw(uint8 *slot, uint32 key_id, uint8 cipher, bytea *wrapped,
					  const DerivedKeys *wk);
extern void WrapDek(const uint8 *dek, uint32 key_id, uint8 cipher,
					const DerivedKeys *wk, bytea **wrapped, bytea **kcv);
extern void CheckRingRootKey(void);
extern uint8 CipherId(const char *name);
extern void InvalidateKeyCaches(void);

/* chainkey.c */
extern void StoreChainKey(const DerivedKeys *wk);

/* destroyed.c */
extern bool DestroyedInCluster(const uint8 *dek);
extern void DestroyedAdd(const uint8 *dek);
extern void DestroyedPreCommit(void);
extern void DestroyedPrePrepare(void);
extern void DestroyedForget(void);
extern void DestroyedSubXact(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid);

#endif							/* BIOCRYPT_KEYS_INTERNAL_H */
