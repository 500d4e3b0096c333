require "socket"

module MiddleManagement
  module Backends
    # Sidekiq (6.x and 7.x). Installing needs no change to job classes:
    #
    # - Enqueue: Sidekiq::Client#raw_push, the one place every push goes
    #   through (perform_async, perform_in/perform_at, push_bulk, ActiveJob)
    #   *after* the client middleware has run and *once Redis took the jobs*:
    #   a push that a middleware stopped, or that Redis refused, hires nobody.
    #   A job for later reports `due_in` instead of `runnable`. (A client
    #   middleware sees each job too, but runs before the push, so it would
    #   count jobs Redis never stored.)
    # - Server middleware (added with configure_server): a job starting moves
    #   from runnable to running; one ending leaves running (a failure that
    #   Sidekiq will retry reports when the retry is due; a job interrupted by
    #   shutdown goes back to its queue). Sidekiq::BasicFetch notes each job
    #   it takes from Redis, so a count made before the job starts still sees
    #   it (as runnable).
    # - Scheduled and retry jobs that Sidekiq's poller moves onto their
    #   queues already count as runnable from the moment they came due, so
    #   they are not counted again; each round of the poller pokes (recount
    #   if counts are stale).
    #
    # Counts come from Redis through Sidekiq's own structures: queue lengths,
    # due and future jobs of the schedule and retry sets, and busy jobs (the
    # WorkSet, refreshed by every Sidekiq process's 5 s heartbeat, merged with
    # the jobs this process has taken and is running right now, which the
    # heartbeat may not show yet).
    module Sidekiq
      SORTED_SETS = %w[schedule retry].freeze # Sidekiq::ScheduledSet and Sidekiq::RetrySet's keys
      # A pool that takes some queues only must read the sorted sets' jobs
      # to see their queues: this many from each end, at most, per count.
      SCAN_LIMIT = 500
      DEFAULT_MAX_RETRIES = 25 # Sidekiq::JobRetry::DEFAULT_MAX_RETRY_ATTEMPTS

      FETCHED_FOR = 60 # seconds a job taken from Redis may take to start before it is forgotten

      @install_lock = Mutex.new
      # This process's jobs: taken from Redis (jid => [queue, when]) and
      # running (jid => queue). No lock: each change and each read is one
      # Hash operation, atomic under the GVL, so a count never waits for a
      # hook (see #started).
      @fetched = {}
      @running = {}
      @moves = 0 # how often a job of this process moved: a count that saw one move is taken again
      COUNT_ATTEMPTS = 3

      class << self
        def available?
          defined?(::Sidekiq::Client) ? true : false
        end

        # Idempotent: each hook goes in once, whatever the number of boots.
        def install(agent)
          agent.add_backend(self)
          @install_lock.synchronize do
            require "sidekiq/api"
            ::Sidekiq::Client.prepend(ClientHook) unless ::Sidekiq::Client <= ClientHook
            ::Sidekiq::BasicFetch.prepend(FetchHook) if defined?(::Sidekiq::BasicFetch) && !(::Sidekiq::BasicFetch <= FetchHook)
            if defined?(::Sidekiq::Scheduled::Enq) && !(::Sidekiq::Scheduled::Enq <= SchedulerHook)
              ::Sidekiq::Scheduled::Enq.prepend(SchedulerHook)
            end
            ::Sidekiq.configure_server do |config|
              config.server_middleware { |chain| chain.add(ServerMiddleware) unless chain.exists?(ServerMiddleware) }
            end
          end
        end

        # Jobs one Sidekiq process runs at once (its -c), known in a Sidekiq
        # process only (elsewhere Sidekiq shows its default); nil otherwise.
        # A suggestion for a pool's dyno_concurrency when
        # MIDDLE_MANAGEMENT_DYNO_CONCURRENCY is unset: Configuration does not
        # read it, and a web process, which decides too, cannot know it.
        def concurrency
          return nil unless ::Sidekiq.server?

          value = option(:concurrency)
          value.is_a?(Integer) && value.positive? ? value : nil
        rescue StandardError
          nil
        end

        # Redis and this process's jobs are read at different moments: a job
        # this process takes or starts meanwhile could be seen twice, or not
        # at all. A count during which one of its jobs moved, or a queue's
        # length changed, is taken again (a few times at most).
        def count(pool)
          counts = nil
          COUNT_ATTEMPTS.times do
            moves = @moves
            counts, lengths = count_once(pool)
            break if moves == @moves && queue_lengths == lengths
          end
          counts
        end

        def count_once(pool)
          now = Time.now.to_f
          lengths = queue_lengths
          runnable = lengths.sum { |queue, size| pool.covers?(queue) ? size : 0 }
          next_run_at = nil
          SORTED_SETS.each do |set|
            due, upcoming = scan_sorted_set(set, pool, now)
            runnable += due
            next_run_at = [next_run_at, upcoming].compact.min
          end
          others = busy_elsewhere(pool)
          taken, mine = here(pool) # last: see #started
          counts = Counts.new(runnable: runnable + taken, running: others + mine,
                              next_run_in: next_run_at && [next_run_at - now, 0.0].max)
          [counts, lengths]
        end
        private :count_once

        # --- hooks (never raise into Sidekiq) ------------------------------

        # Jobs Redis accepted from one push (payloads as built before the push).
        def pushed(jobs)
          agent = MiddleManagement.agent or return
          return if Thread.current[:middle_management_sidekiq_scheduler] # came due: counted already; the poller pokes

          now = Time.now.to_f
          jobs.group_by { |job| job["queue"] }.each do |queue, queued|
            later, ready = queued.partition { |job| job["at"] && job["at"].to_f > now }
            agent.record(queue, runnable: ready.size) if ready.any?
            earliest = later.map { |job| job["at"].to_f }.min
            agent.record(queue, due_in: earliest - now) if earliest
          end
        rescue StandardError => e
          report(agent, "could not record a Sidekiq push", e)
        end

        def idle
          MiddleManagement.agent&.poke
        rescue StandardError => e
          report(MiddleManagement.agent, "could not poke the dispatcher", e)
        end

        # A job a processor took from Redis (BasicFetch), not started yet.
        def fetched(work)
          jid = ::Sidekiq.load_json(work.job)["jid"]
          @fetched[jid] = [work.queue_name, monotonic] if jid
          @moves += 1
        rescue StandardError
          nil # Sidekiq sends a job it cannot read to the dead set
        end

        # The agent takes a count as including every change recorded before
        # the count returned (it reads its marker then), so this process's
        # own jobs are read last, after every Redis call, and without a lock
        # to wait on; and a job is noted before its start is recorded, and
        # forgotten before its end is. Anything that could wait (the agent
        # starting its dispatcher on the first job) comes first.
        def started(job, queue)
          agent = MiddleManagement.agent
          agent&.dispatcher
          @running[job["jid"]] = queue
          @fetched.delete(job["jid"])
          @moves += 1
          agent&.record(queue, runnable: -1, running: 1)
        rescue StandardError => e
          report(agent, "could not record a Sidekiq job starting", e)
        end

        # `error`: what the job raised, if anything.
        def finished(job, queue, error)
          @running.delete(job["jid"])
          @moves += 1
          agent = MiddleManagement.agent or return
          if error && shutdown?(error)
            # Sidekiq pushes an interrupted job back onto its queue.
            agent.record(queue, runnable: 1, running: -1)
          else
            agent.record(queue, running: -1)
            retry_in = error && retry_in(job)
            agent.record(job["retry_queue"] || queue, due_in: retry_in) if retry_in
          end
        rescue StandardError => e
          report(agent, "could not record a Sidekiq job ending", e)
        end

        private

        def queue_lengths
          if defined?(::Sidekiq::Stats::Queues)
            ::Sidekiq::Stats::Queues.new.lengths
          else
            ::Sidekiq::Stats.new.queues
          end
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

        # [jobs taken from Redis but not started, jobs running] of the
        # pool's queues in this process, now.
        def here(pool)
          fetched = @fetched.to_a # before running: a job moves from one to the other (#started)
          running = @running.dup
          stale = monotonic - FETCHED_FOR
          fetched.each { |jid, (_queue, at)| @fetched.delete(jid) if at < stale } # given back at shutdown
          [fetched.count { |jid, (queue, at)| at >= stale && !running.key?(jid) && pool.covers?(queue) },
           running.count { |_jid, queue| pool.covers?(queue) }]
        end

        # Busy jobs in the pool's queues in other Sidekiq processes, as their
        # heartbeats published them (up to 5 s old).
        def busy_elsewhere(pool)
          this_process = "#{hostname}:#{Process.pid}:"
          work_set = defined?(::Sidekiq::WorkSet) ? ::Sidekiq::WorkSet : ::Sidekiq::Workers
          work_set.new.count do |process, _thread, work|
            # A Hash in Sidekiq 6, a Sidekiq::Work from 7.
            queue = work.respond_to?(:queue) ? work.queue : work["queue"]
            !process.to_s.start_with?(this_process) && pool.covers?(queue)
          end
        end

        def monotonic
          Process.clock_gettime(Process::CLOCK_MONOTONIC)
        end

        # How Sidekiq names this process in its WorkSet ("host:pid:nonce").
        def hostname
          ENV["DYNO"] || Socket.gethostname
        end

        # Seconds until Sidekiq retries a failed job, at the earliest: its
        # default backoff without the random part. Nil when it will not.
        def retry_in(job)
          retry_option = job["retry"]
          return nil unless retry_option

          max = retry_option.is_a?(Integer) ? retry_option : max_retries
          count = job["retry_count"] ? job["retry_count"] + 1 : 0
          count < max ? (count**4) + 15 : nil
        end

        def max_retries
          option(:max_retries) || DEFAULT_MAX_RETRIES
        end

        # A Sidekiq setting: Sidekiq.default_configuration in 7, Sidekiq[]
        # from 6.5, Sidekiq.options before.
        def option(name)
          if ::Sidekiq.respond_to?(:default_configuration) then ::Sidekiq.default_configuration[name]
          elsif ::Sidekiq.respond_to?(:[]) then ::Sidekiq[name]
          else ::Sidekiq.options[name]
          end
        end

        def shutdown?(error)
          defined?(::Sidekiq::Shutdown) && error.is_a?(::Sidekiq::Shutdown)
        end

        def report(agent, what, error)
          agent&.log_failure(what, error)
        end
      end

      # Prepended to Sidekiq::Client.
      module ClientHook
        private

        def raw_push(payloads)
          # Sidekiq deletes "at" from the payloads as it pushes them.
          jobs = payloads.map { |job| { "queue" => job["queue"], "at" => job["at"] } }
          result = super
          Sidekiq.pushed(jobs) unless defined?(::Sidekiq::Testing) && ::Sidekiq::Testing.inline?
          result
        end
      end

      # Prepended to Sidekiq::BasicFetch, Sidekiq's default way to take jobs.
      module FetchHook
        def retrieve_work(*args, **options)
          work = super
          Sidekiq.fetched(work) if work
          work
        end
      end

      # Prepended to Sidekiq::Scheduled::Enq, the poller that moves due
      # scheduled and retry jobs onto their queues every few seconds in each
      # Sidekiq process: a good moment to recount if counts are stale.
      module SchedulerHook
        def enqueue_jobs(*args, **options)
          Thread.current[:middle_management_sidekiq_scheduler] = true
          super
        ensure
          Thread.current[:middle_management_sidekiq_scheduler] = nil
          Sidekiq.idle
        end
      end

      # Sidekiq server middleware.
      class ServerMiddleware
        def call(_worker, job, queue)
          Sidekiq.started(job, queue)
          yield
        rescue Exception => e # rubocop:disable Lint/RescueException -- Sidekiq::Shutdown is not a StandardError
          error = e
          raise
        ensure
          Sidekiq.finished(job, queue, error)
        end
      end
    end
  end
end
