"""Long-running, coverage-guided fuzzing (atheris), outside CI: `make fuzz-atheris`."""
