/* oci_upload.c: placeholder until the handlers land. */
#include "http.h"
#include "oci.h"

void
oci_upload_start(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}

void
oci_upload_patch(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}

void
oci_upload_finish(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}

void
oci_upload_status(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}

void
oci_upload_cancel(struct oci_request *o)
{
	oci_error(o, "UNSUPPORTED", "not implemented yet");
}
