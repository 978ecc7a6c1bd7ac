/*
 * body_parser_test.c: unit tests for the request body framer
 * (body_parser.c) alone: Content-Length and chunked bodies, chunk sizes,
 * extensions, trailers, the limits and the errors, each fed whole, split
 * in two at every byte boundary and a byte at a time, with the same
 * outcome every way; bytes after the end are left alone.
 */
#include <sys/types.h>

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body_parser.h"
#include "check_main.h"

/* Input given as a C string literal (which may hold NUL bytes). */
#define BYTES(s)	(s), sizeof(s) - 1

struct outcome {
	char		*o_data;	/* the body data handed out */
	size_t		 o_data_len;
	enum body_event	 o_event;	/* MORE, END or ERROR */
	size_t		 o_used;	/* input taken in all */
	enum body_error	 o_error;
	uint64_t	 o_received;
};

struct framing_case {
	const char	*fc_in;
	size_t		 fc_len;
	int64_t		 fc_length;	/* -1: chunked */
	uint64_t	 fc_max;
	const char	*fc_data;
	size_t		 fc_data_len;
	enum body_event	 fc_event;
	size_t		 fc_used;	/* where the next request starts */
	enum body_error	 fc_error;
};

#define CASE(in, length, max, data, event, used, error) \
	{ BYTES(in), (length), (max), BYTES(data), (event), (used), (error) }
#define CHUNKED_OK(in, data) \
	CASE(in, -1, 0, data, BODY_EVENT_END, sizeof(in) - 1, BODY_ERROR_NONE)
#define CHUNKED_BAD(in, data, error) \
	CASE(in, -1, 0, data, BODY_EVENT_ERROR, sizeof(in) - 1, error)

