"""pytest fixtures of Vigie's integration tests.

Every test here runs against a REAL Apache Kafka broker (tests/kafka/broker.py)
and drives the project's own binaries from the build directory named by
VIGIE_BUILD_DIR (tools/test.sh sets it; default: ./build). The browser tests
drive Debian's headless Chromium too (browser.py, the `chromium` fixture).
"""
import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))

import broker  # noqa: E402  (path set just above)
import browser  # noqa: E402  (beside this file)


def pytest_configure(config):
    config.addinivalue_line("markers", "cluster: needs the 3-node Kafka cluster")
    config.addinivalue_line("markers", "offline: pure Python, needs neither a broker nor "
                            "a binary")


@pytest.fixture(scope="session")
def build_dir():
    d = os.environ.get("VIGIE_BUILD_DIR", os.path.join(ROOT, "build"))
    if not os.path.isdir(d):
        pytest.fail(f"build directory {d} is missing: run tools/test.sh or set "
                    "VIGIE_BUILD_DIR")
    return d


@pytest.fixture(scope="session")
def bin_path(build_dir):
    """bin_path('vigie-rawconsume') -> path of a built binary."""
    def find(name):
        for sub in ("", "bench", "tools", "engine/daemon", "engine", "tests"):
            p = os.path.join(build_dir, sub, name)
            if os.access(p, os.X_OK):
                return p
        pytest.fail(f"{name} not found under {build_dir}")
    return find


@pytest.fixture(scope="session")
def kcat():
    p = shutil.which("kcat")
    if not p:
        pytest.fail("kcat is not installed: run tools/bootstrap.sh")
    return p


@pytest.fixture(scope="session")
def kafka():
    """One real KRaft broker for the whole session."""
    with broker.Cluster(nodes=1) as k:
        yield k


@pytest.fixture(scope="module")
def kafka3():
    """A real 3-node KRaft cluster, for the tests that ask for one."""
    with broker.Cluster(nodes=3) as k:
        yield k


@pytest.fixture(scope="module")
def chromium():
    """Debian's headless Chromium (browser.py), one per test module; skips the
    test with the reason when it is absent outside CI, fails it under CI."""
    browser.require()
    with browser.chromium() as b:
        yield b


_topic_seq = [0]


@pytest.fixture
def topic_name(request):
    """A fresh topic name per test (topics are never reused between tests)."""
    _topic_seq[0] += 1
    base = request.node.name.replace("[", "-").replace("]", "")[:60]
    return f"{base}-{_topic_seq[0]}"


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64, written here independently of the C implementation."""
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def multiset_digest(payloads) -> int:
    return sum(fnv1a64(p) for p in payloads) & 0xFFFFFFFFFFFFFFFF
