"""Hazard-area endpoints, plus the non-technical survey sub-package's."""

from fastapi import APIRouter

from survey.nts.router import router as nts_router

router = APIRouter()
router.include_router(nts_router)
