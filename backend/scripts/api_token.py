"""Wait for a backend to answer its health check, then print a bearer token for a user.

    python scripts/api_token.py BASE_URL PID  (FIRST_SUPERUSER / FIRST_SUPERUSER_PASSWORD)

Used by scripts/test-api-fuzz.sh. Exits non-zero when the backend process dies or does
not answer within BACKEND_START_TIMEOUT seconds (180), or the login fails.
"""

import json
import os
import sys
import time
import urllib.parse
import urllib.request


def main() -> None:
    base, pid = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + float(os.environ.get("BACKEND_START_TIMEOUT", "180"))
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit("backend exited")
        try:
            with urllib.request.urlopen(f"{base}/api/v1/utils/health-check/", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                sys.exit("backend not ready in time (BACKEND_START_TIMEOUT)")
            time.sleep(0.2)  # polling a server that is still starting
    form = urllib.parse.urlencode(
        {
            "username": os.environ["FIRST_SUPERUSER"],
            "password": os.environ["FIRST_SUPERUSER_PASSWORD"],
        }
    ).encode()
    with urllib.request.urlopen(f"{base}/api/v1/login/access-token", data=form, timeout=10) as r:
        sys.stdout.write(json.load(r)["access_token"] + "\n")


if __name__ == "__main__":
    main()
