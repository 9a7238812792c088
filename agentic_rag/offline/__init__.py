"""The offline default's world: a fictional KB, its index and a tiny policy (`train`'s first stage
for a recipe with an `offline:` section), and the demonstrations its warm start trains on."""
