/*
 * body_parser.c: the HTTP/1.1 request body framer, a state machine fed
 * bytes (see body_parser.h for its events and rules).
 *
 * Framing lines are read a byte at a time into counters, never buffered,
 * so that a line split anywhere reads the same; a CR is held back until
 * the next byte tells whether it ends the line. A broken chunk-size line
 * is reported at its end (or once it is too long), as one read whole
 * would be. Body data is not looked at: a step hands out as much of it as
 * the piece, the chunk and the limit allow.
 */
#include <stddef.h>
#include <stdint.h>

#include "http/body_parser.h"

static enum body_event	parser_data(struct body_parser *, size_t, size_t *);
static enum body_event	parser_byte(struct body_parser *, unsigned char);
static enum body_event	parser_line_byte(struct body_parser *,
			    unsigned char);
static enum body_event	parser_size_byte(struct body_parser *,
			    unsigned char);
static enum body_event	parser_line_end(struct body_parser *);
static enum body_event	parser_chunk_line_end(struct body_parser *);
static enum body_event	parser_next_chunk(struct body_parser *);
static enum body_event	parser_fail(struct body_parser *, enum body_error);
static int		parser_hex(unsigned char);

void
body_parser_init(struct body_parser *p, int64_t length, uint64_t max)
{
	*p = (struct body_parser){ .bp_max = max };
	if (length < 0)
		p->bp_state = BODY_STATE_SIZE;
	else if (length == 0)
		p->bp_state = BODY_STATE_DONE;
	else {
		p->bp_state = BODY_STATE_LENGTH;
		p->bp_left = (uint64_t)length;
	}
}

enum body_event
body_parser_step(struct body_parser *p, const void *buf, size_t len,
    size_t *used)
{
	const unsigned char	*in = buf;
	enum body_event		 ev = BODY_EVENT_MORE;
	size_t			 i = 0;

	switch (p->bp_state) {
	case BODY_STATE_DONE:
		*used = 0;
		return (BODY_EVENT_END);
	case BODY_STATE_FAILED:
		*used = 0;
		return (BODY_EVENT_ERROR);
	case BODY_STATE_LENGTH:
	case BODY_STATE_DATA:
		return (parser_data(p, len, used));
	default:
		break;
	}
	while (ev == BODY_EVENT_MORE && i < len)
		ev = parser_byte(p, in[i++]);
	*used = i;
	return (ev);
}

enum body_error
body_parser_error(const struct body_parser *p)
{
	return (p->bp_state == BODY_STATE_FAILED ? p->bp_error :
	    BODY_ERROR_NONE);
}

const char *
body_parser_reason(enum body_error error)
{
	static const char	*reasons[] = {
		[BODY_ERROR_NONE] = "no error",
		[BODY_ERROR_CHUNK_SIZE] = "chunk size without a hex digit",
		[BODY_ERROR_CHUNK_OVERFLOW] =
		    "chunk size of more than 15 hex digits",
		[BODY_ERROR_CHUNK_SYNTAX] =
		    "chunk size followed by other than an extension",
		[BODY_ERROR_LINE_TOO_LONG] = "chunk-size line too long",
		[BODY_ERROR_DATA_END] =
		    "chunk data not followed by a line end",
		[BODY_ERROR_TRAILER_TOO_LARGE] = "trailer section too large",
		[BODY_ERROR_TOO_LARGE] = "body larger than the limit"
	};

	if ((size_t)error >= sizeof(reasons) / sizeof(reasons[0]) ||
	    reasons[error] == NULL)
		return ("unknown error");
	return (reasons[error]);
}

uint64_t
body_parser_received(const struct body_parser *p)
{
	return (p->bp_received);
}

/* Hand out body data: the first bytes of the piece, within the limits. */
static enum body_event
parser_data(struct body_parser *p, size_t len, size_t *used)
{
	uint64_t	 n = len;

	*used = 0;
	if (n > p->bp_left)
		n = p->bp_left;
	if (p->bp_max > 0 && n > p->bp_max - p->bp_received) {
		n = p->bp_max - p->bp_received;
		if (n == 0)
			return (parser_fail(p, BODY_ERROR_TOO_LARGE));
	}
	if (n == 0)
		return (BODY_EVENT_MORE);
	*used = (size_t)n;
	p->bp_left -= n;
	p->bp_received += n;
	if (p->bp_left == 0)
		p->bp_state = p->bp_state == BODY_STATE_LENGTH ?
		    BODY_STATE_DONE : BODY_STATE_DATA_END;
	return (BODY_EVENT_DATA);
}

