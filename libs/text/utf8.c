/*
 * utf8: see utf8.h. The decoder follows the well-formed byte sequences of
 * the Unicode standard (table 3-7).
 */
#include "text/utf8.h"

#include <stdlib.h>
#include <string.h>

/* Length of the well-formed sequence at s (at most n bytes), or 0. */
static size_t seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;

    if (c >= 0x01 && c <= 0x7f)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        return 0; /* NUL, a continuation byte, 0xc0, 0xc1, 0xf5.. */
    }
    if (len > n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

bool ems_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;

    while (n > 0) {
        size_t k = seq_len(p, n);
        if (k == 0)
            return false;
        p += k;
        n -= k;
    }
    return true;
}

size_t ems_utf8_trim_partial(char *s)
{
    size_t n = strlen(s), start = n;

    /* back over at most three continuation bytes to the lead byte */
    while (start > 0 && n - start < 4 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
        start--;
    if (start > 0 && ((unsigned char)s[start - 1] & 0xc0) == 0xc0)
        start--; /* the last character's lead byte */
    else
        return n; /* ASCII last, or stray continuation bytes: left to the check */
    if (!seq_len((const unsigned char *)s + start, n - start)) {
        s[start] = '\0';
        return start;
    }
    return n;
}

char *ems_utf8_dup_valid(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(3 * n + 1); /* each bad byte may become 3 */
    const unsigned char *p = (const unsigned char *)s;

    if (!out)
        return NULL;
    while (n > 0) {
        size_t k = seq_len(p, n);
        if (k == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            k = 1;
        } else {
            memcpy(out + o, p, k);
            o += k;
        }
        p += k;
        n -= k;
    }
    out[o] = '\0';
    return out;
}
