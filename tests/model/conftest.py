import pytest

from kronos_quant.testing import find_shared_dir


@pytest.fixture(scope="session")
def parity_dir():
    shared = find_shared_dir()
    if shared is None or not (shared / "fixtures/kronos_parity").is_dir():
        pytest.skip("../shared/fixtures/kronos_parity is absent")
    return shared / "fixtures/kronos_parity"


@pytest.fixture(scope="session")
def official_dir():
    shared = find_shared_dir()
    if shared is None or not (shared / "fixtures/official_checkpoints").is_dir():
        pytest.skip("../shared/fixtures/official_checkpoints is absent")
    return shared / "fixtures/official_checkpoints"
