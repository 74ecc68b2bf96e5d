/*
 * Minimal unit-test framework. Each TEST registers itself at load time; the
 * runner forks once per test so a crash or leak in one cannot affect another.
 */
#ifndef PKI_TEST_H
#define PKI_TEST_H

#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* A free loopback TCP port, as the kernel hands one out (the test fails if none). */
int test_free_port(void);

/* Directory holding tests/ fixtures, from $PKI_TEST_DATA or "tests". */
const char *test_data_dir(void);

#define TEST(name)                                                                                 \
	static void test_##name(void);                                                             \
	__attribute__((constructor)) static void test_reg_##name(void)                             \
	{                                                                                          \
		test_register(#name, test_##name);                                                 \
	}                                                                                          \
	static void test_##name(void)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                         \
	} while (0)
#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_)                                                                      \
			test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_,   \
				  #b, b_);                                                         \
	} while (0)
#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                               \
			test_fail(__FILE__, __LINE__, "%s\n    got:      %s\n    expected: %s",    \
				  #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                     \
	} while (0)

#endif
