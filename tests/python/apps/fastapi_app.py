"""A real FastAPI app wrapped by OtasASGIMiddleware."""

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from otas.asgi import OtasASGIMiddleware

app = FastAPI()


@app.get("/api/items/{pk}")
async def item(pk: int):
    return {"id": pk, "name": f"item {pk}"}


@app.post("/api/items")
async def create(request: Request):
    data = await request.json()
    return {"created": True, "echo": data}


@app.get("/api/boom")
async def boom():
    raise ValueError("fastapi view failed")


@app.get("/api/stream")
async def stream():
    async def gen():
        for _ in range(30):
            yield b"z" * 1000
    return StreamingResponse(gen(), media_type="text/plain")


app.add_middleware(OtasASGIMiddleware)
