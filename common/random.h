/*
 * random.h -- bytes from the kernel's CSPRNG (getrandom(2)) for keys,
 * tokens, nonces and UUIDs, in the engine and otas-collector.
 */
#ifndef OTAS_COMMON_RANDOM_H
#define OTAS_COMMON_RANDOM_H

#include <stddef.h>

/* Fill p with n random bytes.  0, or -1 when the kernel has none to give
 * (getrandom unsupported or failing other than by a signal): p is then
 * zeroed and the caller must not use it as a secret.  Blocks only until
 * the kernel's pool is first initialised at boot. */
int otas__random_bytes(void *p, size_t n);

#endif
