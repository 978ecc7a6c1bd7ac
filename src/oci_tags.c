/* oci_tags.c: placeholder until the handlers land. */
#include "http.h"
#include "oci.h"

void
oci_tags_list(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}

void
oci_catalog(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}

void
oci_referrers(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}
