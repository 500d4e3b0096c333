module MiddleManagement
  module Backends
    module GoodJob
      # One pool's counts from GoodJob's tables (PostgreSQL only, as GoodJob
      # is), by GoodJob's own rules as of 3.99 and 4.x:
      # - held: an unfinished job whose advisory lock (on "good_jobs-" and its
      #   active_job_id) a session holds, or whose `locked_by_id` names a live
      #   process (GoodJob 4's skip-locked claims). A process is live by
      #   GoodJob's measure: its own advisory lock held, or, registered
      #   without one (lock_type NULL), updated within 5 minutes. Held jobs
      #   are running. (The one lock type, advisory, is 1 up to GoodJob 4.4
      #   and 0 from 4.5: any lock type is taken as it.)
      # - runnable: what GoodJob would dequeue (unfinished, `scheduled_at`
      #   NULL or due) less the held. A job a killed worker left performed
      #   but unfinished is runnable, as GoodJob runs it again; never busy.
      # - next run: the earliest future `scheduled_at`; finished and
      #   discarded jobs (finished_at set) never count, nor, where GoodJob 4's
      #   pauses are on, paused ones (as runnable or scheduled).
      # Runnable jobs are counted up to the cap over GoodJob's own partial
      # index on scheduled_at; held jobs are read through its locked_by_id
      # index, so the cost does not grow with the queue.
      #
      # Held jobs are read first, and the runnable count leaves out those
      # very rows by id. Each statement sees the table as it is when it
      # runs, and a held job stays an unfinished one until it is done: a job
      # taken between the two reads is runnable to the second (counted
      # once), one done meanwhile is running to the first. Subtracting the
      # number held from the number due instead would, when a held job is
      # done between the reads, subtract it from jobs that never included
      # it, and hide a runnable one.
      module Counting
        PROCESS_EXPIRY = 300 # s: GoodJob::Process::EXPIRED_INTERVAL

        module_function

        # `conn`: a connection to GoodJob's database; `queues`: the pool's
        # condition on a queue_name column (a callable taking the column);
        # `heartbeats`: Store::Heartbeats, nil when not installed; `paused`:
        # GoodJob 4's pauses are on (enable_pauses); `now`: a Time.
        def count(conn, queues, cap, heartbeats:, paused: false, now: Time.now)
          takeable = paused ? method(:unpaused) : ->(_table) { "TRUE" }
          held = held(conn, queues, now)
          not_held = held.empty? ? "TRUE" : "id NOT IN (#{held.map { |row| conn.quote(row["id"]) }.join(", ")})"
          due_now = ["scheduled_at IS NULL", "scheduled_at <= #{conn.quote(now)}"]
          runnable = up_to(conn, due_now.map { |due| "#{due} AND #{takeable.call("")} AND #{not_held}" }, queues, cap)
          Counts.new(runnable: runnable, running: held.size, capped: !cap.nil? && runnable >= cap,
                     next_run_in: next_run_in(conn, queues, takeable, now), busy_dynos: dynos(held, heartbeats))
        end

        # Not paused, as GoodJob 4's exclude_paused has it (its "pauses"
        # setting: queues, job classes, labels). `table`: "" or "j.".
        def unpaused(table)
          paused = lambda do |list|
            "(SELECT jsonb_array_elements_text(value -> '#{list}') FROM good_job_settings WHERE key = 'pauses')"
          end
          "#{table}queue_name NOT IN #{paused.call("queues")} " \
            "AND #{table}job_class NOT IN #{paused.call("job_classes")} " \
            "AND NOT COALESCE(#{table}labels && ARRAY#{paused.call("labels")}, false)"
        end

        # Unfinished jobs meeting each of `conditions` in turn, up to `limit`
        # in all (nil: every one). Apart, each reads GoodJob's scheduled_at
        # index; an OR of the two would read both in full before the LIMIT.
        def up_to(conn, conditions, queues, limit)
          conditions.reduce(0) do |counted, condition|
            left = limit && limit - counted
            break counted if left && left <= 0

            inner = "SELECT 1 FROM good_jobs WHERE finished_at IS NULL AND #{condition} AND #{queues.call("queue_name")}"
            inner += " ORDER BY scheduled_at LIMIT #{Integer(left)}" if left
            counted + conn.select_value("SELECT COUNT(*) FROM (#{inner}) AS due", "MiddleManagement::GoodJob").to_i
          end
        end

        # Rows' ids (which the runnable count leaves out) with their
        # process's host and pid (for the busy dynos).
        def held(conn, queues, now)
          conn.select_all(<<~SQL, "MiddleManagement::GoodJob").to_a
            SELECT j.id, p.state ->> 'hostname' AS host, p.state ->> 'pid' AS pid
            FROM good_jobs j LEFT JOIN good_job_processes p ON p.id = j.locked_by_id
            WHERE j.finished_at IS NULL AND j.locked_by_id IS NOT NULL AND #{queues.call("j.queue_name")}
              AND (#{advisory_locked("good_jobs", "j.active_job_id")}
                   OR (p.lock_type IS NOT NULL AND #{advisory_locked("good_job_processes", "p.id")})
                   OR (p.lock_type IS NULL AND p.updated_at > #{conn.quote(now - PROCESS_EXPIRY)}))
          SQL
        end

        # GoodJob's key: the first 64 bits of md5("<table>-<value>"), as the
        # classid and objid halves PostgreSQL shows an advisory lock by.
        def advisory_locked(table, column)
          key = "('x' || substr(md5('#{table}-' || #{column}::text), 1, 16))"
          "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted " \
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) " \
            "AND l.classid = #{key}::bit(32)::int AND l.objid = (#{key}::bit(64) << 32)::bit(32)::int)"
        end

        def next_run_in(conn, queues, takeable, now)
          now = conn.quote(now)
          seconds = conn.select_value("SELECT EXTRACT(EPOCH FROM MIN(scheduled_at) - #{now}) FROM good_jobs " \
                                      "WHERE finished_at IS NULL AND scheduled_at > #{now} AND #{queues.call("queue_name")} " \
                                      "AND #{takeable.call("")}", "MiddleManagement::GoodJob")
          seconds&.to_f
        end

        def dynos(held, heartbeats)
          processes = held.filter_map { |row| [row["host"], row["pid"].to_i] if row["host"] }.uniq
          found = heartbeats && processes.any? ? heartbeats.dynos(processes) : {}
          held.map { |row| found[[row["host"], row["pid"].to_i]] }
        end
      end
    end
  end
end
