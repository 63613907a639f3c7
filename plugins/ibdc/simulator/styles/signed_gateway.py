"""Style ``signed_gateway``: not written yet."""

from fastapi import APIRouter

router = APIRouter()
