# GoodJob's and Solid Queue's tables for bench/count_cost_active_job.rb at
# one size, filled in the database itself (generate_series on PostgreSQL, a
# recursive CTE on SQLite): finished jobs first, then a tenth as many
# scheduled ahead, the runnable ones last, and 3 running on a live process.
module ActiveJobFill
  module_function

  # GoodJob 3.99's rows: immediate jobs have no scheduled_at, half the
  # runnable ones here were scheduled and are due; the running ones are
  # claimed by a live process registered without an advisory lock.
  def good_job(model, size)
    conn = model.connection
    conn.execute("TRUNCATE good_jobs, good_job_processes")
    process = "'6f1f5c7e-0000-4000-8000-000000000001'"
    conn.execute("INSERT INTO good_job_processes (id, state, lock_type, created_at, updated_at) " \
                 "VALUES (#{process}, '{\"hostname\":\"bench\",\"pid\":1}', NULL, now(), now())")
    [[size, "now() - interval '1 day'", "now() - interval '1 day'", "NULL"], [size / 10, "now() + interval '1 day'", "NULL", "NULL"],
     [size / 2, "NULL", "NULL", "NULL"], [size - size / 2, "now() - interval '1 minute'", "NULL", "NULL"],
     [3, "now() - interval '1 minute'", "NULL", process]].each do |count, scheduled_at, finished_at, locked_by|
      conn.execute(<<~SQL)
        INSERT INTO good_jobs (id, active_job_id, queue_name, priority, serialized_params, scheduled_at, finished_at,
                               performed_at, locked_by_id, is_discrete, executions_count, job_class, created_at, updated_at)
        SELECT gen_random_uuid(), gen_random_uuid(), 'default', 0, '{}', #{scheduled_at}, #{finished_at},
               #{locked_by == "NULL" ? "NULL" : "now()"}, #{locked_by}, true, 0, 'BenchJob', now(), now()
        FROM generate_series(1, #{count})
      SQL
    end
    conn.execute("VACUUM ANALYZE good_jobs")
  end

  # Solid Queue 1.x's rows: a job row for each, with its ready, scheduled
  # or claimed execution (none for a finished one).
  def solid_queue(model, size)
    conn = model.connection
    postgres = conn.adapter_name.match?(/postg/i)
    %w[claimed_executions scheduled_executions ready_executions processes jobs].each do |table|
      conn.execute("DELETE FROM solid_queue_#{table}")
    end
    now = postgres ? "(now() at time zone 'utc')" : "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    conn.execute("INSERT INTO solid_queue_processes (kind, last_heartbeat_at, pid, hostname, created_at, name) " \
                 "VALUES ('Worker', #{now}, 1, 'bench', #{now}, 'worker-bench')")
    { "Finished" => size, "Later" => size / 10, "Runnable" => size, "Running" => 3 }.each do |kind, count|
      finished = kind == "Finished" ? now : "NULL"
      conn.execute("INSERT INTO solid_queue_jobs (queue_name, class_name, priority, finished_at, created_at, updated_at) " \
                   "#{numbers(postgres, count)} SELECT 'default', '#{kind}', 0, #{finished}, #{now}, #{now} FROM n")
    end
    later = postgres ? "#{now} + interval '1 day'" : "strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 day')"
    insert_executions(conn, "ready", "Runnable", "queue_name, priority", "queue_name, priority")
    insert_executions(conn, "scheduled", "Later", "queue_name, priority, scheduled_at", "queue_name, priority, #{later}")
    insert_executions(conn, "claimed", "Running", "process_id", "(SELECT MIN(id) FROM solid_queue_processes)")
    conn.execute(postgres ? "VACUUM ANALYZE" : "ANALYZE")
  end

  def insert_executions(conn, type, kind, columns, values)
    now = conn.adapter_name.match?(/postg/i) ? "now()" : "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    conn.execute("INSERT INTO solid_queue_#{type}_executions (job_id, #{columns}, created_at) " \
                 "SELECT id, #{values}, #{now} FROM solid_queue_jobs WHERE class_name = '#{kind}'")
  end

  # `WITH n(i)`: the numbers 1 to `count`.
  def numbers(postgres, count)
    if postgres
      "WITH n(i) AS (SELECT generate_series(1, #{count}))"
    else
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < #{count})"
    end
  end
end
