/* CMSDK APB UART (QEMU mps2/mps3): one byte each way, polled. The emulated UART never overruns:
 * QEMU stops reading the socket while RXFULL is set, so polling loses nothing. */
#include "pm_board_config.h"
#include "pm_bringup.h"
#include "pm_cmsdk_uart.h"
#include "pm_port.h"

#define UART_DATA (*(volatile uint32_t *)(PM_UART_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(PM_UART_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(PM_UART_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(PM_UART_BASE + 0x10u))

#define STATE_TXFULL 0x1u
#define STATE_RXFULL 0x2u
#define STATE_OVERRUNS 0xCu

void pm_cmsdk_uart_init(void)
{
    UART_BAUDDIV = 16u; /* the smallest legal divider; QEMU ignores the rate */
    UART_STATE = STATE_OVERRUNS;
    UART_CTRL = 0x3u; /* TXEN | RXEN, no interrupts */
}

int pm_port_getc(void)
{
    if (UART_STATE & STATE_RXFULL) {
        return (int)(UART_DATA & 0xFFu);
    }
    return -1;
}

void pm_port_putc(uint8_t byte)
{
    if (pm_wait_bits(&UART_STATE, STATE_TXFULL, 0u, PM_UART_POLLS)) {
        UART_DATA = byte;
    }
}

void pm_port_flush(void) { (void)pm_wait_bits(&UART_STATE, STATE_TXFULL, 0u, PM_UART_POLLS); }
