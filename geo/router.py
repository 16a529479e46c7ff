"""geo's HTTP side: file imports, exports and the operations map page."""

from fastapi import APIRouter

from geo.export_router import router as export_router
from geo.import_router import router as import_router
from geo.map_router import router as map_router

router = APIRouter()
router.include_router(import_router)
router.include_router(export_router)
router.include_router(map_router)
