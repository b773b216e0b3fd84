/* Frame receive state machine: hunt for the sync bytes, check the header CRC-8 and length before
 * accepting a payload (a corrupted length can't make it wait for bytes that never come), then
 * check the CRC-32. Any failure drops back to hunting; the host's retry supplies a clean copy. */
#define PM_PROTOCOL_TABLES
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

int pm_frame_rx_feed(pm_frame_rx_t *rx, uint8_t byte)
{
    if (rx->pos == 0) {
        if (byte == PM_PROTO_SYNC0) {
            rx->buf[rx->pos++] = byte;
        }
        return 0;
    }
    if (rx->pos == 1) {
        if (byte == PM_PROTO_SYNC1) {
            rx->buf[rx->pos++] = byte;
        } else if (byte != PM_PROTO_SYNC0) {
            rx->pos = 0;
        }
        return 0;
    }
    rx->buf[rx->pos++] = byte;
    if (rx->pos == PM_PROTO_HEADER_BYTES) {
        uint16_t len = pm_frame_len(rx->buf);
        if (pm_crc8(rx->buf + 2, 4) != rx->buf[6] || len > PM_PROTO_MAX_PAYLOAD) {
            rx->bad_frames++;
            pm_frame_rx_reset(rx);
            return 0;
        }
        rx->need = PM_PROTO_HEADER_BYTES + len + PM_PROTO_TRAILER_BYTES;
        return 0;
    }
    if (rx->pos < PM_PROTO_HEADER_BYTES || rx->pos < rx->need) {
        return 0;
    }
    uint32_t body = rx->need - PM_PROTO_TRAILER_BYTES;
    uint32_t crc = pm_get_u32(rx->buf + body);
    pm_frame_rx_reset(rx);
    if (pm_crc32(0, rx->buf + 2, body - 2) != crc) {
        rx->bad_frames++;
        return 0;
    }
    return 1;
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
