/* Monotonic time for timeouts and deadlines. */
#ifndef PKI_CLOCK_H
#define PKI_CLOCK_H

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
long long clock_ms(void);

#endif
