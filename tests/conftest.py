"""Shared test set-up.

Qt must be told to render offscreen before it loads, and every test gets its own user
cache and data folders so that nothing leaks between tests or into the user's home.
"""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_user_folders(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MRF_STUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("MRF_STUDIO_DATA", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one intra-op thread for a module of tests on tiny tensors (use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``): there torch's thread
    pool only adds overhead, and on a busy 2-core machine its waits made such tests up
    to 100× slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
