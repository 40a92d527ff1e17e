/* SPDX-License-Identifier: MIT */
/* Fuzz target for the load generator's HTTP response parser: any bytes (whole, or
 * split in two as they might arrive) parse, ask for more or are refused; a parsed
 * response's body lies inside the bytes given. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    for (int eof = 0; eof < 2; eof++) {
        for (int head = 0; head < 2; head++) {
            memcpy(buf, data, size);
            int st = 0, ka = 0;
            size_t bo = 0, bl = 0, used = 0;
            int r = fy__http_parse(buf, size, head, eof, &st, &bo, &bl, &used, &ka);
            if (r == 1 && (bo > size || bl > size - bo || used > size || st < 100 || st > 599))
                abort();
            /* the first half alone must never parse as more than the whole */
            memcpy(buf, data, size);
            r = fy__http_parse(buf, size / 2, head, 0, &st, &bo, &bl, &used, &ka);
            if (r == 1 && (bo > size / 2 || bl > size / 2 - bo || used > size / 2))
                abort();
        }
    }
    free(buf);
    return 0;
}
