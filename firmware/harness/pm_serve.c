/* The device side of the serial protocol: stop-and-wait, the host asks and the device answers.
 * A request repeating the last one (same seq and type) gets the cached reply again without being
 * acted on twice. A half-received frame is dropped once the line has been idle for a while, so
 * garbage or a lost byte can never leave the receiver waiting for ever. */
#include <string.h>

#include "pm_board_config.h"
#include "pm_frame.h"
#include "pm_harness.h"
#include "pm_measure.h"
#include "pm_port.h"

static pm_frame_rx_t rx;
static uint8_t tx[PM_FRAME_BYTES];
static size_t tx_len;
static int have_cached;
static uint8_t last_type, last_seq;

static uint32_t session;
static int have_result;
static int init_status_saved;

static void send_tx(void)
{
    for (size_t i = 0; i < tx_len; i++) {
        pm_port_putc(tx[i]);
    }
    pm_port_flush();
}

static uint8_t *reply_payload(void) { return pm_frame_payload(tx); }

static void finish(uint8_t type, uint8_t seq, uint16_t len) { tx_len = pm_frame_finish(tx, type, seq, len); }

static void put_str(uint8_t *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    memset(dst, 0, size);
    memcpy(dst, src, n < size ? n : size);
}

static void reply_error(uint8_t seq, uint16_t code, uint32_t detail)
{
    uint8_t *p = reply_payload();
    pm_put_u16(p + PM_ERROR_CODE, code);
    pm_put_u32(p + PM_ERROR_DETAIL, detail);
    finish(PM_MSG_ERROR, seq, PM_ERROR_SIZE);
}

static void reply_hello(uint8_t seq, const uint8_t *req)
{
    uint8_t *p = reply_payload();
    session = pm_get_u32(req + PM_HELLO_NONCE);
    memset(p, 0, PM_HELLO_ACK_SIZE);
    pm_put_u16(p + PM_HELLO_ACK_PROTO_VERSION, PM_PROTO_VERSION);
    pm_put_u16(p + PM_HELLO_ACK_MAX_PAYLOAD, PM_PROTO_MAX_PAYLOAD);
    p[PM_HELLO_ACK_COUNTER] = pm_port_counter_kind();
    p[PM_HELLO_ACK_FLAGS] = pm_port_status();
    pm_put_u16(p + PM_HELLO_ACK_NUM_LAYERS, PM_MODEL_NUM_LAYERS);
    pm_put_u32(p + PM_HELLO_ACK_INPUT_BYTES, PM_MODEL_INPUT_BYTES);
    pm_put_u32(p + PM_HELLO_ACK_OUTPUT_BYTES, PM_MODEL_OUTPUT_BYTES);
    pm_put_u32(p + PM_HELLO_ACK_CLOCK_HZ, pm_port_clock_hz());
    pm_put_u32(p + PM_HELLO_ACK_NONCE, session);
    pm_put_u32(p + PM_HELLO_ACK_INIT_STATUS, (uint32_t)init_status_saved);
    put_str(p + PM_HELLO_ACK_BOARD, PM_BOARD_NAME, PM_PROTO_NAME_BYTES);
    put_str(p + PM_HELLO_ACK_FIRMWARE, PM_FIRMWARE_VERSION, PM_PROTO_NAME_BYTES);
    put_str(p + PM_HELLO_ACK_MODEL_NAME, PM_MODEL_NAME, PM_PROTO_MODEL_NAME_BYTES);
    put_str(p + PM_HELLO_ACK_MODEL_HASH, PM_MODEL_HASH, PM_PROTO_HASH_BYTES);
    finish(PM_MSG_HELLO_ACK, seq, PM_HELLO_ACK_SIZE);
}

static void reply_write(uint8_t seq, const uint8_t *req, uint16_t len)
{
    if (len < PM_WRITE_SIZE) {
        reply_error(seq, PM_ERR_BAD_LENGTH, len);
        return;
    }
    uint32_t offset = pm_get_u32(req + PM_WRITE_OFFSET);
    uint32_t n = len - PM_WRITE_SIZE;
    if (offset > PM_MODEL_INPUT_BYTES || n > PM_MODEL_INPUT_BYTES - offset) {
        reply_error(seq, PM_ERR_BAD_RANGE, offset);
        return;
    }
    memcpy((uint8_t *)pm_input + offset, req + PM_WRITE_SIZE, n);
    have_result = 0;
    pm_put_u32(reply_payload() + PM_WRITE_ACK_END, offset + n);
    finish(PM_MSG_WRITE_ACK, seq, PM_WRITE_ACK_SIZE);
}

