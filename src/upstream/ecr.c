/*
 * ecr.c: the pure parts of an ECR token: the signed
 * GetAuthorizationToken request, the parsing of its answer (base64
 * "AWS:<password>", expiresAt) and of AWS JSON errors.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "upstream/aws_credentials.h"
#include "upstream/aws_sigv4.h"
#include "upstream/ecr.h"

#define ECR_TOKEN_MAX	(16 * 1024)

static int	 ecr_host_of(const char *, char **, const char **);

/* The host[:port] and path of an http(s) URL. 0, or -1. *host: caller
 * frees; *path points into url ("/" when none). */
static int
ecr_host_of(const char *url, char **host, const char **path)
{
	const char	*p, *e;

	if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else
		return (-1);
	e = p + strcspn(p, "/?#");
	if (e == p || memchr(p, '@', e - p) != NULL)
		return (-1);
	*host = xstrndup(p, e - p);
	*path = *e == '/' ? e : "/";
	return (0);
}

int
ecr_api_request(const struct ecr_location *loc, const char *api_url,
    const struct aws_credentials *cr, time_t now, struct ecr_api_request *ar,
    char **cause)
{
	struct aws_sigv4_header	 h[6];
	struct aws_sigv4_request req;
	struct aws_sigv4_signer	 sg;
	char			 date[AWS_SIGV4_DATE_LEN + 1], *host = NULL;
	char			*authz, *path_only;
	const char		*path;
	size_t			 n = 0, i;

	memset(ar, 0, sizeof(*ar));
	if (api_url == NULL)
		api_url = loc->el_api_url;
	if (ecr_host_of(api_url, &host, &path) == -1) {
		xasprintf(cause, "unusable ECR API URL");
		return (-1);
	}
	aws_sigv4_date(now, date, sizeof(date));
	ar->ar_url = xstrdup(api_url);
	ar->ar_body = xstrdup("{}");
	h[n].h_name = "Host";
	h[n++].h_value = host;
	h[n].h_name = "X-Amz-Date";
	h[n++].h_value = date;
	h[n].h_name = "X-Amz-Target";
	h[n++].h_value = loc->el_target;
	h[n].h_name = "Content-Type";
	h[n++].h_value = ECR_CONTENT_TYPE;
	if (cr->ac_session_token != NULL) {
		h[n].h_name = "X-Amz-Security-Token";
		h[n++].h_value = cr->ac_session_token;
	}
	path_only = xstrndup(path, strcspn(path, "?#"));
	memset(&req, 0, sizeof(req));
	req.r_method = "POST";
	req.r_path = path_only;
	req.r_query = strchr(path, '?') != NULL ? strchr(path, '?') + 1 : NULL;
	req.r_headers = h;
	req.r_nheaders = n;
	req.r_body = ar->ar_body;
	req.r_body_len = strlen(ar->ar_body);
	memset(&sg, 0, sizeof(sg));
	sg.s_access_key_id = cr->ac_access_key_id;
	sg.s_secret_access_key = cr->ac_secret_access_key;
	sg.s_region = loc->el_region;
	sg.s_service = loc->el_service;
	sg.s_amz_date = date;
	authz = aws_sigv4_authorization(&req, &sg);
	free(path_only);
	if (authz == NULL) {
		free(host);
		ecr_api_request_clear(ar);
		xasprintf(cause, "cannot sign the GetAuthorizationToken "
		    "request");
		return (-1);
	}
	for (i = 0; i < n; i++)
		xasprintf(&ar->ar_headers[ar->ar_nheaders++], "%s: %s",
		    h[i].h_name, h[i].h_value);
	xasprintf(&ar->ar_headers[ar->ar_nheaders++], "Authorization: %s",
	    authz);
	/* No "Expect: 100-continue" round trip for a tiny body. */
	ar->ar_headers[ar->ar_nheaders++] = xstrdup("Expect:");
	explicit_bzero(authz, strlen(authz));
	free(authz);
	free(host);
	return (0);
}

void
ecr_api_request_clear(struct ecr_api_request *ar)
{
	size_t	 i;

	for (i = 0; i < ar->ar_nheaders; i++) {
		explicit_bzero(ar->ar_headers[i], strlen(ar->ar_headers[i]));
		free(ar->ar_headers[i]);
	}
	free(ar->ar_url);
	free(ar->ar_body);
	memset(ar, 0, sizeof(*ar));
}

