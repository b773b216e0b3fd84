"""pixmcu: fully integer CNNs (with pixel embedding) on Arm Cortex-M microcontrollers."""

__version__ = "0.1.0"
