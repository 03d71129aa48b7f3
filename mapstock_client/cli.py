"""`mapstock`: the command-line client (login, upload, ls, show, download, share, rm).

Exit codes: 0 done; 1 an error (the API's `code: message`, or the client's own, such as a
local file's `PATH: reason`, on stderr); 2 bad usage; 3 `upload --wait` ended `rejected` or
`failed`; 130 interrupted."""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from mapstock_client import __version__, config
from mapstock_client.api import ClientError, map_path
from mapstock_client.download import download
from mapstock_client.listing import details, table, upload_summary
from mapstock_client.session import LOG_IN_FIRST, api_for, check_session
from mapstock_client.upload import Interrupted, Request, check_file, upload
from mapstock_client.waiting import FileHasher, wait_final

VISIBILITIES = ("private", "members", "public")
EXIT_FINAL_NOT_READY = 3
EXIT_INTERRUPTED = 130


def say(line: str) -> None:
    """A message for the person at the terminal (stderr: stdout is for results)."""
    sys.stderr.write(line + "\n")  # one write: lines from parallel parts never interleave
    sys.stderr.flush()


def cmd_login(args: argparse.Namespace) -> None:
    config.config_dir()  # a folder the token cannot be kept in: said before logging in
    password = os.environ.get("MAPSTOCK_PASSWORD")
    if password is None:
        if sys.stdin.isatty():
            password = getpass.getpass(f"Password for {args.username}: ")
        else:
            password = sys.stdin.readline().rstrip("\r\n")
    if not password:  # the server would only say "Wrong username or password."
        raise ClientError("no password given (MAPSTOCK_PASSWORD, a prompt, or a line on stdin)")
    api = api_for(authenticated=False)
    doc = api.json("POST", "/v1/auth/token", json={"username": args.username, "password": password})
    config.save_token(api.base, args.username, doc["access_token"], int(doc["expires_in"]))
    print(f"logged in as {args.username} at {api.base}")


def cmd_logout(args: argparse.Namespace) -> None:
    base = config.api_url()
    print("logged out" if config.forget_token(base) else f"not logged in at {base}")


def cmd_upload(args: argparse.Namespace) -> int:
    api = api_for()
    path = Path(args.file)
    check_file(path)  # a missing or empty file: said without asking the server
    check_session(api)  # before a single byte is sent for nothing
    hasher = FileHasher(path) if args.wait and path.is_file() else None
    if hasher:
        hasher.start()
    req = Request(
        path, args.title, args.description, args.visibility, args.parallel,
        say if args.verbose else (lambda line: None),
    )  # fmt: skip
    doc = upload(api, req)
    map_id = doc["id"]
    print(map_id, flush=True)  # alone on stdout: `id=$(mapstock upload FILE)`
    if sys.stdout.isatty() or sys.stderr.isatty():
        say(upload_summary(path.name, doc))
    if not args.wait:
        return 0
    doc = wait_final(api, map_id, say)
    if doc["status"] != "ready":
        error = doc.get("error") or {}
        say(f"{doc['status']}: {error.get('code')}: {error.get('message')}")
        return EXIT_FINAL_NOT_READY
    local = hasher.result() if hasher else None
    if local and doc.get("sha256") is None:  # too large for the server to hash: it says why
        skipped = (doc.get("metadata") or {}).get("checksum", {}).get("skipped", "")
        say(f"not verified: the map has no SHA-256 ({skipped or 'the server did not compute it'})")
        say(f"the file's SHA-256 is {local}")
        return 0
    if local and doc.get("sha256") != local:
        raise ClientError(
            f"checksum_mismatch: the map has SHA-256 {doc.get('sha256')}, the file {local}"
        )
    return 0


def cmd_ls(args: argparse.Namespace) -> None:
    api = api_for()
    if args.mine and "Authorization" not in api.http.headers:
        raise ClientError(LOG_IN_FIRST)
    params = {k: getattr(args, k) for k in ("q", "format", "bbox") if getattr(args, k)}
    if args.mine:
        params["owner"] = "me"
    limit = float("inf") if args.all else args.limit
    items: list[dict[str, Any]] = []
    cursor = None
    while len(items) < limit:
        page_params = {**params, "limit": int(min(100, limit - len(items)))}
        if cursor:
            page_params["cursor"] = cursor
        page = api.json("GET", "/v1/maps", params=page_params)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    if args.json:
        print(json.dumps(items, indent=2, ensure_ascii=False))
    elif items:
        print(table(items))
    else:
        say("no maps")
    if cursor:  # on stderr: stdout stays the maps alone
        say(f"more maps: use --limit N (more than {len(items)}) or --all")


def cmd_show(args: argparse.Namespace) -> None:
    doc = api_for().json("GET", map_path(args.id))
    print(json.dumps(doc, indent=2, ensure_ascii=False) if args.json else details(doc))


def cmd_download(args: argparse.Namespace) -> None:
    print(download(api_for(), args.id, args.output, args.original))


def cmd_share(args: argparse.Namespace) -> None:
    doc = api_for().json("PATCH", map_path(args.id), json={"visibility": args.visibility})
    print(doc["visibility"])


def cmd_rm(args: argparse.Namespace) -> None:
    api_for().call("DELETE", map_path(args.id))
    say(f"deleted map {args.id}")


