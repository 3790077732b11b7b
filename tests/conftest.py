import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Small random-weight models, saved to disk like downloaded ones."""
    from realcam.testing.tiny_models import build_all

    return build_all(str(tmp_path_factory.mktemp("tiny-models")))
