/* RFC 7240 Prefer: wait parsing (http_prefer_wait_parse), as a table. */
#include "http.h"
#include "test.h"

#define MAX 30

static const struct {
	const char *value;
	long want; /* seconds; 0 a wait that is ignored; -1 no wait preference */
} prefer_cases[] = {
    {"wait=10", 10},
    {"wait=0", 0},
    {"wait=30", 30},
    /* case, whitespace, quotes, parameters */
    {"  WAIT = 7 ", 7},
    {"Wait=\"12\"", 12},
    {"wait=5;foo=bar", 5},
    {"wait=5 ; foo=\"a,b\"", 5},
    /* among other preferences */
    {"respond-async, wait=15", 15},
    {"return=minimal; x=\"wait=3, y\", wait=4", 4},
    {",, handling=lenient ,wait=2", 2},
    {"waiting=3, wait=6", 6},
    /* capped */
    {"wait=31", MAX},
    {"wait=99999999999999999999999999", MAX},
    /* only the first wait counts */
    {"wait=3, wait=9", 3},
    {"wait=abc, wait=9", 0},
    /* values that are not delta-seconds are ignored */
    {"wait=abc", 0},
    {"wait=-5", 0},
    {"wait=5s", 0},
    {"wait=1.5", 0},
    {"wait=5 6", 0},
    {"wait", 0},
    {"wait=", 0},
    {"wait=\"\"", 0},
    {"wait=\"5", 0},
    /* no wait preference */
    {"", -1},
    {"respond-async", -1},
    {"return=representation; wait=5", -1},
    {"@@@, =5, \"wait=5\"", -1},
    {"x=\"unterminated, wait=5", -1},
};

TEST(prefer_wait_parse_table)
{
	size_t i;

	for (i = 0; i < sizeof(prefer_cases) / sizeof(prefer_cases[0]); i++)
		if (http_prefer_wait_parse(prefer_cases[i].value, MAX) != prefer_cases[i].want)
			test_fail(__FILE__, __LINE__, "Prefer: %s: got %ld, expected %ld",
				  prefer_cases[i].value,
				  http_prefer_wait_parse(prefer_cases[i].value, MAX),
				  prefer_cases[i].want);
}
