"""The generator's vocabulary: feed columns, segments, countries, industries, categories and name parts."""

from __future__ import annotations

ACCOUNT_COLUMNS = [
    "account_id",
    "account_name",
    "industry",
    "segment",
    "country_code",
    "region",
    "credit_limit",
    "payment_terms_days",
    "account_status",
    "paperless_billing",
    "created_date",
    "updated_at",
]
SKU_COLUMNS = ["sku_id", "sku_name", "category", "unit_price", "currency", "is_active", "updated_at"]
INVOICE_COLUMNS = [
    "invoice_id",
    "account_id",
    "invoice_date",
    "due_date",
    "currency",
    "invoice_amount",
    "status",
    "paid_date",
    "paid_amount",
    "is_disputed",
    "updated_at",
]
LINE_COLUMNS = [
    "line_item_id",
    "invoice_id",
    "sku_id",
    "quantity",
    "unit_price",
    "discount_pct",
    "line_amount",
    "updated_at",
]

SEGMENTS = {  # share, health offset, invoices per day, credit limit (lognormal median), payment terms
    "ENTERPRISE": (0.15, 0.5, 0.30, 400_000, (45, 60)),
    "MID_MARKET": (0.35, 0.0, 0.15, 100_000, (30, 45)),
    "SMB": (0.50, -0.5, 0.08, 20_000, (15, 30)),
}
COUNTRIES = {  # country: (region, currency, fx per USD)
    "US": ("NA", "USD", 1.0),
    "CA": ("NA", "CAD", 1.36),
    "GB": ("EMEA", "GBP", 0.79),
    "DE": ("EMEA", "EUR", 0.92),
    "FR": ("EMEA", "EUR", 0.92),
    "NL": ("EMEA", "EUR", 0.92),
    "AU": ("APAC", "AUD", 1.52),
    "SG": ("APAC", "SGD", 1.34),
}
COUNTRY_WEIGHTS = [0.40, 0.08, 0.12, 0.10, 0.08, 0.06, 0.10, 0.06]
INDUSTRIES = [
    "Manufacturing",
    "Retail",
    "Healthcare",
    "Logistics",
    "Technology",
    "Construction",
    "Hospitality",
    "Education",
    "Energy",
    "Financial Services",
]
CATEGORIES = ["Hardware", "Software", "Services", "Support", "Training", "Cloud", "Accessories"]
NAME_A = [
    "North",
    "Blue",
    "Summit",
    "Silver",
    "Iron",
    "Bright",
    "Cedar",
    "Harbor",
    "Atlas",
    "Pioneer",
    "Granite",
    "Evergreen",
    "Falcon",
    "Lakeside",
    "Redwood",
    "Sterling",
]
NAME_B = [
    "Logistics",
    "Foods",
    "Systems",
    "Health",
    "Builders",
    "Retail",
    "Energy",
    "Labs",
    "Works",
    "Partners",
    "Supply",
    "Motors",
    "Textiles",
    "Digital",
    "Freight",
    "Clinics",
]
NAME_C = ["Inc", "LLC", "Ltd", "GmbH", "Group", "Co", "SA", "BV"]
