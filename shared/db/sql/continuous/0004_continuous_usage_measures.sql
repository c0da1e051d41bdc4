-- Usage measures in `continuous` mode (replaces 0004 there): nothing to do. The continuous
-- aggregates created by 0002 and 0003 compute them from the start; a continuous aggregate cannot
-- gain a column in place, and there is no continuous-mode database older than them.
SELECT 1;
