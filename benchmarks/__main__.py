"""`python -m benchmarks NAME`: run a declared experiment (benchmarks.experiments)."""

from benchmarks.experiments import main

main()
