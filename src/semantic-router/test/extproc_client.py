#!/usr/bin/env python3
"""Checks a running semantic router's ext_proc service as Envoy talks to it.

A client that is not the router's code: Envoy's own message types from PyPI's
envoy-data-plane (envoy.service.ext_proc.v3, betterproto2 dataclasses) over
grpclib, playing Envoy's side of a stream for one HTTP request: the request
headers, then, once they are answered, the whole body (end_of_stream).

    pip install -r requirements.txt
    python3 extproc_client.py --addr 127.0.0.1:50051 [--config ../config/config.json]

--addr is the router's --grpc-listen address; --config is the configuration
the router runs with (the models of the categories are read from it). The
checks, one line each:

- held-out prompts (heldout_prompts.json, next to this script: prompts that
  are not examples of the configuration) with the model "auto": the headers
  x-vsr-selected-category and x-vsr-selected-model name the prompt's category
  and its model, and the body is the request with its model replaced by the
  selected one (content-length removed or set to the new length);
- an explicit model ("gpt-4") is left as sent (no body mutation, no header
  removed) while the headers are set;
- a body that is not JSON gets an immediate response 400 with a JSON body
  {"error": ...};
- 16 concurrent streams (asyncio.gather) all route.

The last line is "N passed, M failed"; the exit status is 1 if a check
failed, 2 on bad arguments or an unreadable configuration.
"""

import argparse
import asyncio
import json
import os
import sys
import time

from grpclib.client import Channel

from envoy_data_plane.envoy.config.core.v3 import HeaderMap, HeaderValue
from envoy_data_plane.envoy.service.ext_proc.v3 import (
    CommonResponseResponseStatus,
    ExternalProcessorAsyncStub,
    HttpBody,
    HttpHeaders,
    ProcessingRequest,
)

HERE = os.path.dirname(os.path.abspath(__file__))
HELD_OUT = os.path.join(HERE, "heldout_prompts.json")
DEFAULT_CONFIG = os.path.join(HERE, "..", "config", "config.json")

HEADER_CATEGORY = "x-vsr-selected-category"
HEADER_MODEL = "x-vsr-selected-model"
HEADER_CONFIDENCE = "x-vsr-selected-confidence"

STREAM_TIMEOUT = 30.0  # seconds, for one stream
CONCURRENT = 16


class CheckFailed(Exception):
    pass


def chat_body(model, prompt):
    return json.dumps(
        {
            "model": model,
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": prompt},
            ],
        }
    ).encode()


def request_headers(body):
    """The request headers Envoy sends first, for a body of this length."""
    headers = [
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "router.test"),
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
    ]
    return ProcessingRequest(
        request_headers=HttpHeaders(
            headers=HeaderMap(headers=[HeaderValue(key=k, raw_value=v.encode()) for k, v in headers]),
            end_of_stream=False,
        )
    )


def request_body(body):
    return ProcessingRequest(request_body=HttpBody(body=body, end_of_stream=True))


async def exchange(stub, messages):
    """Sends each message once the previous one is answered, as Envoy does,
    and returns the answers; stops after an immediate response.

    The stream is half-closed right after the last message, without waiting
    for its answer (the request is complete; no response phase follows).
    Otherwise, after an immediate response, the server ends the stream with
    RST_STREAM(NO_ERROR) and grpclib drops the answer it has not read yet
    (RFC 9113 section 8.1 says a client must not)."""
    answers = []
    answered = asyncio.Queue()

    async def send():
        for i, m in enumerate(messages):
            yield m
            if i == len(messages) - 1:
                return
            answer = await answered.get()
            if answer is None or answer.immediate_response is not None:
                return

    try:
        async for resp in stub.process(send(), timeout=STREAM_TIMEOUT):
            answers.append(resp)
            answered.put_nowait(resp)
    finally:
        answered.put_nowait(None)
    if len(answers) != len(messages) and (not answers or answers[-1].immediate_response is None):
        raise CheckFailed(f"{len(answers)} answers to {len(messages)} messages")
    return answers


def header_values(mutation):
    """The headers a mutation sets, as {key: value}."""
    out = {}
    for opt in (mutation.set_headers if mutation else []):
        h = opt.header
        out[h.key] = h.raw_value.decode() if h.raw_value else h.value
    return out


def body_answer(answers):
    """The common response to the request body (the second message)."""
    if answers[0].request_headers is None:
        raise CheckFailed(f"request headers answered with {answers[0]}")
    headers = answers[0].request_headers.response
    if headers is not None and (headers.header_mutation is not None or headers.body_mutation is not None):
        raise CheckFailed(f"request headers mutated: {headers}")
    last = answers[-1]
    if last.immediate_response is not None:
        imm = last.immediate_response
        raise CheckFailed(f"immediate response {imm.status.code if imm.status else None}: {imm.body!r}")
    if last.request_body is None or last.request_body.response is None:
        raise CheckFailed(f"request body answered with {last}")
    common = last.request_body.response
    if common.status != CommonResponseResponseStatus.CONTINUE:
        raise CheckFailed(f"request body status {common.status}")
    return common


