/* Port for the QEMU Arm MPS2/MPS3 machines (mps2-an386, mps2-an500, mps3-an547): CMSDK UART0,
 * SysTick counter, semihosting exit. The UART base comes from pm_board_config.h. */
#include "pm_board_config.h"
#include "pm_cmsdk_uart.h"
#include "pm_counter.h"
#include "pm_port.h"
#include "pm_semihost.h"

void pm_port_init(void)
{
    pm_cmsdk_uart_init();
    pm_counter_start();
}

void pm_port_exit(int status)
{
    pm_port_flush();
    pm_semihost_exit(status);
}

void pm_port_fault(uint32_t code)
{
    /* Exit codes 0x80+ tell the host launcher that the firmware faulted rather than finished. */
    pm_semihost_exit((int)(0x80u + (code & 0x7Fu)));
}
