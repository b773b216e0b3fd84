/* Frame receive state machine: hunt for the sync bytes, check the header CRC-8 and length before
 * accepting a payload (a corrupted length can't make it wait for bytes that never come), then
 * check the CRC-32. After any failure the bytes already taken are rescanned for the next sync. */
#define PM_PROTOCOL_TABLES
#include <string.h>

#include "pm_frame.h"

uint32_t pm_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc = pm_crc32_table[(crc ^ *data++) & 0xFFu] ^ (crc >> 8);
    }
    return ~crc;
}

uint8_t pm_crc8(const uint8_t *data, size_t len)
{
    uint8_t crc = 0;
    while (len--) {
        crc = pm_crc8_table[crc ^ *data++];
    }
    return crc;
}

void pm_frame_rx_reset(pm_frame_rx_t *rx)
{
    rx->pos = 0;
    rx->need = 0;
}

/* 1: buf holds a complete valid frame; 0: a plausible beginning; -1: not a frame. */
static int check(pm_frame_rx_t *rx)
{
    if (rx->buf[0] != PM_PROTO_SYNC0 || (rx->pos >= 2 && rx->buf[1] != PM_PROTO_SYNC1)) {
        return -1;
    }
    if (rx->pos < PM_PROTO_HEADER_BYTES) {
        return 0;
    }
    if (rx->need == 0) {
        uint16_t len = pm_frame_len(rx->buf);
        if (pm_crc8(rx->buf + 2, 4) != rx->buf[6] || len > PM_PROTO_MAX_PAYLOAD) {
            return -1;
        }
        rx->need = PM_PROTO_HEADER_BYTES + len + PM_PROTO_TRAILER_BYTES;
    }
    if (rx->pos < rx->need) {
        return 0;
    }
    uint32_t body = rx->need - PM_PROTO_TRAILER_BYTES;
    return pm_crc32(0, rx->buf + 2, body - 2) == pm_get_u32(rx->buf + body) ? 1 : -1;
}

/* Drop the first byte held and everything up to the next possible sync. */
static void shift(pm_frame_rx_t *rx)
{
    if (rx->pos >= PM_PROTO_HEADER_BYTES) {
        rx->bad_frames++;
    }
    uint32_t next = 1;
    while (next < rx->pos && rx->buf[next] != PM_PROTO_SYNC0) {
        next++;
    }
    memmove(rx->buf, rx->buf + next, rx->pos - next);
    rx->pos -= next;
    rx->need = 0;
}

/* Not a frame: a real one may start inside what was taken for this one (garbage before a retry, a
 * dropped byte), so rescan from the next sync byte instead of discarding everything. */
static int settle(pm_frame_rx_t *rx)
{
    while (rx->pos != 0) {
        int r = check(rx);
        if (r == 1) {
            pm_frame_rx_reset(rx);
            return 1;
        }
        if (r == 0) {
            return 0;
        }
        shift(rx);
    }
    return 0;
}

int pm_frame_rx_feed(pm_frame_rx_t *rx, uint8_t byte)
{
    rx->buf[rx->pos++] = byte;
    return settle(rx);
}

int pm_frame_rx_abandon(pm_frame_rx_t *rx)
{
    if (rx->pos == 0) {
        return 0;
    }
    shift(rx);
    return settle(rx);
}

size_t pm_frame_finish(uint8_t *frame, uint8_t type, uint8_t seq, uint16_t len)
{
    frame[0] = PM_PROTO_SYNC0;
    frame[1] = PM_PROTO_SYNC1;
    frame[2] = type;
    frame[3] = seq;
    pm_put_u16(frame + 4, len);
    frame[6] = pm_crc8(frame + 2, 4);
    size_t body = PM_PROTO_HEADER_BYTES + len;
    pm_put_u32(frame + body, pm_crc32(0, frame + 2, body - 2));
    return body + PM_PROTO_TRAILER_BYTES;
}
