"""The first layer on the microcontroller: pixel-embedding kernels against float and int8.

reference.py  numpy ground truth (built from pixmcu.quant)      tables.py   folded/joint tables, proofs
problem.py    reproducible problems for tests and the benchmark  variants.py what each C kernel needs
bench.py      build + run on QEMU with the counting plugin       report.py   grid, table, ratios, plot
choose.py     cost model and flash/RAM/wait-state choice         tune.py     `pixmcu tune` on real models
hostrun.py    the same bench main on the host under ASan/UBSan   bench_action.py  `pixmcu bench first-layer`
See docs/first_layer.md.
"""