async def route(stub, model, prompt, category, models):
    """Routes one request and checks the answer; returns a description."""
    body = chat_body(model, prompt)
    common = body_answer(await exchange(stub, [request_headers(body), request_body(body)]))
    headers = header_values(common.header_mutation)
    got_category, got_model = headers.get(HEADER_CATEGORY), headers.get(HEADER_MODEL)
    if got_category != category or got_model != models[category]:
        raise CheckFailed(f"routed to {got_category} / {got_model}, want {category} / {models[category]}")
    try:
        confidence = float(headers.get(HEADER_CONFIDENCE, ""))
    except ValueError:
        raise CheckFailed(f"{HEADER_CONFIDENCE} {headers.get(HEADER_CONFIDENCE)!r} is not a number")
    removed = list(common.header_mutation.remove_headers)
    mutated = common.body_mutation.body if common.body_mutation is not None else None
    if model == "auto":
        if mutated is None:
            raise CheckFailed("model auto: the body is not replaced")
        try:
            got = json.loads(mutated)
        except ValueError as e:
            raise CheckFailed(f"the new body is not JSON ({e}): {mutated[:200]!r}")
        want = json.loads(body)
        want["model"] = got_model
        if got != want:
            raise CheckFailed(f"new body {mutated[:300]!r}, want the request with model {got_model}")
        length = headers.get("content-length")
        if "content-length" not in removed and length != str(len(mutated)):
            raise CheckFailed(f"content-length neither removed nor set to {len(mutated)} (set: {length}, removed: {removed})")
    elif mutated is not None or common.body_mutation is not None or removed:
        raise CheckFailed(f"model {model}: body mutation {common.body_mutation}, removed headers {removed}")
    return f"{category} / {got_model} ({confidence:.3f})"


async def not_json(stub):
    body = b"model=auto&prompt=hello"
    answers = await exchange(stub, [request_headers(body), request_body(body)])
    imm = answers[-1].immediate_response
    if imm is None:
        raise CheckFailed(f"answered {answers[-1]}, want an immediate response")
    code = int(imm.status.code) if imm.status else None
    if code != 400:
        raise CheckFailed(f"status {code}, want 400: {imm.body!r}")
    ctype = header_values(imm.headers).get("content-type")
    if ctype != "application/json":
        raise CheckFailed(f"content-type {ctype!r}")
    try:
        err = json.loads(imm.body)
    except ValueError:
        raise CheckFailed(f"body {imm.body!r} is not JSON")
    if not isinstance(err, dict) or not isinstance(err.get("error"), str) or not err["error"]:
        raise CheckFailed(f"body {imm.body!r} is not {{\"error\": ...}}")
    return f"400 {err['error']!r}"


async def concurrent(stub, held_out, models):
    jobs = [held_out[i % len(held_out)] for i in range(CONCURRENT)]
    start = time.monotonic()
    results = await asyncio.gather(
        *(route(stub, "auto", p["prompt"], p["category"], models) for p in jobs), return_exceptions=True
    )
    failed = [(j["prompt"], r) for j, r in zip(jobs, results) if isinstance(r, BaseException)]
    if failed:
        prompt, err = failed[0]
        raise CheckFailed(f"{len(failed)} of {CONCURRENT} failed; first: {prompt!r}: {describe(err)}")
    return f"{CONCURRENT} routed in {time.monotonic() - start:.2f}s"


def describe(err):
    if isinstance(err, CheckFailed):
        return str(err)
    return f"{type(err).__name__}: {err}"


async def wait_ready(stub, deadline):
    """Waits until the router answers a body with anything but a 503 (it
    answers 503 while its model loads) or the deadline passes."""
    body = chat_body("auto", "hello")
    while True:
        try:
            answers = await exchange(stub, [request_body(body)])
            imm = answers[-1].immediate_response
            if imm is None or imm.status is None or int(imm.status.code) != 503:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.2)


async def run(addr, models, held_out, wait):
    host, _, port = addr.rpartition(":")
    channel = Channel(host.strip("[]"), int(port))
    stub = ExternalProcessorAsyncStub(channel)
    passed = failed = 0

    async def check(name, coro):
        nonlocal passed, failed
        try:
            detail = await coro
        except Exception as e:
            failed += 1
            print(f"FAIL {name}: {describe(e)}", flush=True)
        else:
            passed += 1
            print(f"ok   {name}: {detail}", flush=True)

    try:
        await wait_ready(stub, time.monotonic() + wait)
        for p in held_out:
            await check(f"held-out {p['prompt']!r}", route(stub, "auto", p["prompt"], p["category"], models))
        first = held_out[0]
        await check(f"explicit model gpt-4 kept {first['prompt']!r}", route(stub, "gpt-4", first["prompt"], first["category"], models))
        await check("body not JSON", not_json(stub))
        await check(f"{CONCURRENT} concurrent streams", concurrent(stub, held_out, models))
    finally:
        channel.close()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", required=True, help="the router's ext_proc (gRPC) address, HOST:PORT")
    ap.add_argument("--config", default=DEFAULT_CONFIG, help="the router's configuration (default: %(default)s)")
    ap.add_argument("--wait", type=float, default=30, help="seconds to wait for the router to be ready (default: %(default)s)")
    args = ap.parse_args()
    host, sep, port = args.addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        ap.error(f"--addr {args.addr!r} is not HOST:PORT")
    try:
        with open(args.config) as f:
            cfg = json.load(f)
        models = {c["name"]: c["model"] for c in cfg["categories"]}
        examples = {e for c in cfg["categories"] for e in c["examples"]}
        with open(HELD_OUT) as f:
            held_out = json.load(f)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"extproc_client: cannot read the configuration: {e}", file=sys.stderr)
        return 2
    for p in held_out:
        if p["category"] not in models:
            print(f"extproc_client: {HELD_OUT}: no category {p['category']!r} in {args.config}", file=sys.stderr)
            return 2
        if p["prompt"] in examples:
            print(f"extproc_client: {HELD_OUT}: {p['prompt']!r} is an example of {args.config}", file=sys.stderr)
            return 2
    return asyncio.run(run(args.addr, models, held_out, args.wait))


if __name__ == "__main__":
    sys.exit(main())
