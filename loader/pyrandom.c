// Python's random.Random(n).choice(seq), bit for bit: LWM picks one entry of a
// list-valued fields spec per JSON line with random.Random(line_index), so the
// same data gives the same layout only if we draw exactly the same number.
//
// CPython seeds a Mersenne Twister (MT19937) with init_by_array over the 32-bit
// words of |n| (one zero word for n = 0), and choice(seq) takes
// _randbelow(len): k = bit_length(len), r = getrandbits(k) = next32 >> (32 - k),
// redrawn while r >= len.
#include "internal.h"

enum { MT_N = 624, MT_M = 397 };

typedef struct mt19937 {
    uint32_t state[MT_N];
    int index;
} mt19937;

static void mt_init(mt19937 *mt, uint32_t seed)
{
    mt->state[0] = seed;
    for (int i = 1; i < MT_N; i++)
        mt->state[i] = 1812433253u * (mt->state[i - 1] ^ (mt->state[i - 1] >> 30)) + (uint32_t)i;
    mt->index = MT_N;
}

static void mt_init_by_array(mt19937 *mt, const uint32_t *key, int key_len)
{
    mt_init(mt, 19650218u);
    uint32_t *s = mt->state;
    int i = 1, j = 0;
    for (int k = MT_N > key_len ? MT_N : key_len; k; k--) {
        s[i] = (s[i] ^ ((s[i - 1] ^ (s[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++, j++;
        if (i >= MT_N) s[0] = s[MT_N - 1], i = 1;
        if (j >= key_len) j = 0;
    }
    for (int k = MT_N - 1; k; k--) {
        s[i] = (s[i] ^ ((s[i - 1] ^ (s[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) s[0] = s[MT_N - 1], i = 1;
    }
    s[0] = 0x80000000u;
}

static uint32_t mt_next(mt19937 *mt)
{
    static const uint32_t mag01[2] = {0u, 0x9908b0dfu};
    uint32_t *s = mt->state, y;
    if (mt->index >= MT_N) {
        int k;
        for (k = 0; k < MT_N - MT_M; k++) {
            y = (s[k] & 0x80000000u) | (s[k + 1] & 0x7fffffffu);
            s[k] = s[k + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
        }
        for (; k < MT_N - 1; k++) {
            y = (s[k] & 0x80000000u) | (s[k + 1] & 0x7fffffffu);
            s[k] = s[k + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1u];
        }
        y = (s[MT_N - 1] & 0x80000000u) | (s[0] & 0x7fffffffu);
        s[MT_N - 1] = s[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
        mt->index = 0;
    }
    y = s[mt->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

// Output k < MT_N - MT_M of a freshly seeded generator, without the full
// twist: word k of the next block depends only on words k, k + 1, k + M of the
// seeded state, none of which the twist has overwritten yet.
static uint32_t mt_output(const mt19937 *mt, int k)
{
    const uint32_t *s = mt->state;
    uint32_t y = (s[k] & 0x80000000u) | (s[k + 1] & 0x7fffffffu);
    y = s[k + MT_M] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

int64_t loader_py_choice(uint64_t seed, int64_t n)
{
    if (n <= 1) return 0;
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    mt19937 mt;
    mt_init_by_array(&mt, key, key[1] ? 2 : 1);
    int bits = 0;
    while (bits < 63 && ((uint64_t)1 << bits) <= (uint64_t)n) bits++; // bit_length(n)
    // Specs list at most a handful of entries: n < 2^32, one 32-bit draw per try.
    for (int k = 0;; k++) {
        if (k == MT_N - MT_M) // past the shortcut: twist for real, skip what was drawn
            for (int j = 0; j < k; j++) mt_next(&mt);
        uint32_t r = (k < MT_N - MT_M ? mt_output(&mt, k) : mt_next(&mt)) >> (32 - bits);
        if ((int64_t)r < n) return r;
    }
}
