/*
 * fuzz_range.c: libFuzzer target for the two byte range parsers: the
 * Range header of a blob GET (content_range_parse, serve.c) and the
 * Content-Range of an upload chunk (oci_content_range, oci_upload.c).
 * The first 8 input bytes are the blob size, the rest is the header.
 * A range served lies within the blob; a Content-Range accepted has
 * first <= last, and printing it back gives a header that parses to the
 * same range.
 */
#include <sys/types.h>

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content/content.h"
#include "oci/oci.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s, buf[64];
	uint64_t	 u = 0;
	off_t		 bsize, first = -1, last = -1;
	int64_t		 a, b, a2, b2;
	size_t		 i;

	fuzz_init_log();
	for (i = 0; i < 8 && i < size; i++)
		u = u << 8 | data[i];
	/* Sizes from 0 up; small ones most of the time. */
	bsize = (off_t)(u & (u & 1 ? INT64_MAX : 0xffff)) >> 1;
	data += i;
	size -= i;
	s = fuzz_string(data, size);

	switch (content_range_parse(s, bsize, &first, &last)) {
	case BLOB_RANGE_WHOLE:
		break;
	case BLOB_RANGE_ONE:
		if (first < 0 || first > last || last >= bsize)
			abort();
		break;
	case BLOB_RANGE_UNSATISFIABLE:
		break;
	default:
		abort();
	}
	if (content_range_parse(NULL, bsize, &first, &last) !=
	    BLOB_RANGE_WHOLE)
		abort();

	if (oci_content_range(s, &a, &b) == 0) {
		if (a < 0 || a > b || b - a == INT64_MAX)
			abort();
		snprintf(buf, sizeof(buf), "%" PRId64 "-%" PRId64, a, b);
		if (oci_content_range(buf, &a2, &b2) != 0 || a2 != a ||
		    b2 != b)
			abort();
		snprintf(buf, sizeof(buf), "bytes %" PRId64 "-%" PRId64 "/*",
		    a, b);
		if (oci_content_range(buf, &a2, &b2) != 0 || a2 != a ||
		    b2 != b)
			abort();
	}
	free(s);
	return (0);
}

#include "fuzz_main.h"
