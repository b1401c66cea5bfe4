"""Gold builders: risk scores, monthly trends and the payment-health dashboard. Importing registers them."""

from paylake.gold import customer_metrics, dashboard, trends

__all__ = ["customer_metrics", "dashboard", "trends"]
