"""The FinOps cost endpoints' logic: parameters, rollup queries and response assembly.

Everything here reads the rollups (`cost_hourly` .. `cost_monthly`) and the small dimension
tables, never the raw `allocation` table, so a request costs the same however much raw data a
window holds. The decisions behind the numbers are written down in docs/api.md ("# FinOps API").
"""
