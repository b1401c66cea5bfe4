-- Rows rejected or flagged per data-quality rule, by layer and table, over all batches.
SELECT layer, "table", rule, action, sum(rows_checked) AS rows_checked, sum(rows_failed) AS rows_failed,
       round(100.0 * sum(rows_failed) / nullif(sum(rows_checked), 0), 3) AS failed_pct
FROM ops.dq_metrics
GROUP BY layer, "table", rule, action
HAVING sum(rows_failed) > 0
ORDER BY layer, "table", rows_failed DESC;
