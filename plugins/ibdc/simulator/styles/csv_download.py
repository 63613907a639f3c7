"""Style ``csv_download``: not written yet."""

from fastapi import APIRouter

router = APIRouter()
