"""Style ``jsonp``: not written yet."""

from fastapi import APIRouter

router = APIRouter()
