"""The offline default: a fictional world, a tiny policy, its warm start, and the run."""
