/* Harness-internal: frame receive state machine and frame building for the pixmcu serial protocol.
 * Pure C with no board dependency, so host tests compile it with the host gcc and feed it garbage. */
#ifndef PM_FRAME_H
#define PM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "pm_protocol.h"

#define PM_FRAME_BYTES (PM_PROTO_HEADER_BYTES + PM_PROTO_MAX_PAYLOAD + PM_PROTO_TRAILER_BYTES)

typedef struct {
    uint32_t pos;  /* bytes of the current candidate frame held in buf */
    uint32_t need; /* total bytes of the current frame once its header checked */
    uint32_t bad_frames;
    uint8_t buf[PM_FRAME_BYTES];
} pm_frame_rx_t;

uint32_t pm_crc32(uint32_t crc, const uint8_t *data, size_t len);
uint8_t pm_crc8(const uint8_t *data, size_t len);

void pm_frame_rx_reset(pm_frame_rx_t *rx);

/* Feed one received byte. Returns 1 when buf holds a complete, checked frame; the caller reads it
 * (pm_frame_type/seq/len/payload) before feeding the next byte. */
int pm_frame_rx_feed(pm_frame_rx_t *rx, uint8_t byte);

/* The line went idle inside a frame: give up on it, keeping any frame that starts later in the
 * bytes already held (a host retry). Returns 1 when that leaves a complete frame in buf. */
int pm_frame_rx_abandon(pm_frame_rx_t *rx);

static inline uint8_t pm_frame_type(const uint8_t *frame) { return frame[2]; }
static inline uint8_t pm_frame_seq(const uint8_t *frame) { return frame[3]; }
static inline uint16_t pm_frame_len(const uint8_t *frame) { return (uint16_t)(frame[4] | frame[5] << 8); }
static inline uint8_t *pm_frame_payload(uint8_t *frame) { return frame + PM_PROTO_HEADER_BYTES; }

/* Write header and CRC around a payload already placed at frame + PM_PROTO_HEADER_BYTES.
 * Returns the number of bytes to send. */
size_t pm_frame_finish(uint8_t *frame, uint8_t type, uint8_t seq, uint16_t len);

static inline void pm_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void pm_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void pm_put_u64(uint8_t *p, uint64_t v)
{
    pm_put_u32(p, (uint32_t)v);
    pm_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t pm_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t pm_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif /* PM_FRAME_H */