def _parallel(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 32:
        raise argparse.ArgumentTypeError("must be a number from 1 to 32")
    return int(value)


def _limit(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError("must be a positive number")
    return int(value)


def _bbox(value: str) -> str:
    """Four finite numbers, as given (the ranges and a box across 180° are the server's)."""
    numbers = value.split(",")
    try:
        finite = len(numbers) == 4 and all(math.isfinite(float(n)) for n in numbers)
    except ValueError:
        finite = False
    if not finite:
        raise argparse.ArgumentTypeError(f"must be minx,miny,maxx,maxy, e.g. {BBOX_EXAMPLE}")
    return value


# A dash then a digit: a negative number, never an option (no mapstock option looks like one).
NEGATIVE = re.compile(r"-\.?\d")
BBOX_EXAMPLE = "-80,23,-76,26"


class Parser(argparse.ArgumentParser):
    """argparse that reads `--bbox -80,23,-76,26` (or `--limit -1`) as the option's value: a
    value starting with a minus is glued on (`--bbox=-80,…`), which argparse then takes."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        args = sys.argv[1:] if args is None else list(args)
        glued: list[str] = []
        for i, arg in enumerate(args):
            if arg == "--":
                glued += args[i:]
                break
            if glued and NEGATIVE.match(arg) and self._takes_value(glued[-1]):
                glued[-1] += "=" + arg
            else:
                glued.append(arg)
        return super().parse_known_args(glued, namespace)

    def _takes_value(self, option: str) -> bool:
        """Whether `option` (or the one long option it abbreviates) is followed by a value."""
        takes = {s: a.nargs != 0 for a in self._actions for s in a.option_strings}
        if option in takes:
            return takes[option]
        named = [s for s in takes if option.startswith("--") and s.startswith(option)]
        return len(named) == 1 and takes[named[0]]


def parser() -> argparse.ArgumentParser:
    """The command line (MAPSTOCK_API names the server, MAPSTOCK_CONFIG the client's folder)."""
    top = Parser(
        prog="mapstock",
        description="Map Stock client. The API is $MAPSTOCK_API (default "
        f"{config.DEFAULT_API}); the token is kept in $MAPSTOCK_CONFIG "
        "(default ~/.config/mapstock/).",
        epilog="Exit codes: 0 done, 1 error, 2 bad usage, 3 upload --wait ended rejected or "
        "failed, 130 interrupted.",
    )
    top.add_argument("--version", action="version", version=f"mapstock {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, run: Callable[[argparse.Namespace], Any], text: str, epilog: str | None = None
    ) -> Any:
        cmd = sub.add_parser(name, help=text, description=text, epilog=epilog)
        cmd.set_defaults(run=run)
        return cmd

    cmd = command("login", cmd_login, "log in (password from MAPSTOCK_PASSWORD or a prompt)")
    cmd.add_argument("username")
    command("logout", cmd_logout, "forget the token for this API")
    cmd = command("upload", cmd_upload, "upload a map file; run again to resume")
    cmd.add_argument("file")
    cmd.add_argument("--title")
    cmd.add_argument("--description")
    cmd.add_argument("--visibility", choices=VISIBILITIES)
    cmd.add_argument("--wait", action="store_true", help="wait for ready/rejected/failed")
    cmd.add_argument(
        "--parallel", type=_parallel, default=4, metavar="N", help="parts sent at once (4)"
    )
    cmd.add_argument("-v", "--verbose", action="store_true", help="a line per part sent")
    cmd = command(
        "ls",
        cmd_ls,
        "browse the maps you may see, newest first",
        f"example: mapstock ls --bbox {BBOX_EXAMPLE} (west of Greenwich and south of the "
        "equator the numbers are negative)",
    )
    cmd.add_argument("--q", "-q", help="words in title, description or file name")
    cmd.add_argument("--format", help="geotiff, geojson, …")
    cmd.add_argument(
        "--bbox",
        type=_bbox,
        metavar="MINX,MINY,MAXX,MAXY",
        help=f"WGS84 degrees, e.g. {BBOX_EXAMPLE}: maps that intersect the box",
    )
    cmd.add_argument("--mine", action="store_true", help="only your own maps")
    shown = cmd.add_mutually_exclusive_group()
    shown.add_argument("--limit", type=_limit, default=20, metavar="N", help="at most N (20)")
    shown.add_argument("--all", action="store_true", help="every match, page after page")
    cmd.add_argument("--json", action="store_true", help="the map documents as JSON")
    cmd = command("show", cmd_show, "one map's details")
    cmd.add_argument("id")
    cmd.add_argument("--json", action="store_true", help="the map document as JSON")
    cmd = command("download", cmd_download, "download a map and check its SHA-256")
    cmd.add_argument("id")
    cmd.add_argument("-o", "--output", metavar="PATH", help="file or folder to save to")
    cmd.add_argument("--original", action="store_true", help="the upload, not the optimized one")
    cmd = command("share", cmd_share, "set who may see a map")
    cmd.add_argument("id")
    cmd.add_argument("visibility", choices=VISIBILITIES)
    cmd = command("rm", cmd_rm, "delete a map")
    cmd.add_argument("id")
    return top


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops as Ctrl-C does: uploads stay resumable


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = args.run(args)
        sys.stdout.flush()
        return int(code or 0)
    except Interrupted as exc:
        say(str(exc))
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
    except ClientError as exc:
        say(str(exc))
        return exc.exit_code
    except config.ConfigError as exc:
        say(str(exc))
        return 1
    except BrokenPipeError:  # `mapstock ls | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # a local file: one line naming it, never a traceback
        say(os_error_line(exc))
        return 1


def os_error_line(exc: OSError) -> str:
    """`PATH: reason` (`PATH -> OTHER: reason` for a rename) for a local file's error."""
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{where}: {reason}" if where else reason
