"""Processing jobs: job messages, the job budget, reading, optimizing, the external hand-off,
recording outcomes."""
