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
      #
      # Tables are read in the order jobs move through them: scheduled
      # (due or not), blocked, ready, claimed. Each statement sees the
      # tables as they are when it runs: read the other way round, a job a
      # worker claimed (or the dispatcher made ready) between two of them
      # went from the table not yet read to the one already read, and was
      # seen by neither. In this order such a job is counted twice at worst.
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
          runnable, waiting_for = runnable(tables, ->(relation) { on_queues(relation, pool, paused) }, now, cap)
          running = running(tables, pool, now - alive_for)
          next_run_in = [*waiting_for, recurring_in(tables, pool, paused, now, time_zone)].compact.min&.to_f
          Counts.new(runnable: runnable, running: running.size, capped: !cap.nil? && runnable >= cap,
                     next_run_in: next_run_in, busy_dynos: dynos(running, heartbeats))
        end

        # [runnable jobs up to `cap`, seconds until the next scheduled job and
        # the next block's expiry], each table read whole (its later rows,
        # then its due ones) in the order jobs move: scheduled, blocked, ready.
        # `on`: a relation on the pool's unpaused queues.
        def runnable(tables, on, now, cap)
          cap &&= Integer(cap)
          scheduled = on.call(tables.scheduled).where("scheduled_at > ?", now).minimum(:scheduled_at)
          counted = up_to(on.call(tables.scheduled).where("scheduled_at <= ?", now).order(:scheduled_at), cap)
          unblocked = on.call(tables.blocked).where("expires_at >= ?", now).minimum(:expires_at)
          counted += up_to(on.call(tables.blocked).where("expires_at < ?", now).order(:expires_at), cap && cap - counted)
          counted += up_to(on.call(tables.ready).order(:queue_name, :priority, :job_id), cap && cap - counted)
          [counted, [scheduled && scheduled - now, unblocked && unblocked - now]]
        end

        # Up to `left` rows (nil: all), ordered as the index it walks, so that
        # the walk stops at the LIMIT whatever the planner believes (a LIMIT
        # alone may scan a backlog of other queues' rows).
        def up_to(relation, left)
          return relation.count if left.nil?

          left.positive? ? relation.limit(left).count : 0
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

        # Seconds until the next recurring task's occurrence, nil if none.
        def recurring_in(tables, pool, paused, now, time_zone)
          Recurring.next_in(schedules(tables, pool, paused), now: now, zone: time_zone) do |schedule|
            note([:solid_queue_schedule, schedule.to_s], "Solid Queue recurring schedule #{schedule.inspect} cannot " \
                 "be read here: a running worker enqueues its jobs, so set MIN_WORKERS to 1 or more")
          end
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
