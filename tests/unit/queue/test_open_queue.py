"""``open_queue`` picks a backend from the queue URL and refuses unknown ones."""

from __future__ import annotations

import pytest

from pyfaas.errors import ConfigError
from pyfaas.queue import open_queue
from pyfaas.queue.backends.memory import MemoryQueue


def test_memory_url_gives_a_fresh_twin() -> None:
    first, second = open_queue("memory://"), open_queue("memory://")
    assert isinstance(first, MemoryQueue)
    assert first is not second


@pytest.mark.parametrize("url", ["redis://localhost:6379", "queue.db", "sqlite://"])
def test_unusable_url_raises_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="PYFAAS_QUEUE"):
        open_queue(url)
