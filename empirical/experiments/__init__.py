"""Experiments the theory predicts: claims, compare, escape, rescue, frontier, certify."""
