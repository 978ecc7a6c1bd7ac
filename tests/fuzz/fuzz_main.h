/*
 * fuzz_main.h: with -DDEPOT_FUZZ_MAIN, the main() every fuzz target gets
 * to replay inputs without libFuzzer: one file per argument, each up to
 * FUZZ_REPLAY_MAX bytes. Included once, at the end of a target.
 */
#ifdef DEPOT_FUZZ_MAIN
#include <stdint.h>
#include <stdio.h>

#ifndef FUZZ_REPLAY_MAX
#define FUZZ_REPLAY_MAX	(1024 * 1024)
#endif

int
main(int argc, char *argv[])
{
	static uint8_t	 buf[FUZZ_REPLAY_MAX];
	FILE		*f;
	size_t		 n;
	int		 i;

	for (i = 1; i < argc; i++) {
		if ((f = fopen(argv[i], "rb")) == NULL) {
			perror(argv[i]);
			return (1);
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
	}
	return (0);
}
#endif
