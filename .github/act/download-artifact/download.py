"""The download-artifact stand-in: act's artifact server, its download API."""
import fnmatch
import json
import os
import sys
import urllib.parse
import urllib.request


def fail(msg):
    print(f"::error::download-artifact (act stand-in): {msg}")
    sys.exit(1)


def get(url):
    req = urllib.request.Request(url)
    req.add_header("Authorization", "Bearer " + os.environ.get("ACTIONS_RUNTIME_TOKEN", ""))
    with urllib.request.urlopen(req) as r:
        return r.read()


def main():
    name = os.environ.get("INPUT_NAME", "")
    pattern = os.environ.get("INPUT_PATTERN", "")
    dest = os.environ.get("INPUT_PATH") or "."
    merge = os.environ.get("INPUT_MERGE_MULTIPLE") == "true"
    base = os.environ["ACTIONS_RUNTIME_URL"]
    run = os.environ["GITHUB_RUN_ID"]
    try:
        listing = json.loads(get(f"{base}_apis/pipelines/workflows/{run}/artifacts?api-version=6.0-preview"))
    except Exception as e:  # the run directory does not exist before the first upload
        listing = {"value": []}
        print(f"download-artifact (act stand-in): no artifact yet ({e})")
    arts = listing.get("value") or []
    names = sorted(a["name"] for a in arts)
    if name:
        chosen = [a for a in arts if a["name"] == name]
        if not chosen:
            fail(f"no artifact named {name} in this run (it has: {', '.join(names) or 'none'})")
    else:
        chosen = [a for a in arts if fnmatch.fnmatchcase(a["name"], pattern or "*")]
        if not chosen:
            print(f"::warning::download-artifact (act stand-in): no artifact matches {pattern or '*'}")
    for a in chosen:
        into = dest if (name or merge) else os.path.join(dest, a["name"])
        q = urllib.parse.urlencode({"itemPath": a["name"]})
        items = json.loads(get(f"{a['fileContainerResourceUrl']}?{q}"))["value"]
        for it in items:
            if it.get("itemType") != "file":
                continue
            rel = it["path"][len(a["name"]) + 1 :] if it["path"].startswith(a["name"] + "/") else it["path"]
            out = os.path.join(into, rel)
            os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
            data = get(it["contentLocation"])
            with open(out, "wb") as fh:
                fh.write(data)
            print(f"download-artifact (act stand-in): {a['name']}/{rel} -> {out} ({len(data)} bytes)")


main()
