/**
 * @file pm_semihost.h
 * @brief Arm semihosting calls used by the QEMU boards (exit status, bulk data files).
 *
 * Only for boards whose pm_board_config.h sets PM_HAVE_SEMIHOSTING: on hardware without a debugger
 * attached, the BKPT these use faults.
 */
#ifndef PM_SEMIHOST_H
#define PM_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/** @brief Open a host file; @p mode is the semihosting mode (0 "r", 1 "rb", 4 "w", 5 "wb"). @return handle or -1. */
int pm_semihost_open(const char *path, int mode);

/** @brief Read up to @p len bytes. @return bytes read (0 at end of file), or -1 on error. */
int pm_semihost_read(int handle, void *buf, size_t len);

/** @brief Write all @p len bytes. @return 0 on success, -1 on error. */
int pm_semihost_write(int handle, const void *buf, size_t len);

/** @brief Close a host file. */
void pm_semihost_close(int handle);

/** @brief Copy the command line (QEMU's -semihosting-config arg=...) into @p buf. @return 0 on success. */
int pm_semihost_cmdline(char *buf, size_t size);

/** @brief Stop the emulator with @p status as its exit code. */
void pm_semihost_exit(int status) __attribute__((noreturn));

#endif /* PM_SEMIHOST_H */
