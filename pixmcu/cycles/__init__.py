"""Estimated cycles for QEMU runs: per-class instruction counts from a TCG plugin, weighted by a
documented Cortex-M4/M7/M55 cost table (docs/cycles.md). Always labelled `estimated_cycles`, never cycles.

    from pixmcu.cycles import count_regions, estimate
    regions = count_regions(elf, board="qemu-m4")           # one RegionCounts per START/STOP pair
    estimate(regions[0], core="cortex-m4")                  # float, estimated cycles
"""

from pixmcu.cycles.cost_tables import CLASSES, COST_TABLES, EVENTS, cost_table
from pixmcu.cycles.runner import RegionCounts, count_regions, estimate, parse_plugin_output

__all__ = ["CLASSES", "COST_TABLES", "EVENTS", "RegionCounts", "cost_table", "count_regions", "estimate",
           "parse_plugin_output"]
