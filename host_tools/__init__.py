"""Host side of a pixmcu board: serial protocol, QEMU launcher, measurement runs, reports, flashing."""
