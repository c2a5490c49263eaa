/* A minimal TAP producer shared by every unit test (meson runs them with protocol: 'tap'). */
#pragma once

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...)                                                                              \
        do {                                                                                       \
                int _c = !!(cond);                                                                 \
                printf("%s %d - ", _c ? "ok" : "not ok", ++tap_n);                                 \
                printf(__VA_ARGS__);                                                               \
                printf("\n");                                                                      \
                if (!_c) {                                                                         \
                        tap_failed++;                                                              \
                        printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
                }                                                                                  \
        } while (0)

#define is_str(a, b, ...)                                                                          \
        do {                                                                                       \
                const char *_a = (a), *_b = (b);                                                   \
                ok(_a &&_b &&strcmp(_a, _b) == 0, __VA_ARGS__);                                    \
                if (!(_a && _b && strcmp(_a, _b) == 0))                                            \
                        printf("#   got '%s', expected '%s'\n", _a ? _a : "(null)",                \
                               _b ? _b : "(null)");                                                \
        } while (0)

#define contains(hay, needle, ...)                                                                 \
        do {                                                                                       \
                const char *_h = (hay);                                                            \
                ok(_h &&strstr(_h, (needle)), __VA_ARGS__);                                        \
                if (!(_h && strstr(_h, (needle))))                                                 \
                        printf("#   '%s' does not contain '%s'\n", _h ? _h : "(null)", (needle));  \
        } while (0)

static inline int tap_done(void)
{
        printf("1..%d\n", tap_n);
        return tap_failed ? 1 : 0;
}
