"""Data sets: loaders for the standard on-disk layouts (``loaders``), one registry entry per data
set with its teacher grid, training defaults and quick settings (``registry``), and the PCA-GMM
teacher search (``teacher``)."""
from empirical.data.loaders import DATASETS, Dataset, load_array, load_dataset, read_idx

__all__ = ["DATASETS", "Dataset", "load_array", "load_dataset", "read_idx"]
