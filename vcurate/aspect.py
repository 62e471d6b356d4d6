"""Aspect ratios by name, and the nearest of a set: shared by the shard writer's buckets (no torch)
and the trainer's."""

from __future__ import annotations

import math

# width:height of the usual shapes, wide to tall
STANDARD = ("21:9", "16:9", "3:2", "4:3", "1:1", "3:4", "2:3", "9:16", "9:21")


def ratio(name: str) -> float:
    width, height = name.split(":")
    return int(width) / int(height)


def nearest(value: float, ratios: list[float]) -> int:
    """Index of the ratio nearest `value`, measured as a ratio (2:1 is as far from 1:1 as 1:2): the
    shape that crops least."""
    return min(range(len(ratios)), key=lambda i: abs(math.log(value / ratios[i])))
