"""The health view of the sandbox: the app's pool reports its verified walls."""

from fastapi.testclient import TestClient

from app.core.config import settings


def test_sandbox_status_lists_verified_walls(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    response = client.get(
        f"{settings.API_V1_STR}/utils/sandbox-status/", headers=normal_user_token_headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["running"] is True and body["verified"] is True
    assert body["user_code_allowed"] is True
    assert body["walls"]["landlock_filesystem"]["active"] is True
    assert body["walls"]["network_namespace"]["active"] is True
    # Only walls that hold on their own are walls; the code policy is listed apart.
    assert {"static_check", "import_allowlist", "import_policy"}.isdisjoint(body["walls"])
    assert "not a wall" in body["policy"]["import_policy"]["detail"]
    # The limits shown are the ones jobs run under (the settings), not the self-test's.
    assert body["limits"] == {
        "cpu_seconds": settings.SANDBOX_CPU_SECONDS,
        "wall_seconds": settings.SANDBOX_WALL_SECONDS,
        "memory_mb": settings.SANDBOX_MEMORY_MB,
        "max_processes": settings.SANDBOX_MAX_PROCESSES,
        "max_output_bytes": settings.SANDBOX_MAX_OUTPUT_BYTES,
    }
    detail = body["walls"]["resource_limits"]["detail"]
    assert f"cpu {settings.SANDBOX_CPU_SECONDS:g} s" in detail
    assert f"memory {settings.SANDBOX_MEMORY_MB} MiB" in detail
    assert client.get(f"{settings.API_V1_STR}/utils/sandbox-status/").status_code == 401


def test_user_code_is_refused_unless_a_file_system_and_a_network_wall_hold() -> None:
    from app.lab.sandbox.status import FILESYSTEM_WALLS, NETWORK_WALLS, user_code_allowed

    fs, net = FILESYSTEM_WALLS[0], NETWORK_WALLS[0]
    assert user_code_allowed({fs: {"active": True}, net: {"active": True}})
    assert not user_code_allowed({fs: {"active": True}, net: {"active": False}})
    assert not user_code_allowed({fs: {"active": False}, net: {"active": True}})
    assert not user_code_allowed({})
