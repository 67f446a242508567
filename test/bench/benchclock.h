/*
 * benchclock.h
 *		The clock of the benchmark programs (floor.c, gallery_floor.c,
 *		reseal_floor.c, aead_bench.c): monotonic, in nanoseconds.
 */
#ifndef BIOCRYPT_BENCHCLOCK_H
#define BIOCRYPT_BENCHCLOCK_H

#include <time.h>

static inline double
NowNs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

#endif							/* BIOCRYPT_BENCHCLOCK_H */
