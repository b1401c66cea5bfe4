"""silver.product_catalog: every SKU known as of the business date, with price-history features."""

from __future__ import annotations

from datetime import date

from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.builders import register
from paylake.config.base import StrictModel
from paylake.contract import EFFECTIVE_FROM, RECORD_VERSION
from paylake.silver.point_in_time import (
    column_changes,
    known_versions,
    last_changes,
    percent_change,
    versions_as_of,
)

SKU_COLUMNS = ("sku_id", "sku_name", "category", "unit_price", "currency", "is_active")


class ProductCatalogParams(StrictModel):
    """Parameters of :func:`product_catalog`.

    Attributes:
        recent_change_days: a price change counts as recent within this many days before ``as_of``.
    """

    recent_change_days: int = Field(default=90, ge=1)


@register("silver", ProductCatalogParams)
def product_catalog(skus: DataFrame, *, params: ProductCatalogParams, as_of: date) -> DataFrame:
    """One row per SKU known by the end of ``as_of``: its state then, and how its price has moved.

    Delisted SKUs (dropped from the snapshot) stay, with ``is_deleted`` true, so old invoice lines still find
    their category. ``last_price_change_pct`` is the last change relative to the price before it, in percent.

    Args:
        skus: bronze.skus SCD2 history.
    """
    known = known_versions(skus, as_of)
    latest = versions_as_of(skus, ["sku_id"], as_of)
    first_seen = known.groupBy("sku_id").agg(F.min(EFFECTIVE_FROM).alias("first_seen_at"))
    prices = last_changes(column_changes(known, ["sku_id"], "unit_price"), ["sku_id"], "price")
    changed_on = F.to_date("last_price_change_at")
    return (
        latest.select(*SKU_COLUMNS, "is_deleted", F.col(RECORD_VERSION).alias("versions"))
        .join(first_seen, "sku_id")
        .join(prices, "sku_id", "left")
        .select(
            *SKU_COLUMNS,
            "is_deleted",
            "first_seen_at",
            "versions",
            F.coalesce("price_changes", F.lit(0)).alias("price_changes"),
            changed_on.alias("last_price_change_date"),
            F.col("previous_price").alias("previous_unit_price"),
            percent_change("previous_price", "unit_price").alias("last_price_change_pct"),
            F.coalesce(F.datediff(F.lit(as_of), changed_on) < params.recent_change_days, F.lit(False)).alias(
                "price_changed_recently"
            ),
        )
    )
