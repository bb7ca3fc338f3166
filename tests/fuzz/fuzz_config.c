// SPDX-License-Identifier: MIT
/* libFuzzer target for the config parser: any bytes in, either a config or one error line
 * out, never a crash, a leak or undefined behaviour. Seeds: config/ and tests/fuzz/corpus/.
 *   make fuzz FUZZ_SECONDS=300      # explore
 *   make fuzz-replay                # the seeds once each (part of make check) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;
	char *text;

	/* The parser reads C strings: an embedded NUL just ends the text early. */
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if (config_load_string(text, "fuzz.conf", &cfg, err, sizeof(err)) == 0) {
		/* A config that loads must dump to text that loads again. */
		char *dump = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&dump, &len);
		struct config *again = NULL;

		if (f) {
			config_dump(cfg, f);
			fclose(f);
			if (config_load_string(dump, "dump.conf", &again, err, sizeof(err)) != 0)
				abort();
			config_free(again);
			free(dump);
		}
		config_free(cfg);
	} else if (err[0] == '\0') {
		abort(); /* every failure says why */
	}
	free(text);
	return 0;
}
