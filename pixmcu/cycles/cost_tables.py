"""Per-instruction-class cost tables for estimated cycles on Cortex-M4, Cortex-M7 and Cortex-M55.

An estimate, never a measurement: QEMU counts every instruction as one, which flatters FPU code and
multi-register transfers. These tables weight the plugin's per-class counts with the costs the
Technical Reference Manuals give (see docs/cycles.md for the assumptions and their limits):

  estimated_cycles = sum(class_count * class_cost) + sum(event_count * event_cost)

Classes are decided at translation time from the instruction; events are `taken_branch` (counted at
run time), `xfer_regs` (registers moved by LDM/STM/PUSH/POP/VLDM/VSTM/VPUSH/VPOP, a D register
counting two), `ls_after_ls` (a single load or store right after another, not dependent on it) and
`load_use` (an instruction reading the register the previous load wrote), `beat_overlap` (a
two-beat Helium instruction followed by one that does not need the same pipe: the two overlap by a
beat) and `taken_le` (a taken LE/LETP loop branch, apart from `taken_branch`).

`unknown` counts instructions that neither the encoding nor the disassembly classified. It is never
folded into a cheap class: it costs 2 (a two-beat instruction) and is reported beside the estimate.
"""

from __future__ import annotations

CLASSES = ("alu", "simd", "it", "mul", "div", "load", "store", "ldrd", "strd", "ldm", "stm", "branch",
           "fp_alu", "fp_mac", "fp_div", "vldr", "vstr", "vldm", "vstm",
           "mve_load", "mve_store", "mve_int", "mve_mul", "mve_ctl", "lob", "le", "unknown")
EVENTS = ("taken_branch", "xfer_regs", "ls_after_ls", "load_use", "beat_overlap", "taken_le")

# Armv8.1-M classes, which the M4 and M7 never execute; kept in their tables so every table prices
# every class the plugin reports. An unknown instruction costs 2 on every core.
_NOT_ON_V7M = {"mve_load": 2, "mve_store": 2, "mve_int": 2, "mve_mul": 2, "mve_ctl": 1, "lob": 1, "le": 1,
               "unknown": 2}

# Cortex-M4 (TRM r0p1 §3.3, FPv4-SP TRM §7.2): zero flash wait states, in-order single issue.
CORTEX_M4 = {
    "classes": {
        "alu": 1, "simd": 1, "it": 1,   # IT may fold into a preceding 16-bit instruction; counted 1
        "mul": 1,                        # MUL, MLA, SMULL, SMLAL, SMLAD, ...: single-cycle on M4
        "div": 7,                        # SDIV/UDIV 2..12 with early termination; the midpoint
        "load": 2, "store": 2,           # LDR/STR 2 cycles; a neighbour pipelines (ls_after_ls -1)
        "ldrd": 3, "strd": 3,            # 1 + N, N = 2 words
        "ldm": 1, "stm": 1,              # 1 + N: the N comes from xfer_regs
        "branch": 1,                     # 1 not taken; taken adds P (taken_branch)
        "fp_alu": 1,                     # VADD/VSUB/VMUL/VMOV/VCVT/VCMP/VABS/VNEG
        "fp_mac": 3,                     # VMLA/VMLS/VFMA/VFMS/VNMLA: 3 cycles, not pipelined back to back
        "fp_div": 14,                    # VDIV/VSQRT
        "vldr": 2, "vstr": 2,
        "vldm": 1, "vstm": 1,            # 1 + N single-precision registers
        **_NOT_ON_V7M,
    },
    "events": {
        "taken_branch": 2,               # pipeline refill P: 1..3 cycles, taken as 2
        "xfer_regs": 1,
        "ls_after_ls": -1,               # neighbouring single loads/stores pipeline: N of them cost N + 1
        "load_use": 0,                   # the 2-cycle LDR already returns data to the next instruction
        "beat_overlap": 0, "taken_le": 2,
    },
}

