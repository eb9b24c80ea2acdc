"""The seed project's stack as a peer for `make bench`: FastAPI on uvicorn
with a redis asyncio cache, serving POST /summarize {"text": ...}.

A request's body is hashed (sha256); a hit returns the cached JSON as it
was stored, a miss makes a trivial summary (the first sentences, up to 30%
of the words, as Transcept's default ratio), stores it and returns it. The
answer has Transcept's shape (summary, bullets, markdown, spans), so both
servers send answers of about the same size (the summary three times). The
hot path under load is the cache hit, as in Transcept's cached POST
/summarize. The handler reads the raw body and returns the cached bytes
as they are (no pydantic model, no re-encoding): the stack's fastest way.

Run (Debian: python3-fastapi python3-uvicorn python3-redis; uvicorn uses
uvloop and httptools when python3-uvloop and python3-httptools are there):

    REDIS_URL=redis://127.0.0.1:6379/0 python3 -m uvicorn summarize_peer:app \
        --app-dir tests/peer --workers 2 --host 127.0.0.1 --port 8081 \
        --no-access-log --log-level warning
"""

import hashlib
import json
import os
import re

import redis.asyncio as aioredis  # redis-py >= 4.2
from fastapi import FastAPI, HTTPException, Request, Response

app = FastAPI(title="summarize peer")
cache = None
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@app.on_event("startup")
async def connect() -> None:
    global cache
    cache = aioredis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@app.on_event("shutdown")
async def disconnect() -> None:
    if cache is not None:
        await cache.close()


def summarize(text: str, ratio: float = 0.3) -> dict:
    words = len(text.split())
    bullets, kept = [], 0
    for s in SENTENCE_END.split(text.strip()):
        s = s.strip()
        if not s:
            continue
        if bullets and kept + len(s.split()) > ratio * words:
            break
        bullets.append(s)
        kept += len(s.split())
    return {
        "summary": " ".join(bullets),
        "bullets": bullets,
        "spans": [],
        "markdown": "".join(f"- {b}\n" for b in bullets),
        "engine": "peer-first-sentences",
        "cached": False,
        "input_words": words,
        "output_words": kept,
    }


@app.post("/summarize")
async def summarize_route(request: Request) -> Response:
    body = await request.body()
    key = "peer:summary:" + hashlib.sha256(body).hexdigest()
    hit = await cache.get(key)
    if hit is not None:
        return Response(hit, media_type="application/json", headers={"X-Peer-Cache": "hit"})
    try:
        text = json.loads(body)["text"]
    except (ValueError, KeyError, TypeError):
        raise HTTPException(status_code=400, detail='send JSON {"text": ...}')
    if not isinstance(text, str) or not text.strip():
        raise HTTPException(status_code=400, detail='"text" is empty')
    out = summarize(text)
    await cache.set(key, json.dumps(dict(out, cached=True)).encode(), ex=86400)
    return Response(json.dumps(out).encode(), media_type="application/json")


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
