"""An asyncio shop on FastAPI that hands its receipt emails to taskrow.

See README.md. ``create_app`` builds the FastAPI application; ``tasks`` holds the worker's
``send_receipt`` handler, an ``async def`` one.
"""

from .app import PaymentDeclined, create_app, orders, place_order

__all__ = ["PaymentDeclined", "create_app", "orders", "place_order"]
