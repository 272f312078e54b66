"""Leaves every layer may import: the registry contract and the file lock; nothing of ours."""
