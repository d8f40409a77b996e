"""The upload-artifact stand-in: act's artifact server, its upload API."""
import glob
import json
import os
import sys
import urllib.parse
import urllib.request


def fail(msg):
    print(f"::error::upload-artifact (act stand-in): {msg}")
    sys.exit(1)


def request(method, url, body=None):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Bearer " + os.environ.get("ACTIONS_RUNTIME_TOKEN", ""))
    req.add_header("Content-Type", "application/octet-stream" if body is not None else "application/json")
    with urllib.request.urlopen(req) as r:
        return r.read()


def files_of(patterns):
    """(file, its directory root) for each pattern's matches."""
    out = []
    for pattern in patterns:
        magic = glob.has_magic(pattern)
        matches = glob.glob(pattern, recursive=True)
        if magic:
            # The directory before the first wildcard is the root.
            parts = pattern.split("/")
            fixed = [p for p in parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]]
            root = "/".join(fixed) or "."
        for m in matches:
            if os.path.isdir(m):
                r = root if magic else m
                for d, _, fs in os.walk(m):
                    out += [(os.path.join(d, f), r) for f in fs]
            elif os.path.isfile(m):
                out.append((m, root if magic else os.path.dirname(m) or "."))
    return out


def main():
    name = os.environ["INPUT_NAME"]
    patterns = [p.strip() for p in os.environ["INPUT_PATH"].splitlines() if p.strip()]
    found = files_of(patterns)
    if not found:
        mode = os.environ.get("INPUT_IF_NO_FILES_FOUND", "warn")
        msg = f"no files found at {', '.join(patterns)}"
        if mode == "error":
            fail(msg)
        if mode == "warn":
            print(f"::warning::upload-artifact (act stand-in): {msg}; no artifact {name}")
        else:
            print(f"upload-artifact (act stand-in): {msg}; no artifact {name} (if-no-files-found: ignore)")
        return
    root = os.path.commonpath([os.path.abspath(r) for _, r in found])
    base = os.environ["ACTIONS_RUNTIME_URL"]
    run = os.environ["GITHUB_RUN_ID"]
    api = f"{base}_apis/pipelines/workflows/{run}/artifacts?api-version=6.0-preview"
    container = json.loads(request("POST", api) or b"{}")["fileContainerResourceUrl"]
    for f, _ in found:
        rel = os.path.relpath(os.path.abspath(f), root)
        with open(f, "rb") as fh:
            data = fh.read()
        q = urllib.parse.urlencode({"itemPath": f"{name}/{rel}"})
        request("PUT", f"{container}?{q}", data)
        print(f"upload-artifact (act stand-in): {name}/{rel} ({len(data)} bytes)")
    request("PATCH", f"{api}&artifactName={urllib.parse.quote(name)}")
    print(f"upload-artifact (act stand-in): artifact {name}: {len(found)} files")


main()
