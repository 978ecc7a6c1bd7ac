/*
 * body_parser.h: the HTTP/1.1 request body framer (RFC 9112 6 and 7): a
 * body of a declared Content-Length or in the chunked transfer coding,
 * fed bytes as they arrive, in pieces of any size, and telling which of
 * them are body data and where the body ends. No I/O, no libevent, no
 * allocation: the caller embeds a struct body_parser (one per body) and
 * feeds it (http_body.c does, under evhttp).
 *
 * body_parser_step takes a piece of input and stops at the first event:
 *  - BODY_EVENT_MORE: all of the piece was taken (framing bytes, kept as
 *    counters only); more input is needed;
 *  - BODY_EVENT_FRAMING: a framing line (a chunk-size line, the CRLF
 *    after chunk data, a trailer line) ended with the last byte taken;
 *  - BODY_EVENT_DATA: the bytes taken are body data, to pass on;
 *  - BODY_EVENT_END: the body ended with the last byte taken; what
 *    follows in the input (a pipelined request) is not touched;
 *  - BODY_EVENT_ERROR: the framing is broken or the body is too large;
 *    body_parser_error says why.
 * *used tells how many bytes of the piece were taken. After END or ERROR
 * every step says the same again and takes nothing. Given no input, a
 * step says END once a Content-Length body has had its last byte.
 *
 * The rules, strictly and the same however the input is split:
 *  - a chunk-size line is 1 to 15 hex digits (at most 2^60 - 1), then
 *    optional blanks, then nothing or ";" and extensions (not checked),
 *    in at most BODY_PARSER_LINE_MAX bytes without its line end;
 *  - a line ends with CRLF or a bare LF; chunk data ends with one too;
 *  - trailer lines are dropped, at most BODY_PARSER_TRAILER_MAX bytes of
 *    them (with their line ends) before the empty line that ends the body;
 *  - with a limit, the body data stops at it: one more byte is an error.
 */
#ifndef DEPOT_BODY_PARSER_H
#define DEPOT_BODY_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define BODY_PARSER_LINE_MAX	4096	/* a chunk-size line */
#define BODY_PARSER_TRAILER_MAX	(16 * 1024)
#define BODY_PARSER_SIZE_DIGITS	15	/* hex digits of a chunk size */

enum body_state {
	BODY_STATE_LENGTH,	/* Content-Length data */
	BODY_STATE_SIZE,	/* the hex digits of a chunk size */
	BODY_STATE_SIZE_BLANK,	/* blanks after them */
	BODY_STATE_EXTENSION,	/* ";" and the rest of the line */
	BODY_STATE_SIZE_BAD,	/* a broken chunk-size line, to its end */
	BODY_STATE_DATA,	/* chunk data */
	BODY_STATE_DATA_END,	/* the line end after chunk data */
	BODY_STATE_DATA_LF,	/* its LF, after a CR */
	BODY_STATE_TRAILER,	/* trailer lines, to an empty one */
	BODY_STATE_DONE,
	BODY_STATE_FAILED
};

enum body_event {
	BODY_EVENT_MORE,
	BODY_EVENT_FRAMING,
	BODY_EVENT_DATA,
	BODY_EVENT_END,
	BODY_EVENT_ERROR
};

enum body_error {
	BODY_ERROR_NONE,
	BODY_ERROR_CHUNK_SIZE,		/* no hex digit */
	BODY_ERROR_CHUNK_OVERFLOW,	/* more than 15 hex digits */
	BODY_ERROR_CHUNK_SYNTAX,	/* after the size: not ";" */
	BODY_ERROR_LINE_TOO_LONG,
	BODY_ERROR_DATA_END,		/* chunk data without a line end */
	BODY_ERROR_TRAILER_TOO_LARGE,
	BODY_ERROR_TOO_LARGE		/* more data than the limit */
};

/* The members are the parser's own. */
struct body_parser {
	enum body_state	 bp_state;
	enum body_error	 bp_error;
	uint64_t	 bp_left;	/* of the body or the chunk */
	uint64_t	 bp_max;	/* data limit, 0: none */
	uint64_t	 bp_received;	/* data bytes so far */
	uint64_t	 bp_size;	/* the chunk size being read */
	size_t		 bp_digits;
	size_t		 bp_line;	/* bytes of the line, no line end */
	size_t		 bp_trailer;	/* bytes of complete trailer lines */
	int		 bp_cr;		/* a CR ended the input so far */
};

/* length: the Content-Length, or -1 for chunked; max: 0 for no limit. */
void		 body_parser_init(struct body_parser *, int64_t length,
		    uint64_t max);
enum body_event	 body_parser_step(struct body_parser *, const void *buf,
		    size_t len, size_t *used);
/* Why the body failed (BODY_ERROR_NONE while it has not). */
enum body_error	 body_parser_error(const struct body_parser *);
const char	*body_parser_reason(enum body_error);
/* Body data bytes handed out so far. */
uint64_t	 body_parser_received(const struct body_parser *);

#endif /* DEPOT_BODY_PARSER_H */
