// Frame selection by presentation time: LWM's linspace rule and the fps rule.
// Both work on the presentation-ordered list of a source's frames (from the
// packet scan in demux.c), never on the container's frame count.
#include <math.h>

#include "internal.h"

// The k-th of m values of numpy.linspace(0, n-1, m) with an integer dtype:
// step = (stop - start) / (num - 1); y = arange(num) * step + start; y[-1] = stop;
// floor. Same float64 operations in the same order. Requires n > m >= 2.
static int64_t linspace_at(int64_t k, int64_t n, int64_t m)
{
    if (k == m - 1) return n - 1;
    double step = (double)(n - 1) / (double)(m - 1);
    return (int64_t)floor((double)k * step + 0.0);
}

size_t ingest_linspace_pick(int64_t *out, int64_t n, int64_t m)
{
    if (n <= 0) return 0;
    if (m <= 0 || n <= m) {
        for (int64_t i = 0; i < n; i++) out[i] = i;
        return (size_t)n;
    }
    if (m == 1) { // numpy: linspace(0, n-1, 1) == [0.0]
        out[0] = 0;
        return 1;
    }
    for (int64_t k = 0; k < m; k++) out[k] = linspace_at(k, n, m);
    return (size_t)m;
}

size_t ingest_fps_pick(int64_t *out, const double *times, size_t n, double fps)
{
    if (n == 0) return 0;
    if (!(fps > 0)) {
        for (size_t i = 0; i < n; i++) out[i] = (int64_t)i;
        return n;
    }
    // Times are relative to the first frame; the last frame lasts as long as the
    // one before it, and ticks run while the video does. Each tick k/fps takes
    // the frame whose start is nearest (ties to the earlier), as FFmpeg's fps
    // filter rounds: containers store times rounded (Matroska to 1 ms), so "the
    // frame on screen at the tick" would skip frames whose rounded start lands
    // just after their tick.
    size_t count = 0, i = 0;
    double t0 = times[0];
    double end = times[n - 1] - t0 + (n > 1 ? times[n - 1] - times[n - 2] : 0);
    for (int64_t k = 0;; k++) {
        double tick = (double)k / fps;
        if (k > 0 && tick >= end - 1e-4) break; // a tick at the very end shows nothing
        while (i + 1 < n && (times[i + 1] - t0) - tick < tick - (times[i] - t0)) i++;
        if (count == 0 || out[count - 1] != (int64_t)i) out[count++] = (int64_t)i;
    }
    return count;
}

size_t ingest_select(int64_t *out, const double *times, size_t n, double fps, int64_t max_frames)
{
    size_t kept = ingest_fps_pick(out, times, n, fps);
    if (max_frames <= 0 || (int64_t)kept <= max_frames) return kept;
    // linspace over the kept list, in place: positions increase and pick k reads
    // position >= k (the step exceeds 1), so nothing is overwritten before it is read.
    for (int64_t k = 0; k < max_frames; k++)
        out[k] = out[max_frames == 1 ? 0 : linspace_at(k, (int64_t)kept, max_frames)];
    return (size_t)max_frames;
}
