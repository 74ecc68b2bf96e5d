/* Unit-test runner: forks per test, prints "PASS: name" / "FAIL: name". */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_MAX 4096

struct test {
	const char *name;
	test_fn fn;
};

static struct test tests[TEST_MAX];
static size_t ntests;

int
test_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

void
test_register(const char *name, test_fn fn)
{
	if (ntests == TEST_MAX) {
		fprintf(stderr, "too many tests\n");
		exit(2);
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

void
test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

const char *
test_data_dir(void)
{
	const char *d = getenv("PKI_TEST_DATA");

	return d != NULL ? d : "tests";
}

static int
cmp_test(const void *a, const void *b)
{
	return strcmp(((const struct test *)a)->name, ((const struct test *)b)->name);
}

int
main(int argc, char **argv)
{
	size_t i, passed = 0, failed = 0;
	int status, a;
	pid_t pid;

	qsort(tests, ntests, sizeof(tests[0]), cmp_test);
	for (i = 0; i < ntests; i++) {
		if (argc > 1) {
			for (a = 1; a < argc; a++)
				if (strstr(tests[i].name, argv[a]) != NULL)
					break;
			if (a == argc)
				continue;
		}
		fflush(stdout);
		if ((pid = fork()) == -1) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			tests[i].fn();
			fflush(NULL);
			exit(0); /* not _exit: LeakSanitizer checks at exit */
		}
		if (waitpid(pid, &status, 0) == -1) {
			perror("waitpid");
			return 2;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("PASS: %s\n", tests[i].name);
			passed++;
		} else {
			printf("FAIL: %s%s\n", tests[i].name,
			       WIFSIGNALED(status) ? " (signal)" : "");
			failed++;
		}
	}
	printf("unit: %zu passed, %zu failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
