/*
 * Corpus replay: a main for a libFuzzer target's LLVMFuzzerTestOneInput, so
 * that any C compiler with ASan + UBSan (no libFuzzer) runs the committed
 * corpus: usage: fuzz-TARGET FILE... Each file is one input, read whole and
 * passed once in a buffer of its exact size (as libFuzzer does, so that an
 * over-read is caught); a finding aborts under the sanitizers. Prints the count.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_INPUT_MAX (1024 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	static uint8_t buf[REPLAY_INPUT_MAX];
	uint8_t *in;
	size_t n;
	FILE *f;
	int i;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		if ((f = fopen(argv[i], "rb")) == NULL) {
			perror(argv[i]);
			return 2;
		}
		n = fread(buf, 1, sizeof(buf), f);
		if (ferror(f) || !feof(f)) {
			fprintf(stderr, "%s: unreadable or over %d bytes\n", argv[i],
				REPLAY_INPUT_MAX);
			fclose(f);
			return 2;
		}
		fclose(f);
		if ((in = malloc(n ? n : 1)) == NULL)
			return 2;
		memcpy(in, buf, n);
		LLVMFuzzerTestOneInput(in, n);
		free(in);
	}
	printf("replayed %d inputs\n", argc - 1);
	return 0;
}
