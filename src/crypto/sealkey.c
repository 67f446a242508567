/*-------------------------------------------------------------------------
 *
 * sealkey.c
 *		The sealed-input key pair: the server's X25519 public key, and
 *		opening the sealed boxes clients make with it.
 *
 * The key pair is made from the root key's sealed_seed (crypto_kdf context
 * "bcsealin", rootkey.c) with crypto_box_seed_keypair, so every backend of
 * a cluster has the same public key and it changes only with the root key.
 * Each backend makes it on first use; the secret key lives in sodium_malloc
 * memory (locked, guard pages, read-only between uses) and is freed, and so
 * zeroed, when the backend exits.  A box is opened into a locked scratch
 * buffer (core/secmem.c), zeroed when released and at abort.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sodium.h>

#include "miscadmin.h"
#include "storage/ipc.h"

#include "base/sealedmsg.h"
#include "crypto/keys_internal.h"

typedef struct SealKeyPair
{
	uint8		pk[crypto_box_PUBLICKEYBYTES];
	uint8		sk[crypto_box_SECRETKEYBYTES];
} SealKeyPair;

static SealKeyPair *seal_keys = NULL;
static pid_t seal_keys_pid = 0;

StaticAssertDecl(SEALEDMSG_BOX_OVERHEAD == crypto_box_SEALBYTES,
				 "sealedmsg.h's box overhead is crypto_box_SEALBYTES");

/* Free (sodium_free zeroes) the key pair when the backend exits. */
static void
SealKeyAtExit(int code, Datum arg)
{
	if (seal_keys != NULL && seal_keys_pid == MyProcPid)
		sodium_free(seal_keys);
	seal_keys = NULL;
}

/* This backend's key pair, made from the root key on first use. */
static SealKeyPair *
SealKeys(void)
{
	if (seal_keys != NULL && seal_keys_pid == MyProcPid)
		return seal_keys;
	RootKeyAttach();
	seal_keys = sodium_malloc(sizeof(SealKeyPair));
	if (seal_keys == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("biocrypt: could not allocate locked memory for the sealed-input key"),
				 errhint("Raise the memlock limit (ulimit -l) of the server."),
				 errhidestmt(true), errhidecontext(true)));
	crypto_box_seed_keypair(seal_keys->pk, seal_keys->sk,
							derived_keys->sealed_seed);
	sodium_mprotect_readonly(seal_keys);
	seal_keys_pid = MyProcPid;
	on_proc_exit(SealKeyAtExit, (Datum) 0);
	return seal_keys;
}

/* Copy the server's X25519 public key (BIOCRYPT_SEAL_KEY_BYTES). */
void
KeysSealPublicKey(uint8 *pk)
{
	memcpy(pk, SealKeys()->pk, crypto_box_PUBLICKEYBYTES);
}

/*
 * Open a sealed box into a locked buffer the caller releases (an abort
 * zeroes it too); *msglen is the length of the message in it.  A box that does not open (truncated, tampered, sealed
 * to another key) is an ERROR that names none of its bytes.
 */
SecBuf *
KeysOpenSealed(const uint8 *box, size_t len, size_t *msglen)
{
	SealKeyPair *keys = SealKeys();
	SecBuf	   *plain;
	int			rc;

	if (len <= crypto_box_SEALBYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("biocrypt: invalid sealed_probe: shorter than a sealed box"),
				 errhidestmt(true), errhidecontext(true)));
	/* a multiple of 16: sodium_malloc then returns aligned memory */
	plain = SecmemAcquire(TYPEALIGN(16, len - crypto_box_SEALBYTES));
	*msglen = len - crypto_box_SEALBYTES;
	rc = crypto_box_seal_open(plain->data, box, len, keys->pk, keys->sk);
	if (rc != 0)
	{
		SecmemRelease(plain);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("biocrypt: sealed_probe could not be opened"),
				 errdetail("It is damaged, truncated, or sealed to another server's public key."),
				 errhint("Seal probes to the key biocrypt.public_key() returns now; it changes when the root key changes."),
				 errhidestmt(true), errhidecontext(true)));
	}
	return plain;
}
