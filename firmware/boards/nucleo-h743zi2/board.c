/* Port for ST NUCLEO-H743ZI2 (STM32H743ZI, Cortex-M7), register-level, no vendor HAL.
 * Power: the board runs the core from the LDO, which must be confirmed in PWR_CR3 once after reset.
 * Clock: HSI 64 MHz -> PLL1 (M=4, N=50, P=2) = 400 MHz CPU at VOS1; AXI/AHB 200 MHz (2 flash wait
 * states, WRHIGHFREQ=2, RM0433 table 17); APB1 100 MHz feeds USART3, the ST-LINK virtual COM port on
 * PD8 (TX) / PD9 (RX), AF7. Caches are on: the harness does no DMA, so no maintenance is needed.
 * Every ready flag is waited on a bounded number of times. If one never comes, the port goes back to
 * the HSI with every prescaler at /1 and the PLL off and carries on at 64 MHz (APB1 64 MHz, which
 * the reset flash wait states and VOS3 allow): the UART divisor follows the clock actually used and
 * HELLO_ACK reports it. QEMU has no STM32H7 machine, so this port has only been built, never run. */
#include "pm_board_config.h"
#include "pm_bringup.h"
#include "pm_counter.h"
#include "pm_port.h"
#include "pm_protocol.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define RCC_BASE 0x58024400u
#define RCC_CR REG(RCC_BASE + 0x000u)
#define RCC_CFGR REG(RCC_BASE + 0x010u)
#define RCC_D1CFGR REG(RCC_BASE + 0x018u)
#define RCC_D2CFGR REG(RCC_BASE + 0x01Cu)
#define RCC_D3CFGR REG(RCC_BASE + 0x020u)
#define RCC_PLLCKSELR REG(RCC_BASE + 0x028u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x02Cu)
#define RCC_PLL1DIVR REG(RCC_BASE + 0x030u)
#define RCC_AHB4ENR REG(RCC_BASE + 0x0E0u)
#define RCC_APB1LENR REG(RCC_BASE + 0x0E8u)

#define PWR_BASE 0x58024800u
#define PWR_CSR1 REG(PWR_BASE + 0x004u)
#define PWR_CR3 REG(PWR_BASE + 0x00Cu)
#define PWR_D3CR REG(PWR_BASE + 0x018u)

#define FLASH_ACR REG(0x52002000u)

#define GPIOD_BASE 0x58020C00u
#define GPIOD_MODER REG(GPIOD_BASE + 0x00u)
#define GPIOD_OSPEEDR REG(GPIOD_BASE + 0x08u)
#define GPIOD_PUPDR REG(GPIOD_BASE + 0x0Cu)
#define GPIOD_AFRH REG(GPIOD_BASE + 0x24u)

#define USART3_BASE 0x40004800u
#define USART3_CR1 REG(USART3_BASE + 0x00u)
#define USART3_BRR REG(USART3_BASE + 0x0Cu)
#define USART3_ISR REG(USART3_BASE + 0x1Cu)
#define USART3_ICR REG(USART3_BASE + 0x20u)
#define USART3_RDR REG(USART3_BASE + 0x24u)
#define USART3_TDR REG(USART3_BASE + 0x28u)

#define ISR_ERRORS (1u << 1 | 1u << 2 | 1u << 3) /* FE, NE, ORE */
#define ISR_RXNE (1u << 5)
#define ISR_TC (1u << 6)
#define ISR_TXE (1u << 7)

#define CR_PLL1ON (1u << 24)
#define CR_PLL1RDY (1u << 25)
#define CFGR_SW 7u
#define CFGR_SWS (7u << 3)
#define FLASH_LATENCY 0xFu

#define SCB_CCR REG(0xE000ED14u)
#define SCB_CCSIDR REG(0xE000ED80u)
#define SCB_CSSELR REG(0xE000ED84u)
#define SCB_ICIALLU REG(0xE000EF50u)
#define SCB_DCISW REG(0xE000EF60u)

static inline void barrier(void) { __asm volatile("dsb\n\tisb" ::: "memory"); }

/* Supply, voltage scale, PLL1, flash, prescalers, switch (RM0433 8.4 and 6.8.4); returns the
 * PM_CLOCK_STEP_* whose ready flag never came, or PM_CLOCK_STEP_NONE once SYSCLK runs from PLL1. */
