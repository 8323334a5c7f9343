"""The admin API from a terminal, for support staff: every request is signed with the
caller's AWS credentials (botocore's SigV4, service execute-api), which IAM authorises.

    python scripts/admin.py --api-url https://abc.execute-api.eu-west-1.amazonaws.com \\
        find-user ada
    python scripts/admin.py --api-url ... sessions <user_id>
    python scripts/admin.py --api-url ... end-sessions <user_id> [<session_id>]
    python scripts/admin.py --api-url ... disable <user_id>
    python scripts/admin.py --api-url ... enable <user_id>
    python scripts/admin.py --api-url ... unlock <user_id>

`make admin API_URL=... ARGS="disable <user_id>"` runs it. Credentials and region come from
the usual places (environment, profile); --region overrides the region."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import botocore.session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from local_run.sigv4 import signed_headers

# The commands: what they ask for, and the request each one makes.
COMMANDS = {
    "find-user": ("username", "GET", "/admin/users?username={0}"),
    "sessions": ("user_id", "GET", "/admin/users/{0}/sessions"),
    "end-sessions": ("user_id", "DELETE", "/admin/users/{0}/sessions"),
    "disable": ("user_id", "POST", "/admin/users/{0}/disable"),
    "enable": ("user_id", "POST", "/admin/users/{0}/enable"),
    "unlock": ("user_id", "DELETE", "/admin/users/{0}/login-lock"),
}


def request(api_url: str, method: str, path: str, region: str | None) -> tuple[int, str]:
    """Send one signed request; its status and body."""
    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        sys.exit("no AWS credentials: configure a profile or the AWS_* variables")
    region = region or session.get_config_variable("region") or "us-east-1"
    url = api_url.rstrip("/") + path
    headers = signed_headers(method, url, b"", credentials.get_frozen_credentials(), region)
    call = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(call, timeout=30) as answer:  # noqa: S310
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="admin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--region")
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("subject", help="a username (find-user) or a user id")
    parser.add_argument("session_id", nargs="?", help="end-sessions: only this session")
    args = parser.parse_args(argv)
    _, method, template = COMMANDS[args.command]
    path = template.format(urllib.parse.quote(args.subject, safe=""))
    if args.command == "end-sessions" and args.session_id:
        path += f"/{urllib.parse.quote(args.session_id, safe='')}"
    status, body = request(args.api_url, method, path, args.region)
    shown = json.dumps(json.loads(body), indent=2) if body else ""
    print(f"{status} {shown}".rstrip())
    return 0 if status < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
