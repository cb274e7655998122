"""`cnndsl serve`: the playground, a page that re-checks a program as it is typed (`app`), over a
pure, torch-free analysis (`analysis`). Needs the `serve` extra (Starlette, uvicorn) for `app` only."""