/* One byte of framing. */
static enum body_event
parser_byte(struct body_parser *p, unsigned char ch)
{
	enum body_event	 ev;

	switch (p->bp_state) {
	case BODY_STATE_DATA_END:
		if (ch == '\r') {
			p->bp_state = BODY_STATE_DATA_LF;
			return (BODY_EVENT_MORE);
		}
		/* FALLTHROUGH */
	case BODY_STATE_DATA_LF:
		if (ch != '\n')
			return (parser_fail(p, BODY_ERROR_DATA_END));
		return (parser_next_chunk(p));
	default:
		break;
	}
	/* A line: a chunk size or a trailer. */
	if (ch == '\n')
		return (parser_line_end(p));
	if (p->bp_cr) {
		/* The CR held back is part of the line. */
		p->bp_cr = 0;
		if ((ev = parser_line_byte(p, '\r')) != BODY_EVENT_MORE)
			return (ev);
	}
	if (ch == '\r') {
		p->bp_cr = 1;
		return (BODY_EVENT_MORE);
	}
	return (parser_line_byte(p, ch));
}

/* A byte of a line that is not its line end. */
static enum body_event
parser_line_byte(struct body_parser *p, unsigned char ch)
{
	p->bp_line++;
	if (p->bp_state == BODY_STATE_TRAILER) {
		if (p->bp_line > BODY_PARSER_TRAILER_MAX - p->bp_trailer)
			return (parser_fail(p, BODY_ERROR_TRAILER_TOO_LARGE));
		return (BODY_EVENT_MORE);
	}
	if (p->bp_line > BODY_PARSER_LINE_MAX)
		return (parser_fail(p, BODY_ERROR_LINE_TOO_LONG));
	return (parser_size_byte(p, ch));
}

/* chunk-size [ BWS ";" extensions ]: the line read so far goes on. */
static enum body_event
parser_size_byte(struct body_parser *p, unsigned char ch)
{
	int	 d;

	switch (p->bp_state) {
	case BODY_STATE_SIZE:
		if ((d = parser_hex(ch)) != -1) {
			if (++p->bp_digits > BODY_PARSER_SIZE_DIGITS) {
				p->bp_error = BODY_ERROR_CHUNK_OVERFLOW;
				p->bp_state = BODY_STATE_SIZE_BAD;
			} else
				p->bp_size = p->bp_size * 16 + (uint64_t)d;
			break;
		}
		if (p->bp_digits == 0) {
			p->bp_error = BODY_ERROR_CHUNK_SIZE;
			p->bp_state = BODY_STATE_SIZE_BAD;
			break;
		}
		/* FALLTHROUGH */
	case BODY_STATE_SIZE_BLANK:
		if (ch == ' ' || ch == '\t')
			p->bp_state = BODY_STATE_SIZE_BLANK;
		else if (ch == ';')
			p->bp_state = BODY_STATE_EXTENSION;
		else {
			p->bp_error = BODY_ERROR_CHUNK_SYNTAX;
			p->bp_state = BODY_STATE_SIZE_BAD;
		}
		break;
	default:
		break;	/* extensions and the rest of a bad line */
	}
	return (BODY_EVENT_MORE);
}

/* An LF: a chunk-size line or a trailer line is complete. */
static enum body_event
parser_line_end(struct body_parser *p)
{
	size_t	 eol = p->bp_cr ? 2 : 1;

	p->bp_cr = 0;
	if (p->bp_state != BODY_STATE_TRAILER)
		return (parser_chunk_line_end(p));
	if (p->bp_line == 0) {
		p->bp_state = BODY_STATE_DONE;
		return (BODY_EVENT_END);
	}
	p->bp_trailer += p->bp_line + eol;
	p->bp_line = 0;
	if (p->bp_trailer > BODY_PARSER_TRAILER_MAX)
		return (parser_fail(p, BODY_ERROR_TRAILER_TOO_LARGE));
	return (BODY_EVENT_FRAMING);
}

/* The chunk-size line is complete: data, trailers or an error. */
static enum body_event
parser_chunk_line_end(struct body_parser *p)
{
	if (p->bp_state == BODY_STATE_SIZE_BAD)
		return (parser_fail(p, p->bp_error));
	if (p->bp_digits == 0)
		return (parser_fail(p, BODY_ERROR_CHUNK_SIZE));
	p->bp_line = 0;
	if (p->bp_size == 0)
		p->bp_state = BODY_STATE_TRAILER;
	else {
		p->bp_left = p->bp_size;
		p->bp_state = BODY_STATE_DATA;
	}
	return (BODY_EVENT_FRAMING);
}

/* Chunk data ended with its line end: a chunk-size line follows. */
static enum body_event
parser_next_chunk(struct body_parser *p)
{
	p->bp_state = BODY_STATE_SIZE;
	p->bp_size = 0;
	p->bp_digits = 0;
	p->bp_line = 0;
	return (BODY_EVENT_FRAMING);
}

static enum body_event
parser_fail(struct body_parser *p, enum body_error error)
{
	p->bp_state = BODY_STATE_FAILED;
	p->bp_error = error;
	return (BODY_EVENT_ERROR);
}

static int
parser_hex(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return (ch - '0');
	if (ch >= 'a' && ch <= 'f')
		return (ch - 'a' + 10);
	if (ch >= 'A' && ch <= 'F')
		return (ch - 'A' + 10);
	return (-1);
}
