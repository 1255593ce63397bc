"""Nonces: strictly increasing per key across threads and across processes."""

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from app.exchange.nonce import NonceGenerator, default_nonce_generator, key_fingerprint


def test_nonce_is_millisecond_time_when_the_clock_moves() -> None:
    times = iter([1000.0, 1000.5, 1002.0])
    nonces = NonceGenerator(state_dir=None, clock=lambda: next(times))
    assert [nonces.next("k") for _ in range(3)] == [1_000_000, 1_000_500, 1_002_000]


def test_nonce_increases_when_the_clock_stands_still_or_goes_back() -> None:
    times = iter([1000.0, 1000.0, 999.0, 1000.0])
    nonces = NonceGenerator(state_dir=None, clock=lambda: next(times))
    assert [nonces.next("k") for _ in range(4)] == [1_000_000, 1_000_001, 1_000_002, 1_000_003]


def test_keys_have_independent_sequences() -> None:
    nonces = NonceGenerator(state_dir=None, clock=lambda: 5.0)
    assert nonces.next("a") == 5000
    assert nonces.next("b") == 5000
    assert nonces.next("a") == 5001


def test_nonces_are_unique_and_ordered_across_threads(tmp_path: Path) -> None:
    nonces = NonceGenerator(state_dir=tmp_path, clock=lambda: 1.0)
    results: list[list[int]] = [[] for _ in range(8)]

    def work(out: list[int]) -> None:
        for _ in range(250):
            out.append(nonces.next("shared-key"))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [n for out in results for n in out]
    assert len(set(everything)) == 2000
    assert all(out == sorted(out) for out in results)
    assert max(everything) == 1000 + 2000 - 1


def test_nonces_are_unique_across_processes(tmp_path: Path) -> None:
    # Four processes with a frozen clock: only the shared state file keeps them apart.
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from app.exchange.nonce import NonceGenerator
        g = NonceGenerator(state_dir=Path({str(tmp_path)!r}), clock=lambda: 42.0)
        print(" ".join(str(g.next("shared-key")) for _ in range(300)))
        """
    )
    backend = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=backend, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    sequences = [[int(n) for n in out.split()] for out in outputs]
    everything = [n for seq in sequences for n in seq]
    assert len(everything) == 1200
    assert len(set(everything)) == 1200
    assert all(seq == sorted(seq) for seq in sequences)


def test_state_file_holds_no_key_material(tmp_path: Path) -> None:
    nonces = NonceGenerator(state_dir=tmp_path)
    issued = nonces.next("my-precious-api-key")
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [key_fingerprint("my-precious-api-key")]
    assert files[0].read_text() == str(issued)
    assert "precious" not in files[0].name
    assert nonces.cross_process


def test_unusable_state_dir_falls_back_to_in_process_guard(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    nonces = NonceGenerator(state_dir=blocker / "sub", clock=lambda: 1.0)
    assert [nonces.next("k"), nonces.next("k")] == [1000, 1001]
    assert not nonces.cross_process


def test_default_generator_is_shared() -> None:
    assert default_nonce_generator() is default_nonce_generator()
