"""Image data for the search: readers, splits, batching, augmentation and normalisation.

Everything here needs only numpy and Pillow (no paddle). Images are decoded once into
``(N, H, W, C)`` uint8 arrays; :func:`iterate_batches` turns them into standardised
``(B, C, H, W)`` float32 batches.
"""

from autodl_design.data.augment import (
    alternating_flips,
    cutout,
    pad_crop_flip,
    random_crop_flip,
    random_cutout,
)
from autodl_design.data.batches import iterate_batches, num_batches
from autodl_design.data.bundled import BUNDLED_DIR, SEARCH_TAR, TEST_TAR
from autodl_design.data.cifar_python import read_cifar_python
from autodl_design.data.dataset import Dataset, load_dataset, load_test_set
from autodl_design.data.errors import DataError
from autodl_design.data.image_folder import read_image_folder
from autodl_design.data.info import dataset_info, format_dataset_info
from autodl_design.data.normalize import preprocess, standardize, to_float_nchw
from autodl_design.data.raw import RawData
from autodl_design.data.sources import FORMATS, detect_format, read_source

__all__ = [
    "BUNDLED_DIR",
    "FORMATS",
    "SEARCH_TAR",
    "TEST_TAR",
    "alternating_flips",
    "DataError",
    "Dataset",
    "RawData",
    "cutout",
    "dataset_info",
    "detect_format",
    "format_dataset_info",
    "iterate_batches",
    "load_dataset",
    "load_test_set",
    "num_batches",
    "pad_crop_flip",
    "preprocess",
    "random_crop_flip",
    "random_cutout",
    "read_cifar_python",
    "read_image_folder",
    "read_source",
    "standardize",
    "to_float_nchw",
]
