"""Preprocessor plugins beyond optical flow: face crop, apex choice, apex frames, motion magnification."""
