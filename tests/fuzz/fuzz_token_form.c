/*
 * fuzz_token_form.c: libFuzzer target for the token service's form
 * parse (http_auth_form_parse, http_auth.c): a POST /token body. What is
 * accepted gives the fields a form decoder finds, scope split at spaces
 * into its words (at most AUTH_SCOPES_MAX, none empty, in order); a
 * refusal has a reason; clearing leaves nothing allocated.
 */
#include <sys/types.h>
#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http/http_auth.h"
#include "fuzz_util.h"

static int	fuzz_same(const char *, const char *);

static int
fuzz_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (strcmp(a, b) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_auth_form	 f;
	struct evkeyvalq	 q;
	const char		*why = NULL, *scope, *p;
	char			*body;
	size_t			 len, n;

	fuzz_init_log();
	body = fuzz_string(data, size);
	TAILQ_INIT(&q);
	if (http_auth_form_parse(body, &f, &why) == -1) {
		if (why == NULL || *why == '\0')
			abort();
		http_auth_form_clear(&f);
		free(body);
		return (0);
	}
	if (evhttp_parse_query_str(body, &q) != 0)
		abort();
	if (!fuzz_same(f.af_grant, evhttp_find_header(&q, "grant_type")) ||
	    !fuzz_same(f.af_user, evhttp_find_header(&q, "username")) ||
	    !fuzz_same(f.af_password, evhttp_find_header(&q, "password")) ||
	    !fuzz_same(f.af_refresh, evhttp_find_header(&q, "refresh_token")) ||
	    !fuzz_same(f.af_service, evhttp_find_header(&q, "service")))
		abort();
	p = evhttp_find_header(&q, "access_type");
	if (f.af_offline != (p != NULL && strcmp(p, "offline") == 0))
		abort();
	if (f.af_nscopes > AUTH_SCOPES_MAX)
		abort();
	scope = evhttp_find_header(&q, "scope");
	/* The words of the scope, in order, each without a space. */
	n = 0;
	for (p = scope != NULL ? scope : ""; ; p += len) {
		p += strspn(p, " ");
		if (*p == '\0')
			break;
		len = strcspn(p, " ");
		if (n >= f.af_nscopes || strlen(f.af_scopes[n]) != len ||
		    strncmp(f.af_scopes[n], p, len) != 0)
			abort();
		n++;
	}
	if (n != f.af_nscopes)
		abort();
	evhttp_clear_headers(&q);
	http_auth_form_clear(&f);
	free(body);
	return (0);
}

#include "fuzz_main.h"