/* base64 "user:password" into tok. 0, or -1. */
static int
ecr_token_decode(const char *b64, struct ecr_token *tok)
{
	unsigned char	*out;
	size_t		 len = strlen(b64), pad = 0;
	int		 n;
	char		*colon;

	if (len == 0 || len % 4 != 0 || len > ECR_TOKEN_MAX)
		return (-1);
	if (b64[len - 1] == '=')
		pad++;
	if (b64[len - 2] == '=')
		pad++;
	out = xmalloc(len / 4 * 3 + 1);
	n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return (-1);
	}
	n -= (int)pad;
	out[n] = '\0';
	if (memchr(out, '\0', n) != NULL ||
	    (colon = strchr((char *)out, ':')) == NULL ||
	    colon == (char *)out || colon[1] == '\0') {
		explicit_bzero(out, n);
		free(out);
		return (-1);
	}
	*colon = '\0';
	tok->et_username = xstrdup((char *)out);
	tok->et_password = xstrdup(colon + 1);
	explicit_bzero(out, n);
	free(out);
	return (0);
}

int
ecr_token_parse(const char *json, size_t len, struct ecr_token *tok,
    char **cause)
{
	json_t		*root, *data, *v;
	json_error_t	 err;
	double		 expires;
	int		 rc = -1;

	memset(tok, 0, sizeof(*tok));
	if ((root = json_loadb(json, len, 0, &err)) == NULL) {
		xasprintf(cause, "GetAuthorizationToken's answer is not JSON");
		return (-1);
	}
	data = json_object_get(root, "authorizationData");
	if (json_is_array(data))
		data = json_array_get(data, 0);
	if (!json_is_object(data)) {
		xasprintf(cause, "GetAuthorizationToken's answer has no "
		    "authorizationData");
		goto done;
	}
	v = json_object_get(data, "expiresAt");
	if (!json_is_number(v) || (expires = json_number_value(v)) <= 0 ||
	    expires > 1e11) {
		xasprintf(cause, "GetAuthorizationToken's answer has no usable "
		    "expiresAt");
		goto done;
	}
	tok->et_expires = (time_t)expires;
	v = json_object_get(data, "authorizationToken");
	if (!json_is_string(v) || ecr_token_decode(json_string_value(v),
	    tok) == -1) {
		xasprintf(cause, "GetAuthorizationToken's answer has no usable "
		    "authorizationToken");
		ecr_token_clear(tok);
		goto done;
	}
	rc = 0;
done:
	json_decref(root);
	return (rc);
}

void
ecr_token_clear(struct ecr_token *tok)
{
	free(tok->et_username);
	if (tok->et_password != NULL) {
		explicit_bzero(tok->et_password, strlen(tok->et_password));
		free(tok->et_password);
	}
	memset(tok, 0, sizeof(*tok));
}

/* A printable, single-line copy of s, at most max bytes. Caller frees. */
static char *
ecr_printable(const char *s, size_t max)
{
	char	*out;
	size_t	 i, n = strlen(s);

	if (n > max)
		n = max;
	out = xstrndup(s, n);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	return (out);
}

void
ecr_error_parse(const char *json, size_t len, const char *type_header,
    long status, char **code, char **message)
{
	json_t		*root = NULL, *v;
	json_error_t	 err;
	const char	*type = NULL, *hash;
	char		*t;

	*code = NULL;
	*message = NULL;
	if (json != NULL && len > 0)
		root = json_loadb(json, len, 0, &err);
	if (json_is_object(root)) {
		if (json_is_string(v = json_object_get(root, "__type")))
			type = json_string_value(v);
		if (json_is_string(v = json_object_get(root, "message")) ||
		    json_is_string(v = json_object_get(root, "Message")))
			*message = ecr_printable(json_string_value(v), 200);
	}
	if (type == NULL && type_header != NULL && *type_header != '\0')
		type = type_header;
	if (type != NULL) {
		/* "com.amazonaws.ecr#ThrottlingException", "X:http://..." */
		if ((hash = strrchr(type, '#')) != NULL)
			type = hash + 1;
		t = ecr_printable(type, 80);
		t[strcspn(t, ": ")] = '\0';
		if (*t != '\0')
			*code = t;
		else
			free(t);
	}
	if (*code == NULL)
		xasprintf(code, "HTTP %ld", status);
	json_decref(root);
}
