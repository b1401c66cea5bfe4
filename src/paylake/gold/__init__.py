"""Gold builders: risk scores, the collections worklist, monthly trends and the payment-health dashboard.
Importing registers them."""

from paylake.gold import customer_metrics, dashboard, trends, worklist

__all__ = ["customer_metrics", "dashboard", "trends", "worklist"]
