/* oci_manifest.c: placeholder until the handlers land. */
#include "http.h"
#include "oci.h"

void
oci_manifest_get(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}

void
oci_manifest_put(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}

void
oci_manifest_delete(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}
