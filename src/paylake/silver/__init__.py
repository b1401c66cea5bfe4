"""Silver builders: point-in-time features from bronze history. Importing this package registers them."""

from paylake.silver import account_profiles, invoice_details, payment_history, product_catalog

__all__ = ["account_profiles", "invoice_details", "payment_history", "product_catalog"]
