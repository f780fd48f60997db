"""Container health check: exit 0 when the app on $PORT answers 200 at the path given.

    python docker/healthcheck.py [/readyz]

Standard library only (urllib), so the slim image needs no curl.
"""

import os
import sys
import urllib.request


def main(argv):
    path = argv[1] if len(argv) > 1 else "/readyz"
    url = f"http://127.0.0.1:{os.environ.get('PORT', '5000')}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            status = response.status
    except Exception as exc:  # refused, timed out, or an HTTP error status
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
