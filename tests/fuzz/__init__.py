"""Property-based and schema-driven fuzzing of the real API and pipeline."""
