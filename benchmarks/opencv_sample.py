"""OpenCV's own sample samples/python/digits_video.py, frame loop without its windows, over a video file.

Run by benchmarks/versus_opencv.py under the system Python (Debian's python3-opencv has cv2.ml, which the
pip wheels lack) with the samples of Debian's opencv-doc on the path. Trains the sample's SVM on its own
digits.png exactly as samples/python/digits.py does, decodes the whole video, then prints one JSON line per
frame: boxes, labels, ms.
With --svm FILE, a whole run as the sample makes it: the SVM loaded from FILE, as digits_video.py loads the one
digits.py saved (trained and saved there first if FILE does not exist yet), and frames read as they come.
Usage: /usr/bin/python3 benchmarks/opencv_sample.py [--svm FILE] SAMPLES_DIR VIDEO | IMAGE...  (one line per image)
"""
import json
import os
import sys
import time

import cv2 as cv
import numpy as np


def train_svm():
    from digits import DIGITS_FN, SVM, deskew, load_digits, preprocess_hog
    digits, labels = load_digits(DIGITS_FN)
    shuffle = np.random.RandomState(321).permutation(len(digits))
    digits, labels = digits[shuffle], labels[shuffle]
    samples = preprocess_hog(list(map(deskew, digits)))
    train_n = int(0.9 * len(samples))
    model = SVM(C=2.67, gamma=5.383)
    model.train(samples[:train_n], labels[:train_n])
    return model.model


def load_or_train(path):
    if path and os.path.exists(path):
        return cv.ml.SVM_load(path)
    model = train_svm()
    if path:
        model.save(path)
    return model


def video_frames(path):
    capture = cv.VideoCapture(path)
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


def read_frame(frame, model):
    """The body of digits_video.py's loop (drawing left out): threshold, contours, deskew, HOG, SVM."""
    from digits import SZ, deskew, preprocess_hog
    found = []
    gray = cv.cvtColor(frame, cv.COLOR_BGR2GRAY)
    bin = cv.adaptiveThreshold(gray, 255, cv.ADAPTIVE_THRESH_MEAN_C, cv.THRESH_BINARY_INV, 31, 10)
    bin = cv.medianBlur(bin, 3)
    contours, heirs = cv.findContours(bin.copy(), cv.RETR_CCOMP, cv.CHAIN_APPROX_SIMPLE)
    heirs = heirs[0] if heirs is not None else []
    for cnt, heir in zip(contours, heirs):
        if heir[3] >= 0:
            continue
        x, y, w, h = cv.boundingRect(cnt)
        if not (16 <= h <= 64 and w <= 1.2 * h):
            continue
        pad = max(h - w, 0)
        x, w = x - (pad // 2), w + pad
        bin_roi = bin[y:, x:][:h, :w]
        m = bin_roi != 0
        if not 0.1 < m.mean() < 0.4:
            continue
        s = 1.5 * float(h) / SZ
        m = cv.moments(bin_roi)
        c1 = np.float32([m['m10'], m['m01']]) / m['m00']
        c0 = np.float32([SZ / 2, SZ / 2])
        A = np.zeros((2, 3), np.float32)
        A[:, :2] = np.eye(2) * s
        A[:, 2] = c1 - s * c0
        bin_norm = deskew(cv.warpAffine(bin_roi, A, (SZ, SZ), flags=cv.WARP_INVERSE_MAP | cv.INTER_LINEAR))
        digit = model.predict(preprocess_hog([bin_norm]))[1].ravel()
        found.append({"box": [int(x), int(y), int(w), int(h)], "label": str(int(digit[0]))})
    return found


def main():
    args = sys.argv[1:]
    svm, args = (args[1], args[2:]) if args[0] == "--svm" else (None, args)
    samples_dir, inputs = args[0], args[1:]
    sys.path.insert(0, samples_dir)
    cv.samples.addSamplesDataSearchPath(os.path.join(samples_dir, "..", "data"))  # where digits.png lies
    cv.setNumThreads(1)
    model = load_or_train(svm)
    frames = [image for image in map(cv.imread, inputs) if image is not None]
    if not frames:
        frames = video_frames(inputs[0])
        # Decoded first, so that the decoder's own threads never share the core with the timed work; a whole
        # run reads frame by frame, as the sample does.
        frames = frames if svm else list(frames)
    for frame in frames:
        start = time.perf_counter()
        digits = read_frame(frame, model)
        print(json.dumps({"digits": digits, "ms": (time.perf_counter() - start) * 1000}), flush=True)


if __name__ == "__main__":
    main()