static void reply_invoke(uint8_t seq, const uint8_t *req, uint16_t len)
{
    if (len != PM_INVOKE_SIZE || pm_get_u32(req + PM_INVOKE_INPUT_BYTES) != PM_MODEL_INPUT_BYTES) {
        reply_error(seq, PM_ERR_BAD_LENGTH, len);
        return;
    }
    uint64_t total = 0;
    int status = pm_measure_invoke(pm_input, pm_output, &total);
    have_result = 1;
    uint8_t *p = reply_payload();
    pm_put_u32(p + PM_INVOKE_ACK_STATUS, (uint32_t)status);
    pm_put_u64(p + PM_INVOKE_ACK_TOTAL, total);
    pm_put_u16(p + PM_INVOKE_ACK_NUM_LAYERS, PM_MODEL_NUM_LAYERS);
    finish(PM_MSG_INVOKE_ACK, seq, PM_INVOKE_ACK_SIZE);
}

static void reply_read(uint8_t seq, const uint8_t *req, uint16_t len)
{
    if (len != PM_READ_SIZE) {
        reply_error(seq, PM_ERR_BAD_LENGTH, len);
        return;
    }
    if (!have_result) {
        reply_error(seq, PM_ERR_NOT_READY, 0);
        return;
    }
    const uint8_t *src;
    uint32_t size;
    if (req[PM_READ_REGION] == PM_REGION_OUTPUT) {
        src = (const uint8_t *)pm_output;
        size = PM_MODEL_OUTPUT_BYTES;
    } else if (req[PM_READ_REGION] == PM_REGION_LAYERS) {
        src = pm_measure_layer_table();
        size = PM_LAYER_TABLE_BYTES;
    } else {
        reply_error(seq, PM_ERR_BAD_RANGE, req[PM_READ_REGION]);
        return;
    }
    uint32_t offset = pm_get_u32(req + PM_READ_OFFSET);
    uint32_t n = pm_get_u16(req + PM_READ_LENGTH);
    if (n > PM_PROTO_MAX_PAYLOAD - PM_READ_ACK_SIZE || offset > size || n > size - offset) {
        reply_error(seq, PM_ERR_BAD_RANGE, offset);
        return;
    }
    uint8_t *p = reply_payload();
    pm_put_u32(p + PM_READ_ACK_OFFSET, offset);
    memcpy(p + PM_READ_ACK_SIZE, src + offset, n);
    finish(PM_MSG_READ_ACK, seq, (uint16_t)(PM_READ_ACK_SIZE + n));
}

/* Block until a whole valid frame arrives; its bytes stay in rx.buf until the next call. */
static uint8_t *receive(void)
{
    uint32_t idle = 0;
    for (;;) {
        int c = pm_port_getc();
        if (c < 0) {
            if (rx.pos != 0 && ++idle > PM_RX_IDLE_POLLS) {
                idle = 0;
                if (pm_frame_rx_abandon(&rx)) {
                    return rx.buf;
                }
            }
            continue;
        }
        idle = 0;
        if (pm_frame_rx_feed(&rx, (uint8_t)c)) {
            return rx.buf;
        }
    }
}

void pm_serve(int init_status)
{
    init_status_saved = init_status;
    pm_frame_rx_reset(&rx);

    uint8_t *p = reply_payload();
    pm_put_u16(p + PM_BOOT_PROTO_VERSION, PM_PROTO_VERSION);
    pm_put_u16(p + PM_BOOT_MAX_PAYLOAD, PM_PROTO_MAX_PAYLOAD);
    finish(PM_MSG_BOOT, 0, PM_BOOT_SIZE);
    send_tx();

    for (;;) {
        uint8_t *frame = receive();
        uint8_t type = pm_frame_type(frame), seq = pm_frame_seq(frame);
        uint16_t len = pm_frame_len(frame);
        const uint8_t *req = pm_frame_payload(frame);

        if (have_cached && type == last_type && seq == last_seq) {
            send_tx(); /* a retry: our reply was lost or garbled on the way */
            continue;
        }
        int after = 0; /* 1: reset after replying, 2: exit after replying */
        if (type == PM_MSG_HELLO && len == PM_HELLO_SIZE) {
            reply_hello(seq, req);
        } else if (type == PM_MSG_RESET) {
            finish(PM_MSG_RESET_ACK, seq, 0);
            after = 1;
        } else if (type == PM_MSG_BYE) {
            finish(PM_MSG_BYE_ACK, seq, 0);
            after = PM_HAVE_SEMIHOSTING ? 2 : 0;
        } else if (session == 0) {
            reply_error(seq, PM_ERR_NO_SESSION, type);
        } else if (type == PM_MSG_WRITE) {
            reply_write(seq, req, len);
        } else if (type == PM_MSG_INVOKE) {
            reply_invoke(seq, req, len);
        } else if (type == PM_MSG_READ) {
            reply_read(seq, req, len);
        } else {
            reply_error(seq, PM_ERR_BAD_TYPE, type);
        }
        have_cached = 1;
        last_type = type;
        last_seq = seq;
        send_tx();
        if (after == 1) {
            pm_port_reset();
        } else if (after == 2) {
            pm_port_exit(0);
        }
    }
}
