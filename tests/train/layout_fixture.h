/**
 * layout_fixture.h: a two-tensor parameter layout (name0 [rows, cols], then name1 [n]) for
 * tests and fuzz harnesses of the trainer's file readers (safetensors_read, ckpt_read).
 */
#ifndef LWM_TESTS_TRAIN_LAYOUT_FIXTURE_H
#define LWM_TESTS_TRAIN_LAYOUT_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "train/internal.h"

static inline train_layout *layout_fixture(train_layout *lay, const char *name0, int rows, int cols,
                                           const char *name1, int n)
{
    memset(lay, 0, sizeof *lay);
    lay->ntensors = 2;
    snprintf(lay->t[0].name, sizeof lay->t[0].name, "%s", name0);
    lay->t[0].rank = 2, lay->t[0].shape[0] = rows, lay->t[0].shape[1] = cols;
    lay->t[0].size = (size_t)rows * (size_t)cols;
    snprintf(lay->t[1].name, sizeof lay->t[1].name, "%s", name1);
    lay->t[1].rank = 1, lay->t[1].shape[0] = n;
    lay->t[1].offset = lay->t[0].size, lay->t[1].size = (size_t)n;
    lay->total = lay->t[0].size + (size_t)n;
    return lay;
}

#endif
