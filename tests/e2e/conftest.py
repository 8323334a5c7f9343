"""End-to-end fixtures: HTTP against the local run (started here, one per configuration)
or, when API_URL is set, against a deployed stack."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.e2e.local_runs import LocalRuns
from tests.e2e.service import BACKENDS, DEPLOYED_URL, Service


@pytest.fixture(scope="session")
def local_services(request: pytest.FixtureRequest) -> Iterator[LocalRuns]:
    """Local runs by configuration, started on first use and kept, within a bound, for later
    modules (tests.e2e.local_runs). Those on DynamoDB Local share the worker's, each under
    an access key (a database) of its own."""
    runs = LocalRuns(lambda: str(request.getfixturevalue("dynamodb_local_endpoint")))
    yield runs
    runs.stop_all()


@pytest.fixture(scope="module", autouse=True)
def _runs_of_other_modules_paused(local_services: LocalRuns) -> None:
    """Each module starts with every local run paused; asking for one continues it. The
    module's fixtures ask for theirs after this one (autouse first)."""
    local_services.new_module()


@pytest.fixture
def service(local_services: Callable[..., Service]) -> Service:
    """The default configuration: the deployed stack when API_URL is set."""
    if DEPLOYED_URL:
        return Service(base_url=DEPLOYED_URL)
    return local_services()


# The runs on DynamoDB Local form a group of their own: the scheduler may give it to the
# other worker than the rest of the end-to-end suite, which shares the moto runs.
@pytest.fixture(
    params=[
        pytest.param(backend, marks=pytest.mark.xdist_group(backend) if backend != "moto" else ())
        for backend in BACKENDS
    ]
)
def on_each_backend(
    request: pytest.FixtureRequest, local_services: Callable[..., Service]
) -> Callable[..., Service]:
    """A local run with these settings on each DynamoDB backend in turn: what the service
    guarantees under concurrency is proven against moto and against AWS's DynamoDB Local.
    Against a deployed stack (AWS's DynamoDB itself), the stack once."""

    def get(**settings: str) -> Service:
        if DEPLOYED_URL:
            # A deployed stack is one backend, with its own settings
            if settings or request.param != BACKENDS[0]:
                pytest.skip("needs a local run on this backend, with these settings")
            return Service(base_url=DEPLOYED_URL)
        return local_services(**{**settings, "LOCAL_DYNAMODB": request.param})

    return get


@pytest.fixture
def configured(local_services: Callable[..., Service]) -> Callable[..., Service]:
    """A local run with non-default settings; skipped against a deployed stack."""

    def get(**settings: str) -> Service:
        if DEPLOYED_URL:
            pytest.skip("needs a local run with its own settings")
        return local_services(**settings)

    return get
