// The accuracy heatmap as RGB pixels (the CLI writes it as a PNG): context length across,
// needle depth down, as in the LWM paper's figure. Numbers are drawn with a 3x5 digit font:
// accuracy in percent in each cell, depth in percent on the left, lengths at the bottom.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

enum { CELL_W = 64, CELL_H = 30, LEFT = 40, BOTTOM = 22, SCALE = 2 };

// Rows of each digit, 3 bits each (bit 2 = left column).
static const uint8_t FONT[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}};

typedef struct canvas {
    uint8_t *rgb;
    int w, h;
} canvas;

static void fill_rect(canvas *c, int x0, int y0, int w, int h, const uint8_t col[3])
{
    for (int y = y0; y < y0 + h && y < c->h; y++)
        for (int x = x0; x < x0 + w && x < c->w; x++)
            memcpy(c->rgb + ((size_t)y * c->w + x) * 3, col, 3);
}

// Digits of text centred at (cx, cy); other characters are skipped.
static void draw_number(canvas *c, const char *text, int cx, int cy, const uint8_t col[3])
{
    int n = (int)strlen(text), w = n * 4 * SCALE - SCALE;
    int x = cx - w / 2, y = cy - 5 * SCALE / 2;
    for (int i = 0; i < n; i++, x += 4 * SCALE) {
        if (text[i] < '0' || text[i] > '9') continue;
        for (int r = 0; r < 5; r++)
            for (int b = 0; b < 3; b++)
                if (FONT[text[i] - '0'][r] & (4 >> b))
                    fill_rect(c, x + b * SCALE, y + r * SCALE, SCALE, SCALE, col);
    }
}

// Red (0) through yellow (0.5) to green (1).
static void colour(double a, uint8_t out[3])
{
    double r = a < 0.5 ? 1 : 2 * (1 - a), g = a < 0.5 ? 2 * a : 1;
    out[0] = (uint8_t)lrint(60 + 180 * r);
    out[1] = (uint8_t)lrint(60 + 160 * g);
    out[2] = 70;
}

int lwm_eval_needle_heatmap(const lwm_eval_needle_result *r, uint8_t **rgb, int *width, int *height,
                            lwm_error *err)
{
    canvas c = {NULL, LEFT + r->n_lengths * CELL_W, r->n_depths * CELL_H + BOTTOM};
    c.rgb = lwm_malloc(NULL, (size_t)c.w * c.h * 3);
    LWM_CHECK(err, c.rgb, -ENOMEM, "out of memory for the heatmap");
    const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0}, grey[3] = {200, 200, 200};
    fill_rect(&c, 0, 0, c.w, c.h, white);
    char text[32];
    for (int di = 0; di < r->n_depths; di++) {
        int y = di * CELL_H;
        snprintf(text, sizeof text, "%d", (int)lrint(100 * r->depths[di]));
        draw_number(&c, text, LEFT / 2, y + CELL_H / 2, black);
        for (int li = 0; li < r->n_lengths; li++) {
            int k = li * r->n_depths + di, x = LEFT + li * CELL_W;
            uint8_t col[3];
            if (r->total[k])
                colour((double)r->correct[k] / r->total[k], col);
            else
                memcpy(col, grey, 3);
            fill_rect(&c, x + 1, y + 1, CELL_W - 2, CELL_H - 2, col);
            if (!r->total[k]) continue;
            snprintf(text, sizeof text, "%d", (int)lrint(100.0 * r->correct[k] / r->total[k]));
            draw_number(&c, text, x + CELL_W / 2, y + CELL_H / 2, black);
        }
    }
    for (int li = 0; li < r->n_lengths; li++) {
        snprintf(text, sizeof text, "%lld", (long long)r->lengths[li]);
        draw_number(&c, text, LEFT + li * CELL_W + CELL_W / 2, r->n_depths * CELL_H + BOTTOM / 2,
                    black);
    }
    *rgb = c.rgb, *width = c.w, *height = c.h;
    return 0;
}
