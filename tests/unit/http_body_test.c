/*
 * http_body_test.c: unit tests for the request head rules of the framing
 * filter (http_body.c): what passes, and what is refused with which
 * status, without a socket.
 */
#include <sys/types.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_body.h"
#include "check_main.h"

/* A head given as a C string literal (which may hold NUL bytes). */
#define HEAD(s)		{ (s), sizeof(s) - 1 }

static const struct {
	const char	*h_text;
	size_t		 h_len;
} heads_valid[] = {
	HEAD("GET /v2/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.0\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\nHost: a\n\n"),
	HEAD("PUT /v2/r/i/manifests/t HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 12\r\n\r\n"),
	HEAD("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\nX-Tab:\ta\tb \r\nX-Empty:\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\nUser-Agent: caf\xc3\xa9\r\n\r\n"),
}, heads_400[] = {
	/* NUL bytes, anywhere */
	HEAD("GET /v2/ HTTP/1.1\r\nX-A: a\0b\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\nX-A: \0\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\nX-A: a\0\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\nX\0A: a\r\n\r\n"),
	HEAD("GET /v2/\0x HTTP/1.1\r\nHost: a\r\n\r\n"),
	HEAD("GE\0T /v2/ HTTP/1.1\r\n\r\n"),
	/* framing */
	HEAD("GET /v2/ HTTP/1.1\r\nContent-Length: 1\r\n"
	    "Content-Length: 1\r\n\r\n"),
	HEAD("POST /x HTTP/1.1\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"),
	HEAD("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
	HEAD("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	HEAD("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
	HEAD("POST /x HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"),
	HEAD("HEAD /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n"),
	/* header syntax */
	HEAD("GET /v2/ HTTP/1.1\r\nX-A : a\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\n: a\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\nX-A a\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\nX-A: a\rb\r\n\r\n"),
	HEAD("GET /v2/ HTTP/1.1\r\nX-Depot-Body: 1\r\n\r\n"),
	/* request line */
	HEAD("GET /v2/ HTTP/2.0\r\n\r\n"),
	HEAD("GET  /v2/ HTTP/1.1\r\n\r\n"),
	HEAD("GET /v2/\r\n\r\n"),
	HEAD("G(T /v2/ HTTP/1.1\r\n\r\n"),
};

START_TEST(test_valid)
{
	ck_assert_int_eq(http_body_head_check(heads_valid[_i].h_text,
	    heads_valid[_i].h_len), 0);
}
END_TEST

START_TEST(test_refused)
{
	ck_assert_msg(http_body_head_check(heads_400[_i].h_text,
	    heads_400[_i].h_len) == 400, "head %d not refused with 400", _i);
}
END_TEST

/* More header lines than the framer keeps: 431. */
START_TEST(test_too_many_lines)
{
	char	*head;
	size_t	 len = 0, i;

	head = malloc(64 * 1024);
	ck_assert_ptr_nonnull(head);
	len += (size_t)sprintf(head, "GET /v2/ HTTP/1.1\r\n");
	for (i = 0; i < 200; i++)
		len += (size_t)sprintf(head + len, "X-H%zu: v\r\n", i);
	len += (size_t)sprintf(head + len, "\r\n");
	ck_assert_int_eq(http_body_head_check(head, len), 431);
	free(head);
}
END_TEST

static Suite *
http_body_suite(void)
{
	Suite	*s = suite_create("http_body");
	TCase	*tc = tcase_create("head");

	tcase_add_loop_test(tc, test_valid, 0,
	    sizeof(heads_valid) / sizeof(heads_valid[0]));
	tcase_add_loop_test(tc, test_refused, 0,
	    sizeof(heads_400) / sizeof(heads_400[0]));
	tcase_add_test(tc, test_too_many_lines);
	suite_add_tcase(s, tc);
	return (s);
}

CHECK_MAIN(http_body_suite)
