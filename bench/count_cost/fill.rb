# The delayed_jobs table of bench/count_cost.rb at one size, filled in the
# database itself (generate_series on PostgreSQL, a recursive CTE on SQLite)
# since a million rows through Ruby would take minutes. Failed rows first
# and the runnable ones last, as a day's backlog lies on disk.
module CountCostFill
  module_function

  def fill(conn, size)
    postgres = conn.adapter_name.match?(/postg/i)
    conn.execute(postgres ? "TRUNCATE delayed_jobs" : "DELETE FROM delayed_jobs")
    conn.execute("DELETE FROM #{MiddleManagement::Store::SQL::TABLE}")
    [[size, -86_400, true], [size / 10, 86_400, false], [size, -60, false]].each do |count, offset, failed|
      conn.execute(postgres ? postgres_insert(count, offset, failed) : sqlite_insert(count, offset, failed))
    end
    conn.execute(postgres ? "VACUUM ANALYZE delayed_jobs" : "ANALYZE")
  end

  def postgres_insert(count, offset, failed)
    at = "(now() at time zone 'utc') + make_interval(secs => #{offset})"
    <<~SQL
      INSERT INTO delayed_jobs (priority, attempts, handler, run_at, failed_at, created_at, updated_at)
      SELECT 0, 0, 'x', #{at}, #{failed ? at : "NULL"}, #{at}, #{at} FROM generate_series(1, #{count})
    SQL
  end

  def sqlite_insert(count, offset, failed)
    at = "strftime('%Y-%m-%d %H:%M:%f', 'now', '#{offset} seconds')"
    <<~SQL
      INSERT INTO delayed_jobs (priority, attempts, handler, run_at, failed_at, created_at, updated_at)
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < #{count})
      SELECT 0, 0, 'x', #{at}, #{failed ? at : "NULL"}, #{at}, #{at} FROM n
    SQL
  end
end
