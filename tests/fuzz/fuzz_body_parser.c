/*
 * fuzz_body_parser.c: libFuzzer target for the request body framer
 * (body_parser.c). The first input byte chooses the framing (chunked, or
 * a Content-Length the second byte gives), the third a data limit (none,
 * or up to 255 bytes), the fourth how the rest, the body, is cut into
 * pieces. The body is fed whole, in those pieces and a byte at a time:
 * the three must agree on the data, the end and the error; the data
 * stays within the length and the limit; a chunked body that ended, sent
 * again as one chunk, gives the same data.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body_parser.h"

#define FUZZ_HEAD	4	/* bytes that choose, before the body */

struct fuzz_run {
	uint8_t		*fr_data;	/* what DATA handed out */
	size_t		 fr_data_len;
	size_t		 fr_used;
	enum body_event	 fr_event;
	enum body_error	 fr_error;
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_feed(struct fuzz_run *, int64_t, uint64_t,
		    const uint8_t *, size_t, unsigned);
static size_t	fuzz_piece(struct fuzz_run *, struct body_parser *,
		    const uint8_t *, size_t);
static void	fuzz_same(const struct fuzz_run *, const struct fuzz_run *);
static void	fuzz_rechunk(const struct fuzz_run *);

/*
 * Feed body to a new parser, cut into pieces of 1 to cut bytes in turn
 * (cut 0: whole).
 */
static void
fuzz_feed(struct fuzz_run *r, int64_t length, uint64_t max,
    const uint8_t *body, size_t len, unsigned cut)
{
	struct body_parser	 p;
	size_t			 at = 0, n, used;
	unsigned		 k = 0;

	memset(r, 0, sizeof(*r));
	if ((r->fr_data = malloc(len + 1)) == NULL)
		abort();
	r->fr_event = BODY_EVENT_MORE;
	body_parser_init(&p, length, max);
	while (r->fr_event == BODY_EVENT_MORE && at < len) {
		n = cut == 0 ? len - at : 1 + (k++ % cut);
		if (n > len - at)
			n = len - at;
		at += fuzz_piece(r, &p, body + at, n);
	}
	if (r->fr_event == BODY_EVENT_MORE)
		r->fr_event = body_parser_step(&p, "", 0, &used);
	r->fr_used = at;
	r->fr_error = body_parser_error(&p);
	if (body_parser_received(&p) != r->fr_data_len ||
	    (r->fr_event == BODY_EVENT_ERROR) !=
	    (r->fr_error != BODY_ERROR_NONE) ||
	    body_parser_reason(r->fr_error) == NULL)
		abort();
	if (r->fr_event != BODY_EVENT_MORE &&
	    (body_parser_step(&p, "x", 1, &used) != r->fr_event || used != 0))
		abort();
}

/* One piece, event by event: the bytes taken. */
static size_t
fuzz_piece(struct fuzz_run *r, struct body_parser *p, const uint8_t *in,
    size_t n)
{
	size_t	 at = 0, used;

	for (;;) {
		r->fr_event = body_parser_step(p, in + at, n - at, &used);
		if (used > n - at)
			abort();
		switch (r->fr_event) {
		case BODY_EVENT_MORE:
			if (at + used != n)
				abort();
			return (n);
		case BODY_EVENT_DATA:
			memcpy(r->fr_data + r->fr_data_len, in + at, used);
			r->fr_data_len += used;
			/* FALLTHROUGH */
		case BODY_EVENT_FRAMING:
			if (used == 0)
				abort();
			at += used;
			break;
		case BODY_EVENT_END:
		case BODY_EVENT_ERROR:
			return (at + used);
		}
	}
}

static void
fuzz_same(const struct fuzz_run *a, const struct fuzz_run *b)
{
	if (a->fr_event != b->fr_event || a->fr_error != b->fr_error ||
	    a->fr_used != b->fr_used || a->fr_data_len != b->fr_data_len ||
	    memcmp(a->fr_data, b->fr_data, a->fr_data_len) != 0)
		abort();
}

/* The data of a chunked body that ended, as one chunk: the same data. */
static void
fuzz_rechunk(const struct fuzz_run *r)
{
	struct fuzz_run	 again;
	uint8_t		*enc;
	size_t		 n = 0;

	if ((enc = malloc(r->fr_data_len + 32)) == NULL)
		abort();
	if (r->fr_data_len > 0) {
		n = (size_t)snprintf((char *)enc, 24, "%zx;x=y\r\n",
		    r->fr_data_len);
		memcpy(enc + n, r->fr_data, r->fr_data_len);
		n += r->fr_data_len;
		memcpy(enc + n, "\r\n", 2);
		n += 2;
	}
	memcpy(enc + n, "0\r\nT: v\r\n\r\n", 11);
	n += 11;
	fuzz_feed(&again, -1, 0, enc, n, 0);
	if (again.fr_event != BODY_EVENT_END || again.fr_used != n)
		abort();
	fuzz_same(&again, &(struct fuzz_run){ .fr_data = r->fr_data,
	    .fr_data_len = r->fr_data_len, .fr_used = n,
	    .fr_event = BODY_EVENT_END });
	free(again.fr_data);
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_run	 whole, cut, bytes;
	const uint8_t	*body;
	int64_t		 length;
	uint64_t	 max;
	size_t		 len;

	if (size < FUZZ_HEAD)
		return (0);
	length = data[0] & 1 ? data[1] : -1;
	max = data[2];
	body = data + FUZZ_HEAD;
	len = size - FUZZ_HEAD;
	fuzz_feed(&whole, length, max, body, len, 0);
	fuzz_feed(&cut, length, max, body, len, data[3] % 64 + 1);
	fuzz_feed(&bytes, length, max, body, len, 1);
	fuzz_same(&cut, &whole);
	fuzz_same(&bytes, &whole);
	if (whole.fr_used > len || whole.fr_data_len > whole.fr_used ||
	    (max > 0 && whole.fr_data_len > max))
		abort();
	if (length >= 0 && (whole.fr_data_len > (uint64_t)length ||
	    (whole.fr_event == BODY_EVENT_END) !=
	    (whole.fr_data_len == (uint64_t)length) ||
	    (whole.fr_event == BODY_EVENT_ERROR &&
	    whole.fr_error != BODY_ERROR_TOO_LARGE)))
		abort();
	if (length < 0 && whole.fr_event == BODY_EVENT_END)
		fuzz_rechunk(&whole);
	free(whole.fr_data);
	free(cut.fr_data);
	free(bytes.fr_data);
	return (0);
}

#include "fuzz_main.h"
