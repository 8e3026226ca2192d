"""An existing Flask + Flask-SQLAlchemy shop that hands its receipt emails to taskrow.

See README.md. ``create_app`` is the Flask application factory; ``tasks`` holds the worker's
``send_receipt`` handler.
"""

from .app import Order, PaymentDeclined, create_app, db, place_order

__all__ = ["Order", "PaymentDeclined", "create_app", "db", "place_order"]
