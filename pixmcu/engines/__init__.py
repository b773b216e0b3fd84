"""Execution engines for generated code (host gcc today; boards go through pixmcu run)."""
