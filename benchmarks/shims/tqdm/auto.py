from tqdm import tqdm  # noqa: F401  (the stand-in's tqdm)
