// The CLI's allocator settings. build/lwm links jemalloc (not under the
// sanitizers, which bring their own malloc) for one reason: first touches of
// fresh memory. libavcodec hands each decoder some 50 MB of new frame and
// motion buffers, and on the virtual machines this runs on a 4 KiB page fault
// costs about 12 us, a tenth of a sparse --fps 1 decode. jemalloc backs its
// memory with transparent huge pages when asked (one fault per 2 MiB) and
// keeps freed memory for the next file's decoder; glibc's malloc does neither
// for blocks this size. bench/RESULTS.md has the figures.
#ifdef LWM_JEMALLOC
// Read by jemalloc at start-up; MALLOC_CONF in the environment still overrides it.
const char *malloc_conf = "thp:always,metadata_thp:auto";
#else
typedef int lwm_cli_uses_the_system_malloc; // an empty file is not valid ISO C
#endif
