"""Style ``app_key``: not written yet."""

from fastapi import APIRouter

router = APIRouter()
