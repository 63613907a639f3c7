"""Style ``nbs_easyquery``: not written yet."""

from fastapi import APIRouter

router = APIRouter()
