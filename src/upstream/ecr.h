/*
 * ecr.h: Amazon ECR as an upstream, the pure parts of its token: the
 * GetAuthorizationToken request (AWS JSON 1.1, signed with SigV4) and
 * its answer, and AWS JSON errors. No I/O: the token's fetching and
 * sharing are ecr_token.h's; the URL forms are conf/ecr_url.h's.
 */
#ifndef DEPOT_ECR_H
#define DEPOT_ECR_H

#include <stddef.h>
#include <time.h>

#include "conf/ecr_url.h"

/* A signed GetAuthorizationToken request, ready for fetch. */
struct ecr_api_request {
	char	*ar_url;
	char	*ar_body;
	char	*ar_headers[8];		/* "Name: value"; secrets inside */
	size_t	 ar_nheaders;
};

struct aws_credentials;

/*
 * Build and sign GetAuthorizationToken for loc at now, sent to api_url
 * (the location's when NULL). 0, or -1 with *cause. Free with
 * ecr_api_request_clear (it zeroes the secrets).
 */
int	 ecr_api_request(const struct ecr_location *, const char *api_url,
	    const struct aws_credentials *, time_t now,
	    struct ecr_api_request *, char **cause);
void	 ecr_api_request_clear(struct ecr_api_request *);

/* A token, decoded: Basic credentials for the registry. */
struct ecr_token {
	char	*et_username;	/* "AWS" */
	char	*et_password;	/* secret */
	time_t	 et_expires;	/* expiresAt */
};

/*
 * Parse GetAuthorizationToken's answer (private: authorizationData is
 * an array; public: an object). 0, or -1 with *cause (caller frees;
 * never the token). Free with ecr_token_clear.
 */
int	 ecr_token_parse(const char *json, size_t len, struct ecr_token *,
	    char **cause);
void	 ecr_token_clear(struct ecr_token *);

/*
 * An AWS JSON error answer: *code gets its type ("ThrottlingException",
 * from __type without its namespace, else the x-amzn-ErrorType header
 * given as type_header), *message its message (or NULL). Both caller
 * frees; *code is "HTTP <status>" when neither says.
 */
void	 ecr_error_parse(const char *json, size_t len, const char *type_header,
	    long status, char **code, char **message);

#endif /* DEPOT_ECR_H */
