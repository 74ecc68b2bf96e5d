/* Monotonic time for timeouts and deadlines. */
#ifndef PKI_CLOCK_H
#define PKI_CLOCK_H

#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
long long clock_ms(void);
/* *ts = now + timeout_ms on CLOCK_MONOTONIC: a pthread_cond_timedwait deadline. */
void clock_deadline(struct timespec *ts, long timeout_ms);

#endif
