"""Test footage the project makes itself: handwritten (MNIST test) and printed digits on paper — on its own or
lying on a desk, free, in puzzle grids or in forms — filmed under named conditions, with ground-truth boxes, and
a scorer for what `edgedigits run` read from it."""
from edgedigits.footage.conditions import BLANK, CONDITIONS, HARD, WORLD, Condition, FootageOptions, TruthDigit
from edgedigits.footage.scene import render_frames, render_video
from edgedigits.footage.score import Score, cell_score, iou, load_truth, score_frame, truth_path

__all__ = ["BLANK", "CONDITIONS", "HARD", "WORLD", "Condition", "FootageOptions", "TruthDigit", "render_frames",
           "render_video", "Score", "cell_score", "iou", "load_truth", "score_frame", "truth_path"]