# Cortex-M7 (no public per-instruction table: TRM r1p2 and Arm's M7 optimisation notes). Dual issue
# of simple integer pairs is modelled as half a cycle each, one load/store and one MAC pipe,
# 64-bit AXI/TCM loads (LDM/VLDM move two words a cycle), predicted branches.
CORTEX_M7 = {
    "classes": {
        "alu": 0.5, "simd": 1, "it": 0.5,
        "mul": 1, "div": 7,
        "load": 1, "store": 1,
        "ldrd": 1, "strd": 1,
        "ldm": 1, "stm": 1,
        "branch": 1,
        "fp_alu": 1,
        "fp_mac": 1,                     # FPv5 VFMA.F32 pipelined: one per cycle when independent
        "fp_div": 14,
        "vldr": 1, "vstr": 1,
        "vldm": 1, "vstm": 1,
        **_NOT_ON_V7M,
    },
    "events": {
        "taken_branch": 1,               # BTAC-predicted loops refill little; mispredicts ignored
        "xfer_regs": 0.5,
        "ls_after_ls": 0,
        "load_use": 1,                   # load-to-use latency 2: the consumer waits one cycle
        "beat_overlap": 0, "taken_le": 1,
    },
}

# Cortex-M55 (Armv8.1-M, Helium). Scalar side as the M4 (LLVM's Cortex-M55 model: "a lot like the
# M4/M33 in terms of scheduling"; its limited dual issue of 16-bit pairs is not modelled). Helium is
# dual-beat: a 128-bit instruction runs as two 64-bit beats in one of the EPU pipes (load/store,
# integer, FP/multiply; LLVM ARMScheduleM55.td: ReleaseAtCycles = 2), so it costs 2, and the next
# instruction, if it needs another pipe, starts beside the second beat (beat_overlap -1): VLDR;
# VMLADAV alternating runs at one instruction a cycle, two VLDRs back to back at two cycles each.
# Low-overhead loops: the loop-branch cache returns to the loop start without executing LE/LETP
# after the first iteration, so LE and its taken branch cost nothing (Cortex-M55 TRM, LOB cache).
CORTEX_M55 = {
    "classes": {
        **{k: v for k, v in CORTEX_M4["classes"].items() if k not in _NOT_ON_V7M},
        "fp_mac": 1,                     # FPv5 VFMA pipelined in the FP/MUL pipe
        "fp_div": 16,                    # VDIV.F32 / VSQRT.F32: latency E3 + 14
        "mve_load": 2, "mve_store": 2,   # VLDR/VSTR (contiguous, widening, narrowing, gather, VLD2/4)
        "mve_int": 2,                    # VADD, VSHL, VMAX, VMOVN, VQMOVN, VDUP, VMOV imm, ...
        "mve_mul": 2,                    # VMUL, VMLA, VMLADAV, VQRDMULH, VMULL, VADDV, VCMP/VPT
        "mve_ctl": 1,                    # VCTP, VPST, VPNOT: one issue slot, control pipe
        "lob": 1,                        # DLS, DLSTP, WLS, WLSTP (a taken WLS adds taken_branch)
        "le": 0,                         # LE/LETP: from the loop-branch cache after the first pass
        "unknown": 2,
    },
    "events": {
        "taken_branch": 2,
        "xfer_regs": 1,
        "ls_after_ls": -1,
        "load_use": 0,
        "beat_overlap": -1,              # the second beat runs beside the next instruction's first
        "taken_le": 0,
    },
}

COST_TABLES = {"cortex-m4": CORTEX_M4, "cortex-m7": CORTEX_M7, "cortex-m55": CORTEX_M55}


def cost_table(core: str) -> dict:
    """The cost table of `core` ('cortex-m4', 'cortex-m7', 'cortex-m55'); others fall back to the M4's."""
    return COST_TABLES.get(core, CORTEX_M4)


def unknown_warning(n: int) -> str:
    """The line printed under a report whose regions held `n` > 0 unclassified instructions."""
    return (f"warning: {n:,} instructions the counting plugin could not classify are priced at "
            f"{CORTEX_M4['classes']['unknown']} cycles each (class 'unknown', docs/cycles.md)")


def apply(classes: dict[str, int], events: dict[str, int], core: str) -> float:
    """Estimated cycles of the given class and event counts on `core`."""
    table = cost_table(core)
    total = sum(n * table["classes"][c] for c, n in classes.items())
    total += sum(n * table["events"][e] for e, n in events.items())
    return float(total)
