"""`pixmcu bench` actions: whole-model (`model`, pixmcu.bench.model) and first-layer benchmarks."""
