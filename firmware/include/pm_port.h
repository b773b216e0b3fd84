/**
 * @file pm_port.h
 * @brief The small set of board hooks the on-device harness needs: init, byte UART, counter, exit.
 *
 * Each board in firmware/boards/ implements these; nothing else in the harness is board-specific.
 * The generated pm_board_config.h (rendered by `pixmcu build`) names the board and its options.
 */
#ifndef PM_PORT_H
#define PM_PORT_H

#include <stdint.h>

/**
 * @brief Bring up clocks, the UART and the cycle/instruction counter. Called once from main.
 *
 * Every wait on a hardware ready flag is bounded; a clock that does not come up leaves the board on
 * its internal oscillator (pm_port_clock_hz, pm_port_status), with the UART set for that clock.
 */
void pm_port_init(void);

/**
 * @brief Poll the UART receiver without blocking.
 * @return the received byte (0..255), or -1 when none is waiting.
 */
int pm_port_getc(void);

/** @brief Send one byte, waiting while the transmitter is busy. */
void pm_port_putc(uint8_t byte);

/** @brief Wait until every byte handed to pm_port_putc has left the transmitter. */
void pm_port_flush(void);

/**
 * @brief Read the free-running cost counter, extended to 64 bits.
 *
 * DWT CYCCNT on boards (SysTick when CYCCNT does not advance, 0 when nothing does); SysTick ticks
 * under QEMU (with -icount these are deterministic and the host converts them to instructions).
 * Monotonic between resets.
 */
uint64_t pm_port_counter_read(void);

/**
 * @brief Restart the counter from zero. Called before every inference so that counts never depend
 * on how long the device waited for the host (under QEMU the counter's phase and its wrap points
 * then fall on the same instructions in every run).
 */
void pm_port_counter_restart(void);

/** @brief Which counter pm_port_counter_read reads (a PM_COUNTER_* code of pm_protocol.h). */
uint8_t pm_port_counter_kind(void);

/**
 * @brief The core clock the board runs at, in Hz: its nominal clock, or the internal oscillator's
 * when clock bring-up fell back to it.
 */
uint32_t pm_port_clock_hz(void);

/**
 * @brief HELLO_ACK's flags: PM_FLAG_CLOCK_FALLBACK, and the PM_CLOCK_STEP_* that timed out in the
 * bits from PM_CLOCK_STEP_SHIFT up; 0 when the board came up as configured.
 */
uint8_t pm_port_status(void);

/** @brief Reset the whole device (it comes back with a BOOT frame). Never returns. */
void pm_port_reset(void) __attribute__((noreturn));

/**
 * @brief End the program with a status: QEMU exits through semihosting; a board resets.
 * Never returns.
 */
void pm_port_exit(int status) __attribute__((noreturn));

/** @brief Called by the fault handlers; reports the fault where the board can, then stops. */
void pm_port_fault(uint32_t code) __attribute__((noreturn));

#endif /* PM_PORT_H */