static uint8_t clock_init(void)
{
    PWR_CR3 = (PWR_CR3 & ~(1u << 2 | 1u << 0)) | 1u << 1; /* LDO on, no SMPS, no bypass */
    if (!pm_clock_wait(&PWR_CSR1, 1u << 13, 1u << 13)) {  /* ACTVOSRDY */
        return PM_CLOCK_STEP_SUPPLY;
    }
    PWR_D3CR = (PWR_D3CR & ~(3u << 14)) | 3u << 14; /* VOS1 */
    if (!pm_clock_wait(&PWR_D3CR, 1u << 13, 1u << 13)) { /* VOSRDY */
        return PM_CLOCK_STEP_VOLTAGE_SCALE;
    }

    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~(3u | 0x3Fu << 4)) | 0u | 4u << 4; /* HSI, DIVM1 = 4 -> 16 MHz */
    /* PLL1RGE = 8..16 MHz input, wide VCO, integer mode, P/Q/R outputs enabled. */
    RCC_PLLCFGR = (RCC_PLLCFGR & ~0xFu & ~(7u << 16)) | 3u << 2 | 1u << 16 | 1u << 17 | 1u << 18;
    RCC_PLL1DIVR = (50u - 1u) | (2u - 1u) << 9 | (4u - 1u) << 16 | (2u - 1u) << 24;
    RCC_CR |= CR_PLL1ON;
    if (!pm_clock_wait(&RCC_CR, CR_PLL1RDY, CR_PLL1RDY)) {
        return PM_CLOCK_STEP_PLL;
    }

    FLASH_ACR = (FLASH_ACR & ~0x3Fu) | 2u | 2u << 4; /* 2 wait states, WRHIGHFREQ = 2 */
    if (!pm_clock_wait(&FLASH_ACR, FLASH_LATENCY, 2u)) {
        return PM_CLOCK_STEP_FLASH_LATENCY;
    }
    RCC_D1CFGR = 0u << 8 | 4u << 4 | 8u; /* core /1, APB3 /2, AHB /2 */
    RCC_D2CFGR = 4u << 4 | 4u << 8;      /* APB1 /2, APB2 /2 */
    RCC_D3CFGR = 4u << 4;                /* APB4 /2 */
    RCC_CFGR = (RCC_CFGR & ~CFGR_SW) | 3u; /* SYSCLK = PLL1 P */
    if (!pm_clock_wait(&RCC_CFGR, CFGR_SWS, 3u << 3)) {
        return PM_CLOCK_STEP_SYSCLK_SWITCH;
    }
    return PM_CLOCK_STEP_NONE;
}

/* Back to the reset clock tree: SYSCLK = HSI (64 MHz), every domain prescaler /1, PLL1 off. The
 * flash keeps whatever wait states it has: at least the 2 set above or the reset value's 7, and
 * more wait states than needed are safe. */
static void fall_back(void)
{
    RCC_CFGR &= ~CFGR_SW;
    (void)pm_wait_bits(&RCC_CFGR, CFGR_SWS, 0u, PM_BRINGUP_POLLS);
    RCC_D1CFGR = 0;
    RCC_D2CFGR = 0;
    RCC_D3CFGR = 0;
    RCC_CR &= ~CR_PLL1ON;
}

static void caches_init(void)
{
    barrier();
    SCB_ICIALLU = 0;
    barrier();
    SCB_CCR |= 1u << 17; /* IC */
    barrier();

    SCB_CSSELR = 0; /* level 1 data cache */
    barrier();
    uint32_t ccsidr = SCB_CCSIDR;
    uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    for (uint32_t s = 0; s < sets; s++) {
        for (uint32_t w = 0; w < ways; w++) {
            SCB_DCISW = s << 5 | w << 30; /* 32-byte lines, 4 ways on the M7 */
        }
    }
    barrier();
    SCB_CCR |= 1u << 16; /* DC */
    barrier();
}

static void uart_init(uint32_t apb1_hz)
{
    RCC_AHB4ENR |= 1u << 3;   /* GPIODEN */
    RCC_APB1LENR |= 1u << 18; /* USART3EN */
    (void)RCC_APB1LENR;
    GPIOD_MODER = (GPIOD_MODER & ~(0xFu << 16)) | (0xAu << 16); /* PD8, PD9 alternate function */
    GPIOD_OSPEEDR |= 0xFu << 16;
    GPIOD_PUPDR = (GPIOD_PUPDR & ~(0xFu << 16)) | (0x4u << 16);  /* pull-up on RX */
    GPIOD_AFRH = (GPIOD_AFRH & ~0xFFu) | 0x77u;                  /* AF7 = USART3 */
    USART3_CR1 = 0;
    USART3_BRR = (apb1_hz + PM_UART_BAUD / 2u) / PM_UART_BAUD;     /* kernel clock = pclk1 */
    USART3_CR1 = 1u << 3 | 1u << 2 | 1u << 0;                     /* TE, RE, UE */
}

void pm_port_init(void)
{
    uint8_t failed = clock_init();
    if (failed != PM_CLOCK_STEP_NONE) {
        fall_back();
    }
    pm_clock_set(failed);
    caches_init();
    /* APB1 runs at a quarter of the PLL clock, or at the HSI's own after a fallback. */
    uart_init(failed != PM_CLOCK_STEP_NONE ? PM_BOARD_FALLBACK_CLOCK_HZ : PM_BOARD_CLOCK_HZ / 4u);
    pm_counter_start();
}

int pm_port_getc(void)
{
    uint32_t isr = USART3_ISR;
    if (isr & ISR_ERRORS) {
        USART3_ICR = ISR_ERRORS; /* a lost or bad byte: the frame CRC and a host retry recover */
    }
    if (isr & ISR_RXNE) {
        return (int)(USART3_RDR & 0xFFu);
    }
    return -1;
}

/* A transmitter that never frees drops the byte rather than hang; the host's retry covers it. */
void pm_port_putc(uint8_t byte)
{
    if (pm_wait_bits(&USART3_ISR, ISR_TXE, ISR_TXE, PM_UART_POLLS)) {
        USART3_TDR = byte;
    }
}

void pm_port_flush(void) { (void)pm_wait_bits(&USART3_ISR, ISR_TC, ISR_TC, PM_UART_POLLS); }

void pm_port_exit(int status)
{
    (void)status;
    pm_port_reset();
}

void pm_port_fault(uint32_t code)
{
    (void)code;
    pm_port_reset();
}