static const struct framing_case cases[] = {
	/* Content-Length */
	CASE("hello", 5, 0, "hello", BODY_EVENT_END, 5, BODY_ERROR_NONE),
	CASE("hello", 10, 0, "hello", BODY_EVENT_MORE, 5, BODY_ERROR_NONE),
	CASE("helloGET / HTTP/1.1\r\n\r\n", 5, 0, "hello", BODY_EVENT_END, 5,
	    BODY_ERROR_NONE),
	CASE("GET / HTTP/1.1\r\n\r\n", 0, 0, "", BODY_EVENT_END, 0,
	    BODY_ERROR_NONE),
	CASE("a\0\r\n\xff", 5, 5, "a\0\r\n\xff", BODY_EVENT_END, 5,
	    BODY_ERROR_NONE),
	CASE("hello!", 6, 5, "hello", BODY_EVENT_ERROR, 5,
	    BODY_ERROR_TOO_LARGE),
	/* chunked */
	CHUNKED_OK("5\r\nhello\r\n0\r\n\r\n", "hello"),
	CHUNKED_OK("0\r\n\r\n", ""),
	CHUNKED_OK("5\nhello\n0\n\n", "hello"),
	CHUNKED_OK("5\r\nhello\n6\r\n world\r\n0\n\r\n", "hello world"),
	CHUNKED_OK("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n",
	    "0123456789abcdefghij"),
	CHUNKED_OK("0000000000000F\r\n0123456789abcde\r\n0\r\n\r\n",
	    "0123456789abcde"),
	CHUNKED_OK("000000000000000\r\n\r\n", ""),
	CHUNKED_OK("3\r\na\r\n\r\n0\r\n\r\n", "a\r\n"),
	CHUNKED_OK("3\r\n\0\xff\n\r\n0\r\n\r\n", "\0\xff\n"),
	/* extensions and blanks after the size */
	CHUNKED_OK("3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "abcde"),
	CHUNKED_OK("3 ;a\r\nabc\r\n0\t;b=\"q;\\\"\"\r\n\r\n", "abc"),
	CHUNKED_OK("3 \t \r\nabc\r\n0 \r\n\r\n", "abc"),
	CHUNKED_OK("3;\r\nabc\r\n0;;;\r\n\r\n", "abc"),
	CHUNKED_OK("3;a\rb\0c\r\nabc\r\n0\r\n\r\n", "abc"),
	CHUNKED_OK("3;a\r\r\nabc\r\n0\r\n\r\n", "abc"),
	/* trailers */
	CHUNKED_OK("3\r\nabc\r\n0\r\nX-Trailer: y\r\n\r\n", "abc"),
	CHUNKED_OK("0\r\nA: 1\r\nB: 2\nC\r\n\n", ""),
	CHUNKED_OK("0\r\n\rjunk\0\r\n\r\n", ""),
	/* the next request is left alone */
	CASE("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", -1, 0, "abc",
	    BODY_EVENT_END, 13, BODY_ERROR_NONE),
	CASE("0\r\nT: v\r\n\r\n0\r\n\r\n", -1, 0, "", BODY_EVENT_END, 11,
	    BODY_ERROR_NONE),
	CASE("0\n\nX", -1, 0, "", BODY_EVENT_END, 3, BODY_ERROR_NONE),
	/* not yet complete */
	CASE("5\r\nhel", -1, 0, "hel", BODY_EVENT_MORE, 6, BODY_ERROR_NONE),
	CASE("5\r\nhello", -1, 0, "hello", BODY_EVENT_MORE, 8,
	    BODY_ERROR_NONE),
	CASE("5\r\nhello\r", -1, 0, "hello", BODY_EVENT_MORE, 9,
	    BODY_ERROR_NONE),
	CASE("0\r\nX: y\r\n\r", -1, 0, "", BODY_EVENT_MORE, 10,
	    BODY_ERROR_NONE),
	CASE("fffffffffffffff\r\nabc", -1, 0, "abc", BODY_EVENT_MORE, 20,
	    BODY_ERROR_NONE),
	/* bad hex */
	CHUNKED_BAD("zz\r\n", "", BODY_ERROR_CHUNK_SIZE),
	CASE("zz\r\nabc\r\n0\r\n\r\n", -1, 0, "", BODY_EVENT_ERROR, 4,
	    BODY_ERROR_CHUNK_SIZE),
	CHUNKED_BAD("\r\n", "", BODY_ERROR_CHUNK_SIZE),
	CHUNKED_BAD("\n", "", BODY_ERROR_CHUNK_SIZE),
	CHUNKED_BAD(" 5\r\n", "", BODY_ERROR_CHUNK_SIZE),
	CHUNKED_BAD(";x\r\n", "", BODY_ERROR_CHUNK_SIZE),
	CHUNKED_BAD("-1\r\n", "", BODY_ERROR_CHUNK_SIZE),
	CHUNKED_BAD("+5\r\n", "", BODY_ERROR_CHUNK_SIZE),
	CHUNKED_BAD("3\r\nabc\r\ng\r\n", "abc", BODY_ERROR_CHUNK_SIZE),
	/* junk after the size */
	CHUNKED_BAD("0x5\r\n", "", BODY_ERROR_CHUNK_SYNTAX),
	CHUNKED_BAD("5g\r\n", "", BODY_ERROR_CHUNK_SYNTAX),
	CHUNKED_BAD("5 5\r\n", "", BODY_ERROR_CHUNK_SYNTAX),
	CHUNKED_BAD("5 x;a\r\n", "", BODY_ERROR_CHUNK_SYNTAX),
	CHUNKED_BAD("5\r\r\n", "", BODY_ERROR_CHUNK_SYNTAX),
	CHUNKED_BAD("5\rx\r\n", "", BODY_ERROR_CHUNK_SYNTAX),
	CHUNKED_BAD("5\0\r\n", "", BODY_ERROR_CHUNK_SYNTAX),
	/* chunk size overflow: at most 15 hex digits */
	CHUNKED_BAD("1000000000000000\r\n", "", BODY_ERROR_CHUNK_OVERFLOW),
	CHUNKED_BAD("ffffffffffffffff\r\n", "", BODY_ERROR_CHUNK_OVERFLOW),
	CHUNKED_BAD("0000000000000000\r\n", "", BODY_ERROR_CHUNK_OVERFLOW),
	CHUNKED_BAD("100000000000000000000000000000001\r\n", "",
	    BODY_ERROR_CHUNK_OVERFLOW),
	/* the line end after chunk data */
	CHUNKED_BAD("3\r\nabcX", "abc", BODY_ERROR_DATA_END),
	CHUNKED_BAD("3\r\nabc\rX", "abc", BODY_ERROR_DATA_END),
	CHUNKED_BAD("3\r\nabc\r\r", "abc", BODY_ERROR_DATA_END),
	CASE("3\r\nabcd\r\n", -1, 0, "abc", BODY_EVENT_ERROR, 7,
	    BODY_ERROR_DATA_END),
	/* the data limit */
	CASE("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", -1, 10, "helloworld",
	    BODY_EVENT_END, 25, BODY_ERROR_NONE),
	CASE("6\r\nhello!\r\n5\r\nworld\r\n0\r\n\r\n", -1, 10, "hello!worl",
	    BODY_EVENT_ERROR, 18, BODY_ERROR_TOO_LARGE),
	CASE("b\r\nhello world\r\n", -1, 10, "hello worl", BODY_EVENT_ERROR, 13,
	    BODY_ERROR_TOO_LARGE),
};

static void	 outcome_run(struct outcome *, const struct framing_case *,
		    const size_t *, size_t);
static void	 outcome_check(const struct outcome *,
		    const struct framing_case *, const char *);
static void	 outcome_same(const struct outcome *, const struct outcome *,
		    const char *);
static void	 splits_check(const struct framing_case *, size_t);

/*
 * Feed the input in pieces (cuts: where each piece ends, ascending) as
 * http_body.c does: each event handled, the rest of a piece fed again.
 */
static void
outcome_run(struct outcome *o, const struct framing_case *fc,
    const size_t *cuts, size_t ncuts)
{
	struct body_parser	 p;
	enum body_event		 ev = BODY_EVENT_MORE;
	size_t			 at = 0, end, i, used;

	memset(o, 0, sizeof(*o));
	o->o_data = malloc(fc->fc_len + 1);
	ck_assert_ptr_nonnull(o->o_data);
	body_parser_init(&p, fc->fc_length, fc->fc_max);
	for (i = 0; i <= ncuts && ev != BODY_EVENT_END &&
	    ev != BODY_EVENT_ERROR; i++) {
		end = i < ncuts ? cuts[i] : fc->fc_len;
		do {
			ev = body_parser_step(&p, fc->fc_in + at, end - at,
			    &used);
			ck_assert_uint_le(used, end - at);
			if (ev == BODY_EVENT_DATA || ev == BODY_EVENT_FRAMING)
				ck_assert_uint_gt(used, 0);
			if (ev == BODY_EVENT_DATA) {
				memcpy(o->o_data + o->o_data_len,
				    fc->fc_in + at, used);
				o->o_data_len += used;
			}
			at += used;
		} while (ev == BODY_EVENT_DATA || ev == BODY_EVENT_FRAMING ||
		    (ev == BODY_EVENT_MORE && at < end));
	}
	/* With no input: the end of a Content-Length body. */
	if (ev == BODY_EVENT_MORE)
		ev = body_parser_step(&p, "", 0, &used);
	o->o_event = ev;
	o->o_used = at;
	o->o_error = body_parser_error(&p);
	o->o_received = body_parser_received(&p);
	/* After the end, the same again and nothing taken. */
	if (ev != BODY_EVENT_MORE) {
		ck_assert_int_eq(body_parser_step(&p, "x", 1, &used), ev);
		ck_assert_uint_eq(used, 0);
	}
}

static void
outcome_check(const struct outcome *o, const struct framing_case *fc,
    const char *how)
{
	ck_assert_msg(o->o_event == fc->fc_event, "%s: event %d, not %d", how,
	    o->o_event, fc->fc_event);
	ck_assert_msg(o->o_error == fc->fc_error, "%s: error %d (%s), not %d",
	    how, o->o_error, body_parser_reason(o->o_error), fc->fc_error);
	ck_assert_msg(o->o_used == fc->fc_used, "%s: took %zu, not %zu", how,
	    o->o_used, fc->fc_used);
	ck_assert_msg(o->o_data_len == fc->fc_data_len &&
	    memcmp(o->o_data, fc->fc_data, fc->fc_data_len) == 0,
	    "%s: data of %zu bytes, not %zu", how, o->o_data_len,
	    fc->fc_data_len);
	ck_assert_uint_eq(o->o_received, fc->fc_data_len);
}

static void
outcome_same(const struct outcome *o, const struct outcome *whole,
    const char *how)
{
	ck_assert_msg(o->o_event == whole->o_event &&
	    o->o_error == whole->o_error && o->o_used == whole->o_used &&
	    o->o_data_len == whole->o_data_len &&
	    memcmp(o->o_data, whole->o_data, o->o_data_len) == 0,
	    "%s: not as fed whole (event %d error %d used %zu data %zu)", how,
	    o->o_event, o->o_error, o->o_used, o->o_data_len);
}

/*
 * Whole, in two at every boundary (with far > 1, only near the ends and
 * every far bytes between), a byte at a time: the same.
 */
static void
splits_check(const struct framing_case *fc, size_t far)
{
	struct outcome	 whole, o;
	size_t		*cuts, i;
	char		 how[64];

	outcome_run(&whole, fc, NULL, 0);
	for (i = 0; i <= fc->fc_len;
	    i += i < 64 || fc->fc_len - i < 64 ? 1 : far) {
		outcome_run(&o, fc, &i, 1);
		snprintf(how, sizeof(how), "split at %zu", i);
		outcome_same(&o, &whole, how);
		free(o.o_data);
	}
	cuts = calloc(fc->fc_len + 1, sizeof(*cuts));
	ck_assert_ptr_nonnull(cuts);
	for (i = 0; i < fc->fc_len; i++)
		cuts[i] = i + 1;
	outcome_run(&o, fc, cuts, fc->fc_len);
	outcome_same(&o, &whole, "a byte at a time");
	free(o.o_data);
	free(cuts);
	outcome_check(&whole, fc, "whole");
	free(whole.o_data);
}

START_TEST(test_framing)
{
	splits_check(&cases[_i], 1);
}
END_TEST

/* A chunk-size line of n bytes (an extension pads it), then "abc". */
static char *
long_line(size_t n, size_t *len)
{
	char	*s;

	ck_assert_uint_ge(n, 2);
	s = malloc(n + 32);
	ck_assert_ptr_nonnull(s);
	s[0] = '3';
	s[1] = ';';
	memset(s + 2, 'e', n - 2);
	memcpy(s + n, "\r\nabc\r\n0\r\n\r\n", 12);
	*len = n + 12;
	return (s);
}

/*
 * A trailer section of n bytes in lines of at most 100 bytes with their
 * CRLF, after "0\r\n", then the empty line.
 */
static char *
trailers(size_t n, size_t *len)
{
	char	*s;
	size_t	 at = 3, line;

	s = malloc(n + 16);
	ck_assert_ptr_nonnull(s);
	memcpy(s, "0\r\n", 3);
	while (n > 0) {
		line = n > 100 ? 100 : n;
		if (n - line > 0 && n - line < 3)
			line -= 3;	/* no line shorter than "X\r\n" */
		ck_assert_uint_ge(line, 3);
		memset(s + at, 'T', line - 2);
		memcpy(s + at + line - 2, "\r\n", 2);
		at += line;
		n -= line;
	}
	memcpy(s + at, "\r\n", 2);
	*len = at + 2;
	return (s);
}

/*
 * Long inputs at the limits: a chunk-size line of lc_n bytes, or a
 * trailer section of lc_n bytes, with lc_patch written over it at lc_at
 * and lc_cut bytes left off its end; lc_back is how many bytes before
 * the end of what is left the parser stops.
 */
#define LONG_LINE(over, patch, at, cut, back, data, event, error) \
	{ long_line, BODY_PARSER_LINE_MAX + (over), (patch), (at), (cut), \
	    (back), (data), BODY_EVENT_##event, BODY_ERROR_##error }
/* at: counted from BODY_PARSER_TRAILER_MAX bytes in. */
#define TRAILERS(over, patch, at, cut, back, data, event, error) \
	{ trailers, BODY_PARSER_TRAILER_MAX + (over), (patch), \
	    BODY_PARSER_TRAILER_MAX + (at), (cut), (back), (data), \
	    BODY_EVENT_##event, BODY_ERROR_##error }
static const struct limit_case {
	char		*(*lc_make)(size_t, size_t *);
	size_t		 lc_n;
	const char	*lc_patch;
	size_t		 lc_at;
	size_t		 lc_cut;
	size_t		 lc_back;
	size_t		 lc_data_len;	/* of "abc" */
	enum body_event	 lc_event;
	enum body_error	 lc_error;
} limits[] = {
	/* BODY_PARSER_LINE_MAX bytes without the line end: taken. */
	LONG_LINE(0, "", 0, 0, 0, 3, END, NONE),
	/* Its CR, not yet followed by the LF, is no line byte. */
	LONG_LINE(0, "", 0, 11, 0, 0, MORE, NONE),
	/* One byte more: refused at that byte, the line end not awaited. */
	LONG_LINE(1, "", 0, 0, 12, 0, ERROR, LINE_TOO_LONG),
	LONG_LINE(1, "", 0, 12, 0, 0, ERROR, LINE_TOO_LONG),
	/* A bad line too is refused as too long before its end. */
	LONG_LINE(1, "z", 0, 12, 0, 0, ERROR, LINE_TOO_LONG),
	/* BODY_PARSER_TRAILER_MAX bytes of trailer lines: taken. */
	TRAILERS(0, "", 0, 0, 0, 0, END, NONE),
	/* The line that goes over: refused at its end... */
	TRAILERS(1, "", 0, 0, 2, 0, ERROR, TRAILER_TOO_LARGE),
	/* ...or at its first byte past the room left. */
	TRAILERS(1, "TT", 2, 2, 0, 0, ERROR, TRAILER_TOO_LARGE),
};

START_TEST(test_limits)
{
	const struct limit_case	*lc = &limits[_i];
	struct framing_case	 fc = { .fc_length = -1, .fc_data = "abc" };
	char			*s;
	size_t			 len;

	s = lc->lc_make(lc->lc_n, &len);
	memcpy(s + lc->lc_at, lc->lc_patch, strlen(lc->lc_patch));
	fc.fc_in = s;
	fc.fc_len = len - lc->lc_cut;
	fc.fc_used = fc.fc_len - lc->lc_back;
	fc.fc_data_len = lc->lc_data_len;
	fc.fc_event = lc->lc_event;
	fc.fc_error = lc->lc_error;
	splits_check(&fc, 61);
	free(s);
}
END_TEST

/* The largest chunk size: 2^60 - 1, data handed out as it comes. */
START_TEST(test_largest_chunk)
{
	struct body_parser	 p;
	static const char	 head[] = "FFFFFFFFFFFFFFF\r\n";
	char			 data[4096];
	size_t			 used;
	int			 i;

	memset(data, 'd', sizeof(data));
	body_parser_init(&p, -1, 0);
	ck_assert_int_eq(body_parser_step(&p, head, sizeof(head) - 1, &used),
	    BODY_EVENT_FRAMING);
	ck_assert_uint_eq(used, sizeof(head) - 1);
	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(body_parser_step(&p, data, sizeof(data),
		    &used), BODY_EVENT_DATA);
		ck_assert_uint_eq(used, sizeof(data));
	}
	ck_assert_uint_eq(body_parser_received(&p), 100 * sizeof(data));
	ck_assert_int_eq(body_parser_step(&p, data, 0, &used),
	    BODY_EVENT_MORE);
	ck_assert_int_eq(body_parser_error(&p), BODY_ERROR_NONE);
}
END_TEST

/* A Content-Length beyond what a size_t piece can say at once. */
START_TEST(test_long_length)
{
	struct body_parser	 p;
	size_t			 used;

	body_parser_init(&p, INT64_MAX, 0);
	ck_assert_int_eq(body_parser_step(&p, "abc", 3, &used),
	    BODY_EVENT_DATA);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(body_parser_step(&p, "", 0, &used), BODY_EVENT_MORE);
	ck_assert_uint_eq(body_parser_received(&p), 3);
}
END_TEST

START_TEST(test_reasons)
{
	enum body_error	 e;

	for (e = BODY_ERROR_NONE; e <= BODY_ERROR_TOO_LARGE; e++) {
		ck_assert_ptr_nonnull(body_parser_reason(e));
		ck_assert_str_ne(body_parser_reason(e), "unknown error");
	}
}
END_TEST

static Suite *
body_parser_suite(void)
{
	Suite	*s = suite_create("body_parser");
	TCase	*tc = tcase_create("framing");
	TCase	*lim = tcase_create("limits");

	tcase_add_loop_test(tc, test_framing, 0,
	    sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_largest_chunk);
	tcase_add_test(tc, test_long_length);
	tcase_add_test(tc, test_reasons);
	suite_add_tcase(s, tc);
	tcase_add_loop_test(lim, test_limits, 0,
	    sizeof(limits) / sizeof(limits[0]));
	suite_add_tcase(s, lim);
	return (s);
}

CHECK_MAIN(body_parser_suite)
