"""Studies over run folders: sweeps, the capacity study, the 2D suite, comparisons, curves."""
