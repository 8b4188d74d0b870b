// Labels on contact sheets: a 5x7 bitmap font of the few characters a frame label needs
// ("#12 3.50s"), drawn white on a black box so it reads over any picture.
#include <string.h>

#include "cli.h"

// One row per byte, the leftmost of 5 pixels in bit 4.
static const struct glyph {
    char c;
    unsigned char rows[7];
} font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {'s', {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}},
    {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
};

static const unsigned char *rows_of(char c)
{
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
        if (font[i].c == c) return font[i].rows;
    return NULL; // drawn as a space
}

void cli_draw_label(uint8_t *rgb, int width, int height, int x0, int y0, const char *text,
                    int scale)
{
    enum { PAD = 2 };
    int n = (int)strlen(text), box_w = n * 6 * scale - scale + 2 * PAD, box_h = 7 * scale + 2 * PAD;
    for (int y = y0; y < y0 + box_h && y < height; y++)
        for (int x = x0; x < x0 + box_w && x < width; x++) {
            int gx = (x - x0 - PAD) / scale, gy = (y - y0 - PAD) / scale;
            const unsigned char *rows =
                x - x0 >= PAD && y - y0 >= PAD && gy < 7 ? rows_of(text[gx / 6]) : NULL;
            int on = rows && gx / 6 < n && gx % 6 < 5 && (rows[gy] >> (4 - gx % 6) & 1);
            memset(rgb + ((size_t)y * width + x) * 3, on ? 255 : 0, 3);
        }
}
