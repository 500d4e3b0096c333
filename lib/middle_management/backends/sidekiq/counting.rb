require "socket"
require "middle_management/dyno"

module MiddleManagement
  module Backends
    module Sidekiq
      # Counts from Redis through Sidekiq's own structures: queue lengths,
      # due and future jobs of the schedule and retry sets, and busy jobs (the
      # WorkSet, refreshed by every Sidekiq process's 5 s heartbeat, with this
      # process's own running jobs, which its heartbeat may not show yet).
      module Counting
        SORTED_SETS = %w[schedule retry].freeze # Sidekiq::ScheduledSet and Sidekiq::RetrySet's keys
        # A pool that takes some queues only must read the sorted sets' jobs
        # to see their queues: this many from each end, at most, per count.
        SCAN_LIMIT = 500

        module_function

        # `running_here`: the queues of this process's running jobs.
        def count(pool, running_here:)
          now = Time.now.to_f
          runnable = queue_lengths.sum { |queue, size| pool.covers?(queue) ? size : 0 }
          next_run_at = nil
          SORTED_SETS.each do |set|
            due, upcoming = scan_sorted_set(set, pool, now)
            runnable += due
            next_run_at = [next_run_at, upcoming].compact.min
          end
          here = Dyno.current&.name
          busy = busy_elsewhere(pool) + running_here.select { |queue| pool.covers?(queue) }.map { here }
          Counts.new(runnable: runnable, running: busy.size, next_run_in: next_run_at && [next_run_at - now, 0.0].max,
                     busy_dynos: busy)
        end

        def queue_lengths
          defined?(::Sidekiq::Stats::Queues) ? ::Sidekiq::Stats::Queues.new.lengths : ::Sidekiq::Stats.new.queues
        end

        # [jobs due now in the pool's queues, time the earliest later one is due]
        def scan_sorted_set(set, pool, now)
          every_queue = pool.queues.nil? && pool.excluded_queues.empty?
          ::Sidekiq.redis do |conn|
            if every_queue
              due = conn.zcount(set, "-inf", now.to_s).to_i
              upcoming = by_score(conn, set, "(#{now}", "+inf", 1).first
              [due, upcoming&.last]
            else
              due = by_score(conn, set, "-inf", now.to_s, SCAN_LIMIT).count { |json, _at| covered?(pool, json) }
              upcoming = by_score(conn, set, "(#{now}", "+inf", SCAN_LIMIT).find { |json, _at| covered?(pool, json) }
              [due, upcoming&.last]
            end
          end
        end

        # ZRANGEBYSCORE … WITHSCORES LIMIT 0 n as [[member, score]]: through
        # redis-rb's API in Sidekiq 6 (which a redis-namespace wrapper
        # namespaces), as a plain command on Sidekiq 7's redis-client, whose
        # replies come flat or paired.
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
        # processes, as their heartbeats published them (up to 5 s old). A
        # process's identity starts with its host name, which Sidekiq takes
        # from DYNO on Heroku (nil where it is no dyno name).
        def busy_elsewhere(pool)
          this_process = "#{ENV["DYNO"] || Socket.gethostname}:#{Process.pid}:" # as Sidekiq names this process
          work_set = defined?(::Sidekiq::WorkSet) ? ::Sidekiq::WorkSet : ::Sidekiq::Workers
          busy = []
          work_set.new.each do |process, _thread, work|
            queue = work.respond_to?(:queue) ? work.queue : work["queue"] # a Sidekiq::Work from 7, a Hash in 6
            next if process.to_s.start_with?(this_process) || !pool.covers?(queue)

            busy << Dyno.parse(process.to_s.split(":").first)&.name
          end
          busy
        end
      end
    end
  end
end
