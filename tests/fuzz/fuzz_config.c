/*
 * fuzz_config.c: libFuzzer target for the configuration loader
 * (config_load, conf/config.c): the input is written as depot.conf in a
 * private temporary directory and loaded, twice. A file is accepted or
 * refused the same way both times, a refusal says why (one
 * "file:line: message" or more), and nothing is left allocated.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cf, *again;
	char		 path[128], *cause = NULL, *cause2 = NULL;

	fuzz_init_log();
	snprintf(path, sizeof(path), "%s/depot.conf", fuzz_tmpdir());
	fuzz_write_file(path, data, size);

	cf = config_load(path, &cause);
	if ((cf == NULL) != (cause != NULL))
		abort();
	if (cf == NULL && *cause == '\0')
		abort();
	again = config_load(path, &cause2);
	if ((again == NULL) != (cf == NULL))
		abort();
	if (cause != NULL && strcmp(cause, cause2) != 0)
		abort();
	config_free(cf);
	config_free(again);
	free(cause);
	free(cause2);
	return (0);
}

#include "fuzz_main.h"
