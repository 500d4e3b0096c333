module MiddleManagement
  module Backends
    module SolidQueue
      # One pool's counts from Solid Queue's tables, by its own rules (1.x):
      # - runnable: ready executions, scheduled ones already due, and blocked
      #   ones whose concurrency block has expired. Solid Queue's dispatcher,
      #   which makes the last two ready, runs on the worker dynos: at zero
      #   workers nothing would, so they are seen as they are. Up to `cap`,
      #   each part a LIMIT-ed subquery on an index of Solid Queue's own.
      # - running: claimed executions of a process alive by Solid Queue's
      #   measure (a heartbeat within process_alive_threshold). A dead
      #   process's claims are neither: Solid Queue fails them when it prunes
      #   the process; nothing here writes its rows.
      # - next run: the earliest future scheduled execution, blocked expiry or
      #   recurring task occurrence (a running scheduler enqueues those).
      # A paused queue's rows count only as running: nothing claims them.
      # Times are this process's clock, as Solid Queue judges its own
      # (Time.current), bound as ActiveRecord writes them on any database.
      module Counting
        ALIVE_FOR = 300.0 # s: SolidQueue.process_alive_threshold's default
        # Solid Queue's queue for a job naming none. A recurring task with no
        # queue runs on its job class's, which is not looked up: loading an
        # app class from the gem's thread could autoload outside Rails' executor.
        DEFAULT_QUEUE = "default".freeze
        TABLES = { ready: "solid_queue_ready_executions", scheduled: "solid_queue_scheduled_executions",
                   blocked: "solid_queue_blocked_executions", claimed: "solid_queue_claimed_executions",
                   jobs: "solid_queue_jobs", processes: "solid_queue_processes", pauses: "solid_queue_pauses",
                   recurring: "solid_queue_recurring_tasks" }.freeze
        Tables = Struct.new(*TABLES.keys, keyword_init: true) # a model per table (SolidQueue.tables)

        module_function

        # `heartbeats`: Store::Heartbeats, nil when not installed; `alive_for`
        # and `time_zone`: Solid Queue's settings (1.5 reads a schedule naming
        # no zone in its time_zone, the app's); `now`: a Time.
        def count(tables, pool, cap, heartbeats:, now: Time.now, alive_for: ALIVE_FOR, time_zone: nil)
          paused = tables.pauses.pluck(:queue_name)
          running = running(tables, pool, now - alive_for)
          runnable = runnable(tables, pool, paused, now, cap)
          Counts.new(runnable: runnable, running: running.size, capped: !cap.nil? && runnable >= cap,
                     next_run_in: next_run_in(tables, pool, paused, now, time_zone),
                     busy_dynos: dynos(running, heartbeats))
        end

        # Each part only as far as the cap has room left, ordered as the index
        # it walks, so that the walk stops at the LIMIT whatever the planner
        # believes (a LIMIT alone may scan a backlog of other queues' rows).
        def runnable(tables, pool, paused, now, cap)
          parts = [tables.ready.order(:queue_name, :priority, :job_id),
                   tables.scheduled.where("scheduled_at <= ?", now).order(:scheduled_at),
                   tables.blocked.where("expires_at < ?", now).order(:expires_at)]
          parts.reduce(0) do |counted, part|
            left = cap && Integer(cap) - counted
            break counted if left && left <= 0

            part = on_queues(part, pool, paused)
            counted + (left ? part.limit(left).count : part.count)
          end
        end

        # [hostname, pid] of each live claim's process. Claims are few
        # (workers × threads) and carry no queue: their job does.
        def running(tables, pool, alive_since)
          processes, claimed, jobs = TABLES.values_at(:processes, :claimed, :jobs)
          live = tables.claimed.joins("INNER JOIN #{processes} ON #{processes}.id = #{claimed}.process_id",
                                      "INNER JOIN #{jobs} ON #{jobs}.id = #{claimed}.job_id")
          on_queues(live, pool, table: jobs).where("#{processes}.last_heartbeat_at > ?", alive_since)
                                            .pluck("#{processes}.hostname", "#{processes}.pid")
        end

        def next_run_in(tables, pool, paused, now, time_zone)
          scheduled = on_queues(tables.scheduled, pool, paused).where("scheduled_at > ?", now).minimum(:scheduled_at)
          unblocked = on_queues(tables.blocked, pool, paused).where("expires_at >= ?", now).minimum(:expires_at)
          recurring = Recurring.next_in(schedules(tables, pool, paused), now: now, zone: time_zone) do |schedule|
            note([:solid_queue_schedule, schedule.to_s], "Solid Queue recurring schedule #{schedule.inspect} cannot " \
                 "be read here: a running worker enqueues its jobs, so set MIN_WORKERS to 1 or more")
          end
          [scheduled && scheduled - now, unblocked && unblocked - now, recurring].compact.min&.to_f
        end

        # The recurring tasks' schedules on the pool's unpaused queues.
        def schedules(tables, pool, paused)
          unless tables.recurring.table_exists? # in ActiveRecord's schema cache after the first look
            note(:solid_queue_no_recurring, "Solid Queue's recurring tasks cannot be read (no #{TABLES[:recurring]} " \
                 "table): with recurring tasks, set MIN_WORKERS to 1 or more, as a running worker enqueues them")
            return []
          end
          tables.recurring.pluck(:schedule, :queue_name).filter_map do |schedule, queue|
            queue ||= DEFAULT_QUEUE
            schedule if pool.covers?(queue) && !paused.include?(queue)
          end
        end

        # `relation` on the queues the pool's workers take jobs from, less `paused`.
        def on_queues(relation, pool, paused = [], table: relation.table_name)
          if pool.queues
            wanted = pool.queues - paused
            wanted.empty? ? relation.none : relation.where(table => { queue_name: wanted })
          elsif (excluded = pool.excluded_queues + paused).any?
            relation.where.not(table => { queue_name: excluded })
          else
            relation
          end
        end

        # A dyno (or nil) per live claim, from the host and pid its process
        # beat under (Store::Heartbeats.process_name).
        def dynos(running, heartbeats)
          processes = running.map { |host, pid| [host, pid.to_i] }
          known = processes.select(&:first).uniq
          found = heartbeats && known.any? ? heartbeats.dynos(known) : {}
          processes.map { |process| found[process] }
        end

        def note(key, message) = MiddleManagement.agent&.note_once(key, message)
      end
    end
  end
end
