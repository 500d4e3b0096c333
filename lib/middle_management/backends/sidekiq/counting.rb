require "socket"
require "middle_management/worker/dyno"

module MiddleManagement
  module Backends
    module Sidekiq
      # Counts from Redis through Sidekiq's own structures: queue lengths,
      # due and future jobs of the schedule and retry sets, and busy jobs (the
      # WorkSet, refreshed by every Sidekiq process's 5 s heartbeat, with this
      # process's own running jobs, which its heartbeat may not show yet).
      #
      # Read in the order jobs move: the sorted sets (Sidekiq's poller moves
      # due jobs from them to their queue), then the queues (a fetch takes
      # from them), then the busy jobs. Each read sees Redis as it is then:
      # read the other way round, a job the poller moved between two reads
      # went from the part not yet read to the one already read, seen by
      # neither. (Between a fetch and the next heartbeat a job is in no
      # structure at all: Sidekiq.busy_lag and the wake of its start cover it.)
      module Counting
        SORTED_SETS = %w[schedule retry].freeze # Sidekiq::ScheduledSet and Sidekiq::RetrySet's keys
        # A pool that takes some queues only must read the sorted sets' jobs
        # to see their queues: this many from each end, at most, per count.
        SCAN_LIMIT = 500
        # The oldest job's wait is read from this many of the pool's queues at
        # most (Sidekiq's queue latency: one LRANGE of the queue's end each).
        LATENCY_QUEUES = 20

        module_function

        # `running_here`: gives the queues of this process's running jobs
        # (called last, as the busy jobs are read).
        def count(pool, running_here:)
          now = Time.now.to_f
          runnable = 0
          next_run_at = nil
          truncated = false
          waits = []
          SORTED_SETS.each do |set|
            due, upcoming, stopped, earliest_due = scan_sorted_set(set, pool, now)
            runnable += due
            next_run_at = [next_run_at, upcoming].compact.min
            truncated ||= stopped
            waits << now - earliest_due if earliest_due # due, and not yet moved to its queue
          end
          queued = queue_lengths.select { |queue, size| size.positive? && pool.covers?(queue) }
          runnable += queued.values.sum
          waits.concat(latencies(queued.keys))
          note_truncated(pool) if truncated
          here = Worker::Dyno.current&.name
          busy = busy_elsewhere(pool) + running_here.call.select { |queue| pool.covers?(queue) }.map { here }
          Counts.new(runnable: runnable, running: busy.size, next_run_in: next_run_at && [next_run_at - now, 0.0].max,
                     busy_dynos: busy, capped: truncated, oldest_wait: waits.max&.clamp(0.0, nil))
        end

        # Seconds the oldest job of each queue has waited, by Sidekiq's own
        # reading of its `enqueued_at`.
        def latencies(queues)
          queues.first(LATENCY_QUEUES).map { |queue| ::Sidekiq::Queue.new(queue).latency.to_f }
        end

        def queue_lengths
          defined?(::Sidekiq::Stats::Queues) ? ::Sidekiq::Stats::Queues.new.lengths : ::Sidekiq::Stats.new.queues
        end

        # [jobs due now in the pool's queues, time the earliest later one is
        # due, whether the walk stopped at SCAN_LIMIT with more to see, time
        # the earliest due one came due]. Every queue: ZCOUNT, O(log n);
        # some queues only: a bounded walk.
        def scan_sorted_set(set, pool, now)
          every_queue = pool.queues.nil? && pool.excluded_queues.empty?
          ::Sidekiq.redis do |conn|
            if every_queue
              upcoming = by_score(conn, set, "(#{now}", "+inf", 1).first
              earliest = by_score(conn, set, "-inf", now.to_s, 1).first
              [conn.zcount(set, "-inf", now.to_s).to_i, upcoming&.last, false, earliest&.last]
            else
              due = by_score(conn, set, "-inf", now.to_s, SCAN_LIMIT)
              later = by_score(conn, set, "(#{now}", "+inf", SCAN_LIMIT)
              upcoming = later.find { |json, _at| covered?(pool, json) }
              stopped = due.size == SCAN_LIMIT || (upcoming.nil? && later.size == SCAN_LIMIT)
              ours = due.select { |json, _at| covered?(pool, json) }
              [ours.size, upcoming&.last, stopped, ours.first&.last]
            end
          end
        end

        # The count says "at least" (capped) and the log says why, once.
        def note_truncated(pool)
          MiddleManagement.agent&.note_once(:"sidekiq_scan_#{pool.name}",
                                            "pool #{pool.name} takes some queues only: its count read the first " \
                                            "#{SCAN_LIMIT} jobs of Sidekiq's schedule and retry sets, so it is a lower bound")
        end

        # ZRANGEBYSCORE … WITHSCORES LIMIT 0 n as [[member, score]]: redis-rb's
        # API in Sidekiq 6 (namespaced by redis-namespace), a plain command on 7.
        def by_score(conn, set, min, max, limit)
          pairs =
            if defined?(::Redis) && (conn.is_a?(::Redis) || (defined?(::Redis::Namespace) && conn.is_a?(::Redis::Namespace)))
              conn.zrangebyscore(set, min, max, limit: [0, limit], with_scores: true)
            else
              reply = conn.call("ZRANGEBYSCORE", set, min, max, "WITHSCORES", "LIMIT", 0, limit)
              reply.first.is_a?(Array) ? reply : reply.each_slice(2).to_a
            end
          pairs.map { |member, score| [member, score.to_f] }
        end

        def covered?(pool, json)
          pool.covers?(::Sidekiq.load_json(json)["queue"])
        rescue StandardError
          false # a job Sidekiq itself cannot read is not one a worker will run
        end

        # The dyno of each busy job in the pool's queues in other Sidekiq
        # processes, from their heartbeats; an identity starts with DYNO.
        def busy_elsewhere(pool)
          this_process = "#{ENV["DYNO"] || Socket.gethostname}:#{Process.pid}:" # as Sidekiq names this process
          work_set = defined?(::Sidekiq::WorkSet) ? ::Sidekiq::WorkSet : ::Sidekiq::Workers
          busy = []
          work_set.new.each do |process, _thread, work|
            queue = work.respond_to?(:queue) ? work.queue : work["queue"] # a Sidekiq::Work from 7, a Hash in 6
            next if process.to_s.start_with?(this_process) || !pool.covers?(queue)

            busy << Worker::Dyno.parse(process.to_s.split(":").first)&.name
          end
          busy
        end
      end
    end
  end
end
