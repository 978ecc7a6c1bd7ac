/* oci_blob.c: placeholder until the handlers land. */
#include "http.h"
#include "oci.h"

void
oci_blob_get(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}

void
oci_blob_delete(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}
