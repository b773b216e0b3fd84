"""A seeded, structure-aware fuzzer for the files pixmcu reads: .tflite, .pmz and data .npz.

`python -m pixmcu.fuzz --help` (or `scripts/fuzz_campaign.sh`) runs a campaign; docs/fuzzing.md.
"""
