import cv2
import numpy as np

from edgedigits.device.normalize import normalize_crop


def _centre_of_mass(image):
    ys, xs = np.mgrid[:28, :28]
    total = image.astype(float).sum()
    return (ys * image).sum() / total, (xs * image).sum() / total


def test_large_tall_stroke_is_fit_into_20_px_and_centred_by_mass():
    ink = np.zeros((300, 200), np.uint8)
    cv2.line(ink, (100, 20), (100, 260), 255, 12)  # a tall "1" in a big, off-centre crop
    digit = normalize_crop(ink)
    rows, cols = np.nonzero(digit > 30)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8 and digit.max() == 255
    assert 19 <= rows.max() - rows.min() + 1 <= 21  # the long side fills 20 px
    assert cols.max() - cols.min() + 1 <= 4  # the aspect ratio is kept
    cy, cx = _centre_of_mass(digit)
    assert abs(cy - 14) <= 0.51 and abs(cx - 14) <= 0.51  # whole-pixel shifts


def test_thin_strokes_of_every_width_are_centred():
    """A stroke fit 2 px wide once came out blank: cv2.moments took the image for a list of points."""
    for width in range(1, 8):
        ink = np.zeros((30, 9), np.uint8)
        ink[2:28, 2:2 + width] = 255  # 26 px high: 1-7 px wide fits 1-5 px wide
        digit = normalize_crop(ink)
        assert digit.max() == 255
        cy, cx = _centre_of_mass(digit)
        assert abs(cy - 14) <= 0.51 and abs(cx - 14) <= 0.51


def test_small_crop_is_enlarged_and_anti_aliased():
    ink = np.zeros((16, 12), np.uint8)
    cv2.circle(ink, (6, 8), 5, 255, 2)
    digit = normalize_crop(ink)
    assert 19 <= np.ptp(np.nonzero(digit > 30)[0]) + 1 <= 21
    assert len(np.unique(digit)) > 10  # grey edges, not a binary image


def test_mnist_digits_are_a_fixed_point(mnist):
    """MNIST digits were made by this recipe, so they come back unchanged (but for full contrast)."""
    for image in mnist.test.images[:500]:
        expected = (image.astype(np.float32) * (255.0 / image.max())).astype(np.uint8)
        np.testing.assert_array_equal(normalize_crop(image), expected)


def test_blank_crop_gives_a_blank_digit():
    assert not normalize_crop(np.zeros((40, 30), np.uint8)).any()
